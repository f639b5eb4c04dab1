/** A project's notification channels (webhook, Slack, Teams, Telegram, e-mail) and a task's delivery results. */
import { api, get } from '../api';
import { ResourceSection, type ResourceSpec } from '../resource';
import type { Task } from '../types';
import { formatTime, notify, useAsync } from '../ui';

export interface NotificationChannel {
  id: number; project_id: number; name: string; type: string; active: boolean; url: string; chat_id: string; to: string;
  secret_set: boolean; on_success: boolean; on_failure: boolean; template_ids: number[];
}

const TYPES: Array<[string, string]> = [['webhook', 'Webhook (JSON)'], ['slack', 'Slack'], ['teams', 'Microsoft Teams'], ['telegram', 'Telegram'], ['email', 'E-mail']];
const usesUrl = (type: unknown) => type === 'webhook' || type === 'slack' || type === 'teams';

function channelSpec(pid: number): ResourceSpec<NotificationChannel> {
  return {
    api: `/api/project/${pid}/notifications`, title: 'Notifications', singular: 'Notification',
    empty: 'Tell a chat, an e-mail address or any webhook when a task fails (or succeeds). Templates can suppress success alerts.',
    fields: [
      { key: 'name', label: 'Name', kind: 'text', validate: (x) => (String(x ?? '').trim() ? undefined : 'give it a name') },
      { key: 'type', label: 'Send to', kind: 'select', options: TYPES },
      { key: 'url', label: 'Webhook URL', kind: 'text', mono: true, visible: (v) => usesUrl(v.type), validate: (x, v) => (usesUrl(v.type) && !/^https?:\/\/\S+$/.test(String(x ?? '')) ? 'an http(s) URL' : undefined) },
      { key: 'chat_id', label: 'Chat id', kind: 'text', visible: (v) => v.type === 'telegram' },
      { key: 'secret', label: 'Bot token', kind: 'password', visible: (v) => v.type === 'telegram', hint: 'Stored encrypted and never shown; leave empty to keep it.' },
      { key: 'to', label: 'Recipients', kind: 'text', placeholder: 'ops@example.com, dev@example.com', visible: (v) => v.type === 'email' },
      { key: 'on_failure', label: 'When a task fails', kind: 'checkbox' },
      { key: 'on_success', label: 'When a task succeeds', kind: 'checkbox' },
      { key: 'active', label: 'Active', kind: 'checkbox' },
    ],
    initial: (c) => ({
      name: c?.name ?? '', type: c?.type ?? 'webhook', url: c?.url ?? '', chat_id: c?.chat_id ?? '', secret: '', to: c?.to ?? '',
      on_failure: c?.on_failure ?? true, on_success: c?.on_success ?? false, active: c?.active ?? true,
    }),
    toBody: (v) => ({
      name: String(v.name).trim(), type: v.type, url: usesUrl(v.type) ? String(v.url ?? '').trim() : '', chat_id: String(v.chat_id ?? '').trim(),
      to: String(v.to ?? '').trim(), ...(v.secret ? { secret: String(v.secret) } : {}),
      on_failure: Boolean(v.on_failure), on_success: Boolean(v.on_success), active: Boolean(v.active),
    }),
    columns: [
      { label: 'Name', render: (c) => c.name },
      { label: 'Type', render: (c) => TYPES.find(([t]) => t === c.type)?.[1] ?? c.type },
      { label: 'To', render: (c) => <code class="small">{c.url || c.to || c.chat_id}</code> },
      { label: 'On', render: (c) => [c.on_failure && 'failure', c.on_success && 'success'].filter(Boolean).join(', ') || 'never' },
      { label: 'Active', render: (c) => (c.active ? 'yes' : 'no') },
    ],
  };
}

export function NotificationsSection({ pid }: { pid: number }) {
  const test = async () => {
    try {
      await api('POST', `/api/project/${pid}/notifications/test`);
      notify('Test notification sent to every active channel');
    } catch (err) {
      notify((err as Error).message, 'error');
    }
  };
  return (
    <>
      <ResourceSection spec={channelSpec(pid)} />
      <p><button type="button" onClick={() => void test()}>Send a test notification</button></p>
    </>
  );
}

interface Result { channel_id: number; name: string; type: string; status: string; attempts: number; error: string; updated: string }

/** On the task page: what each channel did with this task's notification. */
export function TaskNotifications({ task }: { task: Task }) {
  const results = useAsync(() => (task.notifications_url ? get<Result[]>(task.notifications_url) : Promise.resolve([])), [task.notifications_url, task.status]);
  if (!task.notifications_url || !results.data?.length) return null;
  return (
    <section aria-label="Notifications" class="task-notifications">
      <h3>Notifications</h3>
      <ul>
        {results.data.map((r) => (
          <li key={r.channel_id} data-status={r.status}>
            <strong>{r.name}</strong> ({r.type}): {r.status}{r.attempts > 1 ? ` after ${r.attempts} attempts` : ''}
            {r.error && r.status !== 'sent' && <span class="muted small"> — {r.error}</span>} <span class="muted small">{formatTime(r.updated)}</span>
          </li>
        ))}
      </ul>
      <button type="button" class="small" onClick={() => void results.reload()}>Refresh</button>
    </section>
  );
}
