/**
 * Heartbeats are what keep a running task's lease: these tests are about what a runner does when
 * they go wrong or arrive late.
 * - Beats that fail for a third of the lease make the runner warn (the server will declare its
 *   tasks lost at a whole lease without one), and it says when they are answered again.
 * - Once a task's result is answered, its lease is gone: later beats leave it out, and a beat
 *   sent before the result but answered after it (`lost`: no lease) is not taken as a loss.
 * - Beats that arrive late (the server or Redis behind) hold back every lease verdict: a runner
 *   whose beats are still on their way is not declared lost; a silent one is, once beats are on time.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import test from 'ava';
import { cleanup, FINAL, makeBareRepo, setupTemplate, startForge, startTask, waitFor, waitForTask } from './helpers/index.js';
import { runnerStateSchema } from '../protocol/wire.js';
import { unansweredMs } from '../workers/agent.js';
import { startProxy } from './helpers/proxy.js';
import { startRunner } from './helpers/runner.js';
import { onCleanup } from './helpers/util.js';

test.after.always(cleanup);

const remote = { FORGE_USE_REMOTE_RUNNER: 'True' };
const listsTask = (body: string, taskId: number) => (JSON.parse(body) as { active: Array<{ task_id: number }> }).active.some((a) => a.task_id === taskId);

test('heartbeats failing for a third of the lease make the runner warn, and it says when they are answered again; the task lives on', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo started\nsleep 300\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  let dropBeats = false;
  let startedAt = 0;
  const proxy = await startProxy(forge.url, {
    beforeForward: ({ path }) => {
      if (path.endsWith('/running')) startedAt ||= Date.now();
      return dropBeats && path.endsWith('/heartbeat') ? 'drop' : 'forward';
    },
  });
  const runner = await startRunner(forge, { webHost: proxy.url });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitFor(() => startedAt, 60_000, { what: 'the task\'s start report' });

  const droppedFrom = Date.now();
  dropBeats = true;
  await waitFor(() => runner.logs().includes('heartbeats have failed for'), 60_000, { what: 'the runner\'s warning about failing heartbeats' });
  dropBeats = false;
  const warnedAfterMs = Date.now() - droppedFrom;
  const warning = runner.logs().split('\n').find((line) => line.includes('heartbeats have failed for'))!;
  t.log(warning);
  t.regex(warning, /lost after 30 s without one/, 'the warning says what is at stake (the default 30 s lease)');
  t.regex(warning, /proxy dropped the request/, 'and why the beats fail');
  t.true(warnedAfterMs >= 10_000, `warned ${warnedAfterMs} ms after the beats began to fail: not before a third of the lease`);

  await waitFor(() => runner.logs().includes('heartbeats are answered again'), 60_000, { what: 'the runner saying its heartbeats are answered again' });
  const current = await forge.api.json<{ status: string }>('GET', `/api/project/${setup.projectId}/tasks/${task.id}`);
  t.is(current.status, 'running', 'a third of the lease without beats loses nothing');

  await forge.api.json('POST', `/api/project/${setup.projectId}/tasks/${task.id}/stop`);
  t.is((await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000)).status, 'stopped');
});

test('once its result is answered, a task leaves the heartbeats, and a beat answered late is not taken as its loss', async (t) => {
  const forge = await startForge({ env: remote });
  // Two seconds: old enough to be in the beats before its result.
  const repo = await makeBareRepo({ 'run.sh': 'sleep 2\necho done\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  // The runner's task_finished webhook is held until released: the runner keeps the finished
  // task's session while it waits, and beats go on meanwhile.
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let finishedCalls = 0;
  const webhook = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (!body.includes('"task_finished"')) return void res.end();
      finishedCalls++;
      void released.then(() => res.end());
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  onCleanup(async () => {
    release();
    webhook.closeAllConnections();
    await new Promise<void>((resolve) => webhook.close(() => resolve()));
  });
  // Beats naming the task are held at the proxy until the result is answered, then forwarded:
  // their answers (`lost`: the lease went with the result) arrive about a task already reported.
  let resultAnswered: () => void = () => {};
  const answered = new Promise<void>((resolve) => (resultAnswered = resolve));
  let taskId = 0;
  let heldBeats = 0;
  const proxy = await startProxy(forge.url, {
    beforeForward: ({ path, body }) => {
      if (!path.endsWith('/heartbeat') || !taskId || !listsTask(body, taskId)) return 'forward';
      heldBeats++;
      return answered.then(() => 'forward' as const);
    },
    afterForward: (exchange) => {
      if (exchange.path.endsWith('/result') && exchange.status === 200) resultAnswered();
      return undefined;
    },
  });
  const runner = await startRunner(forge, { webHost: proxy.url, webhook: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook` });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  taskId = task.id;
  await answered;
  t.true(heldBeats > 0, 'beats naming the task were sent before its result');
  const resultAt = proxy.exchanges.findIndex((e) => e.path.endsWith('/result'));
  await waitFor(() => finishedCalls > 0, 30_000, { what: 'the runner\'s task_finished webhook call' });
  // Two beats sent after the result was answered, while the webhook holds the session.
  const beatsAfter = () => proxy.exchanges.slice(resultAt + 1).filter((e) => e.path.endsWith('/heartbeat'));
  await waitFor(() => beatsAfter().length >= heldBeats + 2, 30_000, { what: 'two heartbeats after the result' });
  const lateAnswers = proxy.exchanges.filter((e) => e.path.endsWith('/heartbeat') && (JSON.parse(e.responseBody) as { lost: number[] }).lost.includes(task.id));
  t.true(lateAnswers.length > 0, 'a beat held past the result was answered `lost` about the task');
  // Sent after the result's answer reached the runner: the proxy records an exchange when its answer comes back.
  t.false(beatsAfter().slice(heldBeats).some((e) => listsTask(e.requestBody, task.id)), 'no beat sent after the result names the finished task');
  release();
  t.is((await waitForTask(forge.api, setup.projectId, task.id, FINAL, 30_000)).status, 'success');
  t.false(runner.logs().includes('no longer ours'), runner.logs());
});

test('while heartbeats arrive late (the server behind), no lease is judged; a silent runner is judged once they are on time again', async (t) => {
  // A 6 s lease: a beat unanswered for 2 s is late.
  const forge = await startForge({ env: { ...remote, FORGE_RUNNER_LEASE_SEC: '6' } });
  const repo = await makeBareRepo({ 'run.sh': 'echo started\nsleep 300\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const running = (taskId: number) => waitForTask(forge.api, setup.projectId, taskId, ['running'], 60_000);

  // The silent runner: its beats are held, never answered, from when it is told to go silent.
  let silent = false;
  const silentProxy = await startProxy(forge.url, { beforeForward: ({ path }) => (silent && path.endsWith('/heartbeat') ? 'hang' : 'forward') });
  await startRunner(forge, { webHost: silentProxy.url });
  const silentTask = await startTask(forge.api, setup.projectId, setup.templateId);
  await running(silentTask.id);

  // The late runner: its beats reach the server 3 s after they were sent (a server behind by
  // that much), past the runner's own 2 s wait, so each says it went unanswered longer and longer.
  let late = false;
  const lateProxy = await startProxy(forge.url, {
    beforeForward: ({ path }) => (late && path.endsWith('/heartbeat') ? delay(3000).then(() => 'forward' as const) : 'forward'),
  });
  await startRunner(forge, { webHost: lateProxy.url });
  const lateTask = await startTask(forge.api, setup.projectId, setup.templateId);
  await running(lateTask.id);

  late = true;
  await waitFor(() => forge.logs().includes('arrived after going unanswered'), 60_000, { what: 'a heartbeat arriving late' });
  silent = true;
  // Its lease runs out three times over and is renewed each time, not judged, while beats arrive late.
  const renewals = () => forge.logs().split('leases that ran out were renewed, not judged').length - 1;
  await waitFor(() => renewals() >= 3, 120_000, { what: 'the silent runner\'s lease renewed three times instead of judged' });
  // Operators see it too: /metrics counts the leases renewed because beats arrive late.
  const metrics = (await forge.api.get('/metrics')).text;
  t.true(Number(/^forge_leases_renewed_total\{why="late"\} (\d+)/m.exec(metrics)?.[1] ?? 0) >= 3, metrics.split('\n').filter((l) => l.startsWith('forge_leases_renewed')).join('\n'));
  t.is((await forge.api.json<{ status: string }>('GET', `/api/project/${setup.projectId}/tasks/${silentTask.id}`)).status, 'running',
    'no verdict while heartbeats arrive late');

  // Beats on time again: within a lease or two the silent runner is judged, as before.
  late = false;
  const judged = await waitForTask(forge.api, setup.projectId, silentTask.id, FINAL, 120_000);
  t.is(judged.status, 'error');
  t.regex(judged.error ?? '', /runner lost/);
  t.is((await forge.api.json<{ status: string }>('GET', `/api/project/${setup.projectId}/tasks/${lateTask.id}`)).status, 'running',
    'the late runner\'s task lived through it all');
  await forge.api.json('POST', `/api/project/${setup.projectId}/tasks/${lateTask.id}/stop`);
  t.is((await waitForTask(forge.api, setup.projectId, lateTask.id, FINAL, 60_000)).status, 'stopped');
});

test('a beat\'s unanswered_ms is one the server takes whatever the clock did (a refused beat would end every task it lists)', (t) => {
  // Elapsed times a runner could measure: a clock set back, a fraction of a ms, a runner cut off for weeks.
  for (const elapsed of [-5_000, 0.4, 1_234.6, 30 * 86_400_000]) {
    const value = unansweredMs(elapsed);
    t.true(runnerStateSchema.safeParse({ active: [], unanswered_ms: value }).success, `${elapsed} ms measured → ${value} sent`);
  }
  t.is(unansweredMs(-5_000), 0);
  t.is(unansweredMs(1_234.6), 1_235);
});
