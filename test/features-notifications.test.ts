/**
 * Notifications when a task ends, through their own retried queue: a generic webhook, Slack, Teams
 * and Telegram (its API address pointed at a local receiver), e-mail to a real local SMTP server;
 * a receiver that is down is retried and never delays the task.
 */
import { createServer, type Server } from 'node:http';
import test from 'ava';
import { SMTPServer } from 'smtp-server';
import { cleanup, freePort, getTask, makeBareRepo, onCleanup, runTask, setupTemplate, startForge, waitFor, type ApiClient } from './helpers/index.js';

test.after.always(cleanup);

interface Received { path: string; body: any }

/** A local HTTP endpoint that records every POST it gets. */
async function receiver(port?: number): Promise<{ url: string; port: number; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: text ? JSON.parse(text) : undefined });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
    });
  });
  const listenOn = port ?? (await freePort());
  await new Promise<void>((resolve) => server.listen(listenOn, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${listenOn}`, port: listenOn, received, server };
}

async function smtp(): Promise<{ port: number; mails: Array<{ to: string[]; text: string }> }> {
  const mails: Array<{ to: string[]; text: string }> = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, callback) {
      let text = '';
      stream.on('data', (chunk) => (text += chunk));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), text });
        callback();
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port, mails };
}

const results = (api: ApiClient, projectId: number, taskId: number) => api.json<Array<{ channel_id: number; name: string; status: string; attempts: number; error: string }>>('GET', `/api/project/${projectId}/tasks/${taskId}/notifications`);

test('a failed task notifies a webhook, Slack, Teams, Telegram and e-mail; a receiver that is down is retried without delaying the task; suppressed successes stay quiet', async (t) => {
  const http = await receiver();
  const mail = await smtp();
  const downPort = await freePort();
  const forge = await startForge({
    env: {
      FORGE_TELEGRAM_API_URL: `${http.url}/telegram`, FORGE_EMAIL_HOST: '127.0.0.1', FORGE_EMAIL_PORT: String(mail.port),
      FORGE_EMAIL_SENDER: 'forge@test.invalid', FORGE_NOTIFICATION_BACKOFF_MS: '200', FORGE_NOTIFICATION_ATTEMPTS: '30',
    },
  });
  const api = forge.api;
  const repo = await makeBareRepo({ 'fail.sh': 'echo failing\nexit 3\n', 'ok.sh': 'echo fine\n' });
  const failing = await setupTemplate(api, { gitUrl: repo.path, playbook: 'fail.sh', template: { name: 'nightly' } });
  const quiet = await setupTemplate(api, { gitUrl: repo.path, playbook: 'ok.sh', projectId: failing.projectId, template: { name: 'quiet', suppress_success_alerts: true } });
  const base = `/api/project/${failing.projectId}/notifications`;
  const channels = [
    { name: 'hook', type: 'webhook', url: `${http.url}/hook` },
    { name: 'slack', type: 'slack', url: `${http.url}/slack` },
    { name: 'teams', type: 'teams', url: `${http.url}/teams` },
    { name: 'telegram', type: 'telegram', chat_id: '-100123', secret: 'bot-token-123' },
    { name: 'mail', type: 'email', to: 'ops@test.invalid' },
    { name: 'down', type: 'webhook', url: `http://127.0.0.1:${downPort}/later` },
  ];
  for (const channel of channels) await api.json('POST', base, channel);
  const listed = await api.json('GET', base);
  t.is(listed.find((c: { name: string }) => c.name === 'telegram').secret_set, true);
  t.false(JSON.stringify(listed).includes('bot-token-123'), 'the bot token is write-only');
  const bad = await api.post(base, { name: 'x', type: 'email', to: 'not an address' });
  t.is(bad.status, 400);
  t.regex(bad.body.error, /^to: /);

  const task = await runTask(api, failing);
  t.is(task.status, 'error');
  const ended = Date.parse(task.end!);

  const sent = await waitFor(async () => {
    const r = await results(api, failing.projectId, task.id);
    return r.filter((x) => x.status === 'sent').length === 5 ? r : undefined;
  }, 60_000, { what: 'five notifications sent' });
  const down = sent.find((r) => r.name === 'down')!;
  t.not(down.status, 'sent');
  t.regex(down.error, /fetch failed|ECONNREFUSED/);
  t.is((await getTask(api, failing.projectId, task.id)).notifications_url, `/api/project/${failing.projectId}/tasks/${task.id}/notifications`);
  t.true(ended - Date.parse(task.start!) < 30_000, 'the task ended on its own time');

  const byPath = (prefix: string) => http.received.find((r) => r.path.startsWith(prefix))!.body;
  t.is(byPath('/hook').event, 'task_finished');
  t.is(byPath('/hook').task.status, 'error');
  t.is(byPath('/hook').task.task_id, task.id);
  t.regex(byPath('/slack').text, new RegExp(`Task #${task.id} \\(nightly\\) failed`));
  t.is(byPath('/slack').attachments[0].color, 'danger');
  t.is(byPath('/teams')['@type'], 'MessageCard');
  t.is(http.received.find((r) => r.path.startsWith('/telegram'))!.path, '/telegram/botbot-token-123/sendMessage');
  t.is(byPath('/telegram').chat_id, '-100123');
  t.is(mail.mails.length, 1);
  t.deepEqual(mail.mails[0]!.to, ['ops@test.invalid']);
  t.regex(mail.mails[0]!.text, new RegExp(`Subject: Task #${task.id} \\(nightly\\) failed`));

  // The receiver comes up on the port it was down on: the retries reach it.
  const late = await receiver(downPort);
  const delivered = await waitFor(async () => (await results(api, failing.projectId, task.id)).find((r) => r.name === 'down' && r.status === 'sent'), 60_000, { what: 'the retried notification' });
  t.true(delivered.attempts > 1, `attempts: ${delivered.attempts}`);
  t.is(late.received[0]!.body.task.task_id, task.id);

  // A template with suppress_success_alerts sends nothing on success.
  const before = http.received.length;
  const ok = await runTask(api, quiet);
  t.is(ok.status, 'success');
  const okRecord = await getTask(api, quiet.projectId, ok.id);
  t.is(okRecord.notifications_url, undefined);
  t.deepEqual(await results(api, quiet.projectId, ok.id), []);
  // The project's test endpoint reaches the channels (and so proves the queue was idle for "quiet").
  t.is((await api.post(`${base}/test`, {})).status, 204);
  await waitFor(() => http.received.slice(before).some((r) => r.path === '/hook' && r.body.task.template_name === 'test notification'), 30_000);
  t.false(http.received.slice(before).some((r) => r.body?.task?.task_id === ok.id));
});
