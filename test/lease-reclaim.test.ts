/**
 * A task taken away from a runner before it started (its lease ran out) can come back to the same
 * runner as the next attempt while the first attempt's session still winds down. The runner must
 * keep the two apart: the first one ending must not drop the second from its heartbeats, and a
 * `lost` answer about the first must not end the second. Otherwise the second attempt runs on a
 * live runner with no lease extension and is judged "runner lost" (seen in the bench under load).
 */
import test from 'ava';
import {
  FINAL, cleanup, makeBareRepo, setupTemplate, startForge, startTask, waitFor, waitForTask,
} from './helpers/index.js';
import { startProxy } from './helpers/proxy.js';
import { startRunner } from './helpers/runner.js';

test.after.always(cleanup);

test('a task requeued before its start and claimed again by the same runner runs to the end there', async (t) => {
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_RUNNER_LEASE_SEC: '2' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'sleep 12\necho ok\n' })).path });
  // Until the task's second attempt is handed out, the runner's heartbeats and start reports are
  // lost on the way: its first attempt's lease runs out while that session keeps retrying the start.
  let secondClaimed = false;
  const proxy = await startProxy(forge.url, {
    beforeForward: ({ path }) => (!secondClaimed && (path.endsWith('/heartbeat') || path.endsWith('/running')) ? 'drop' : 'forward'),
    afterForward: (exchange) => {
      if (exchange.path.endsWith('/jobs/next') && exchange.status === 200 && JSON.parse(exchange.responseBody).attempt === 2) secondClaimed = true;
      return undefined;
    },
  });
  const runner = await startRunner(forge, { name: 'reclaimer', webHost: proxy.url, maxParallel: 2 });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitFor(() => secondClaimed, 60_000, { what: 'the same runner to claim the requeued task again' });
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000);
  t.is(done.status, 'success', `${done.error} — runner log:\n${runner.logs()}`);
  t.is(done.attempt, 2);
  t.is(done.runner_name, 'reclaimer');
});
