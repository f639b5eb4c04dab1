import nodemailer from 'nodemailer';
import type { ServerConfig } from '../common/config.js';

export const CHANNEL_TYPES = ['webhook', 'slack', 'teams', 'telegram', 'email'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** Where a project's task-end notifications go. `secret` (a Telegram bot token) is encrypted at rest. */
export interface NotificationChannel {
  id: number; project_id: number; name: string; type: ChannelType; active: boolean;
  /** webhook, slack (incoming webhook), teams (incoming webhook) */
  url: string;
  /** telegram */
  chat_id: string;
  /** email: comma-separated recipients */
  to: string;
  secret: string;
  on_success: boolean; on_failure: boolean;
  /** Only these templates' tasks (empty: all). */
  template_ids: number[];
}

/** What a notification says about a finished task. */
export interface TaskEnd {
  task_id: number; project_id: number; template_id: number; template_name: string; status: string; version: string;
  error: string; start: string | null; end: string | null; url: string;
}

const SEND_TIMEOUT_MS = 10_000;

function headline(end: TaskEnd): string {
  return `Task #${end.task_id} (${end.template_name}${end.version ? ` ${end.version}` : ''}) ${end.status === 'success' ? 'succeeded' : 'failed'}`;
}

async function post(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': 'Forge' },
    body: JSON.stringify(body), signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`${new URL(url).host} answered ${response.status} ${(await response.text().catch(() => '')).slice(0, 200)}`);
}

/** Sends one notification; throws (and so is retried) when the endpoint does not take it. */
export async function send(config: ServerConfig, channel: NotificationChannel, secret: string, end: TaskEnd): Promise<void> {
  const text = `${headline(end)}${end.error ? `: ${end.error}` : ''}\n${end.url}`;
  const good = end.status === 'success';
  switch (channel.type) {
    case 'webhook':
      return post(channel.url, { event: 'task_finished', task: end });
    case 'slack':
      return post(channel.url, {
        text: headline(end),
        attachments: [{ color: good ? 'good' : 'danger', title: headline(end), title_link: end.url, text: end.error || undefined }],
      });
    case 'teams':
      return post(channel.url, {
        '@type': 'MessageCard', '@context': 'https://schema.org/extensions', themeColor: good ? '2EB886' : 'E01E5A',
        summary: headline(end), title: headline(end), text: end.error || end.status,
        potentialAction: [{ '@type': 'OpenUri', name: 'Open task', targets: [{ os: 'default', uri: end.url }] }],
      });
    case 'telegram':
      return post(`${config.telegram_api_url.replace(/\/$/, '')}/bot${secret}/sendMessage`, { chat_id: channel.chat_id, text, disable_web_page_preview: true });
    case 'email': {
      if (!config.email_host) throw new Error('email_host is not set: configure FORGE_EMAIL_HOST (and port, sender) to send e-mail');
      const transport = nodemailer.createTransport({
        host: config.email_host, port: config.email_port, secure: config.email_secure,
        auth: config.email_username ? { user: config.email_username, pass: config.email_password } : undefined,
        connectionTimeout: SEND_TIMEOUT_MS, greetingTimeout: SEND_TIMEOUT_MS, socketTimeout: SEND_TIMEOUT_MS,
      });
      try {
        await transport.sendMail({ from: config.email_sender, to: channel.to, subject: headline(end), text });
      } finally {
        transport.close();
      }
    }
  }
}
