/**
 * Nothing is lost across restarts: records, tasks and every output line survive a stop of Forge
 * with its embedded Redis (AOF), a crash of Forge (SIGKILL; the next start adopts the Redis left
 * running), and a restart of an external Redis under a running Forge, even mid-task. A task
 * created while no worker can run it is still waiting after a restart, and runs once one can.
 */
import test from 'ava';
import {
  ApiClient, cleanup, type Forge, getTask, isProcessAlive, makeBareRepo, runTask, setupTemplate, startForge, startRedis,
  startTask, taskOutput, waitFor, waitForTask,
} from './helpers/index.js';
import { startGate } from './helpers/sandbox.js';

test.after.always(cleanup);

/** Everything a project holds, as the API shows it. */
async function snapshot(api: ApiClient, projectId: number) {
  const base = `/api/project/${projectId}`;
  const [project, keys, repositories, inventory, environment, templates, tasks] = await Promise.all(
    ['', '/keys', '/repositories', '/inventory', '/environment', '/templates', '/tasks'].map((path) => api.json('GET', base + path)),
  );
  return { project, keys, repositories, inventory, environment, templates, tasks };
}

test('stopping Forge with its embedded Redis, crashing it, and starting again loses no record, task or output line', async (t) => {
  const script = 'for i in $(seq 1 200); do echo "line $i of the first task"; done\necho "secret is $TOKEN_VALUE"\n';
  const repo = await makeBareRepo({ 'run.sh': script });

  // 1. Records and a finished task with output, on a server with its local worker.
  const first = await startForge();
  const setup = await setupTemplate(first.api, {
    gitUrl: repo.path, inventory: 'localhost ansible_connection=local', extraVars: { answer: 42 },
    secrets: [{ name: 'TOKEN_VALUE', secret: 'kept-secret-value' }],
  });
  const key = await first.api.json('POST', `/api/project/${setup.projectId}/keys`, { name: 'login', type: 'login_password', login_password: { login: 'me', password: 'pw-123456' } });
  await first.api.json('POST', '/api/users', { login: 'second', password: 'second-password', admin: false });
  const token = (await first.api.json('POST', '/api/user/tokens')).id as string;
  const taskA = await runTask(first.api, setup);
  t.is(taskA.status, 'success');
  const before = await snapshot(first.api, setup.projectId);
  const outputA = await taskOutput(first.api, setup.projectId, taskA.id);
  t.is(outputA.filter((l) => l.output.startsWith('line ')).length, 200);
  t.true(outputA.some((l) => l.output === 'secret is ********'));
  const users = await first.api.json('GET', '/api/users');
  const cookie = first.api.sessionCookie!;

  const stopped = await first.stop();
  t.is(stopped.code, 0, 'SIGTERM ends the server cleanly');
  t.truthy(first.redisPid);
  t.false(isProcessAlive(first.redisPid!), 'the embedded redis-server stopped with Forge');

  // 2. Started again (a new redis-server reads the AOF), now without a local worker.
  const second = await startForge({ dirs: first.dirs, env: { FORGE_USE_REMOTE_RUNNER: 'true' } });
  t.not(second.redisPid, first.redisPid);
  t.deepEqual(await snapshot(second.api, setup.projectId), before);
  t.deepEqual(await taskOutput(second.api, setup.projectId, taskA.id), outputA);
  t.deepEqual(await second.api.json('GET', '/api/users'), users);
  t.is((await second.api.withToken(token).get('/api/user')).body.username, 'admin', 'API tokens survive');
  t.is((await new ApiClient(second.url, { cookie }).get('/api/user')).status, 200, 'sessions survive');
  t.is((await second.api.json('GET', `/api/project/${setup.projectId}/keys/${key.id}`)).type, 'login_password');
  await second.api.anonymous().login('second', 'second-password');

  // A task no worker can run waits, and says why.
  const taskB = await startTask(second.api, setup.projectId, setup.templateId);
  const waitingB = await waitFor(async () => {
    const task = await getTask(second.api, setup.projectId, taskB.id);
    return task.status === 'waiting' && /runner/.test(task.waiting_reason) ? task : undefined;
  }, 10_000);
  t.regex(waitingB.waiting_reason, /no runner/);

  // 3. A crash: SIGKILL leaves the embedded redis running; the next start adopts it.
  await second.kill('SIGKILL');
  t.true(isProcessAlive(second.redisPid!), 'redis outlives a killed Forge');
  const third = await startForge({ dirs: first.dirs, env: { FORGE_USE_REMOTE_RUNNER: 'true' } });
  t.regex(third.logs(), /adopting the embedded redis-server/);
  const stillWaiting = await getTask(third.api, setup.projectId, taskB.id);
  t.is(stillWaiting.status, 'waiting');
  t.is(stillWaiting.waiting_reason, waitingB.waiting_reason);
  t.deepEqual(await taskOutput(third.api, setup.projectId, taskA.id), outputA);
  await third.stop();

  // 4. With a local worker again, the waiting task's queued job is still there and runs.
  const fourth = await startForge({ dirs: first.dirs });
  const doneB = await waitForTask(fourth.api, setup.projectId, taskB.id);
  t.is(doneB.status, 'success');
  const outputB = await taskOutput(fourth.api, setup.projectId, taskB.id);
  t.is(outputB.filter((l) => l.output.startsWith('line ')).length, 200);
  t.deepEqual(await taskOutput(fourth.api, setup.projectId, taskA.id), outputA);
  const tasks = await fourth.api.json('GET', `/api/project/${setup.projectId}/tasks`);
  t.deepEqual(tasks.map((task: { id: number; status: string }) => [task.id, task.status]), [[taskB.id, 'success'], [taskA.id, 'success']]);
});

