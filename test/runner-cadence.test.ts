/**
 * The heartbeat cadence: a beat a second while a task is young (its first 10 s), then one every
 * `long_task_heartbeat_ms` (2 s with the default 30 s lease), and a stop still reaches a
 * long-running task on a heartbeat answer. With a server that offers no long-task interval (an
 * older one) the runner keeps beating every second.
 */
import test from 'ava';
import { cleanup, FINAL, makeBareRepo, setupTemplate, startForge, startTask, waitFor, waitForTask } from './helpers/index.js';
import { startProxy, type ProxyHooks } from './helpers/proxy.js';
import { startRunner } from './helpers/runner.js';

test.after.always(cleanup);

const remote = { FORGE_USE_REMOTE_RUNNER: 'True' };
const YOUNG_MS = 10_000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

/**
 * A Forge with one runner behind a proxy that notes when each heartbeat arrives and when the
 * task's start report did; the task runs `sleep 300` until stopped.
 */
async function longRunningTask(rewriteHello?: (hello: Record<string, unknown>) => Record<string, unknown>) {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo started\nsleep 300\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const beats: number[] = [];
  let startedAt = 0;
  const hooks: ProxyHooks = {
    beforeForward: ({ path }) => {
      if (path.endsWith('/heartbeat')) beats.push(Date.now());
      if (path.endsWith('/running') && !startedAt) startedAt = Date.now();
      return 'forward';
    },
    afterForward: (exchange) => (rewriteHello && exchange.path.endsWith('/hello') ? JSON.stringify(rewriteHello(JSON.parse(exchange.responseBody))) : undefined),
  };
  const proxy = await startProxy(forge.url, hooks);
  await startRunner(forge, { webHost: proxy.url });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitFor(() => startedAt, 60_000, { what: 'the task\'s start report' });
  // The session began at the claim, before the start report: beats from 11 s after the report on
  // are at the long-task cadence, those in its first 8 s at the young one.
  const old = () => beats.filter((at) => at >= startedAt + YOUNG_MS + 1000);
  await waitFor(() => old().length >= 6, 90_000, { what: 'six heartbeats of the task past its young age' });
  const young = beats.filter((at) => at > startedAt && at < startedAt + YOUNG_MS - 2000);
  const stop = async () => {
    const asked = Date.now();
    await forge.api.json('POST', `/api/project/${setup.projectId}/tasks/${task.id}/stop`);
    const stopped = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 30_000);
    return { stopped, afterMs: Date.now() - asked };
  };
  return { proxy, task, young, old: old(), stop };
}

test('a long-running task\'s runner beats every second while the task is young, then every 2 s, and a stop still reaches it on a heartbeat answer', async (t) => {
  const run = await longRunningTask();
  const hello = run.proxy.exchanges.find((e) => e.path.endsWith('/hello'))!;
  t.is(JSON.parse(hello.responseBody).long_task_heartbeat_ms, 2000, 'the server offers 2 s with the default 30 s lease');

  const youngGaps = gaps(run.young);
  const oldGaps = gaps(run.old);
  t.log(`gaps between heartbeats (ms): young ${youngGaps.join(', ')}; long-running ${oldGaps.join(', ')}`);
  t.true(youngGaps.length >= 3, `only ${run.young.length} beats in the task's first 8 s`);
  t.true(median(youngGaps) < 1500, 'a beat a second while the task is young');
  // The runner sends a long-task beat no sooner than 1.5 s after the previous one (half a tick of slack).
  t.true(Math.min(...oldGaps) > 1200, 'no beat at the young cadence once the task is old');
  t.true(median(oldGaps) >= 1700, 'a beat every 2 s once the task is old');

  const { stopped, afterMs } = await run.stop();
  t.log(`stopped ${afterMs} ms after the request`);
  t.is(stopped.status, 'stopped');
  // The start report was answered long ago: the stop can only have come on a heartbeat answer.
  const stopAnswered = run.proxy.exchanges.some((e) => e.path.endsWith('/heartbeat') && e.status === 200 && (JSON.parse(e.responseBody) as { stop: number[] }).stop.includes(run.task.id));
  t.true(stopAnswered, 'a heartbeat answer carried the stop');
});

test('with a server that offers no long-task interval (older), a runner beats every second however old its task', async (t) => {
  const run = await longRunningTask(({ long_task_heartbeat_ms: _dropped, ...older }) => older);
  const oldGaps = gaps(run.old);
  t.log(`gaps between heartbeats past the young age (ms): ${oldGaps.join(', ')}`);
  t.true(median(oldGaps) < 1500, 'a beat a second, as before');
  const { stopped } = await run.stop();
  t.is(stopped.status, 'stopped');
});
