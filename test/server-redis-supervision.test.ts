import test from 'ava';
import { cleanup, isProcessAlive, makeBareRepo, outputText, runTask, setupTemplate, startForge, waitFor } from './helpers/index.js';

test.after.always(cleanup);

test('the embedded redis-server is supervised: killed, it is started again and tasks keep running', async (t) => {
  const forge = await startForge();
  const firstPid = forge.redisPid;
  t.truthy(firstPid);
  process.kill(firstPid!, 'SIGKILL');
  await waitFor(() => !isProcessAlive(firstPid!), 5000);
  await waitFor(() => /embedded redis-server exited; restarting it/.test(forge.logs()) && [...forge.logs().matchAll(/embedded redis-server started/g)].length >= 2, 20_000, { what: 'the restart' });
  const repo = await makeBareRepo({ 'run.sh': 'echo after the restart\n' });
  const setup = await waitFor(() => setupTemplate(forge.api, { gitUrl: repo.path }), 20_000, { what: 'the API to reach Redis again' });
  const task = await runTask(forge.api, setup);
  t.is(task.status, 'success');
  t.true((await outputText(forge.api, setup.projectId, task.id)).includes('after the restart'));
  // The new redis-server is stopped with Forge, like the first: the server waits for its exit.
  t.is(forge.redisPids.length, 2);
  const newPid = forge.redisPids.at(-1)!;
  t.true(isProcessAlive(newPid));
  const stopped = await forge.stop();
  const outcome = `the server ended with ${JSON.stringify(stopped)}; its log:\n${forge.logs()}`;
  t.deepEqual(stopped, { code: 0, signal: null }, outcome);
  t.false(isProcessAlive(newPid), outcome);
});