test('an external Redis restarted under a running Forge, mid-task, loses no record or output line', async (t) => {
  const redis = await startRedis();
  const forge: Forge = await startForge({ env: { FORGE_REDIS_URL: redis.url } });
  t.is(forge.redisPid, undefined, 'no embedded redis with FORGE_REDIS_URL');
  const quick = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'seq 1 20\n' })).path });
  const finished = await runTask(forge.api, quick);
  t.is(finished.status, 'success');
  const finishedOutput = await taskOutput(forge.api, quick.projectId, finished.id);
  const before = await snapshot(forge.api, quick.projectId);

  const gate = await startGate();
  const repo = await makeBareRepo({
    'run.sh': [
      'for i in $(seq 1 50); do echo "before $i"; done',
      gate.wait,
      'for i in $(seq 1 50); do echo "after $i"; done',
    ].join('\n') + '\n',
  });
  const gated = await setupTemplate(forge.api, { gitUrl: repo.path });
  const task = await startTask(forge.api, gated.projectId, gated.templateId);
  await waitFor(async () => (await taskOutput(forge.api, gated.projectId, task.id)).some((l) => l.output === 'before 50'), 15_000);

  // Restart Redis (SIGTERM flushes the AOF) while the task runs, then let the task go on.
  await redis.stop();
  await redis.start();
  gate.open();
  const done = await waitForTask(forge.api, gated.projectId, task.id, ['success', 'error', 'stopped'], 30_000);
  t.is(done.status, 'success', done.error);
  const lines = (await taskOutput(forge.api, gated.projectId, task.id)).map((l) => l.output).filter((l) => /^(before|after) \d+$/.test(l));
  const expected = [...Array.from({ length: 50 }, (_, i) => `before ${i + 1}`), ...Array.from({ length: 50 }, (_, i) => `after ${i + 1}`)];
  t.deepEqual(lines, expected, 'every line once, in order');

  t.deepEqual(await snapshot(forge.api, quick.projectId), before);
  t.deepEqual(await taskOutput(forge.api, quick.projectId, finished.id), finishedOutput);
  // The pipeline (queues, workers, wake-ups, completions) works after the reconnect.
  const after = await runTask(forge.api, quick);
  t.is(after.status, 'success');
  t.is(forge.process.exitCode, null);
});
