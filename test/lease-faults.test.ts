/**
 * One lease per claim, judged by one watchdog, under injected faults: a frozen runner, a frozen
 * server, a server or Redis outage longer than the lease, a zombie runner, and late output after
 * a "runner lost" verdict. Faults are injected with signals (SIGSTOP/SIGCONT) and by stopping
 * processes; how long a fault lasts is part of the scenario, every other wait awaits an event.
 */
import test, { type ExecutionContext } from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FINAL, cleanup, freePort, getTask, makeBareRepo, outputText, setupTemplate, startForge, startRedis, startTask, taskOutput, waitFor, waitForTask,
} from './helpers/index.js';
import { startProxy } from './helpers/proxy.js';
import { processesWith, startGate, startRecorder, uniqueMarker } from './helpers/sandbox.js';
import { startRunner, type TestRunner } from './helpers/runner.js';

test.after.always(cleanup);

const LEASE_SEC = 4;
const remote = { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_RUNNER_LEASE_SEC: String(LEASE_SEC) };

/** The fault lasts this long: the duration is the scenario, not a guess at timing. */
async function faultLasts(ms: number): Promise<void> {
  const since = Date.now();
  await waitFor(() => Date.now() - since >= ms, ms + 10_000, { intervalMs: 50, what: `a fault of ${ms} ms` });
}

/** A repository whose task prints "started", waits for the gate (loopback: tasks are sandboxed), then prints "finished". */
async function gatedRepo() {
  const gate = await startGate();
  const repo = await makeBareRepo({ 'run.sh': `echo started\n${gate.wait}\necho finished\n` });
  return { gate, repo };
}

async function waitStarted(api: Parameters<typeof outputText>[0], projectId: number, taskId: number): Promise<void> {
  await waitFor(async () => (await outputText(api, projectId, taskId)).includes('started'), 30_000, { what: `task ${taskId} to start` });
}

type Forge = Awaited<ReturnType<typeof startForge>>;
type Api = Forge['api'];

/** Two runners, each running one task of a gated repository, both past "started". */
async function twoLiveTasks(forge: Forge) {
  const { gate, repo } = await gatedRepo();
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  await startRunner(forge);
  await startRunner(forge);
  const tasks = [await startTask(forge.api, setup.projectId, setup.templateId), await startTask(forge.api, setup.projectId, setup.templateId)];
  for (const task of tasks) await waitStarted(forge.api, setup.projectId, task.id);
  return { gate, projectId: setup.projectId, tasks };
}

/** Each task ends `success` on its first attempt. */
async function eachSucceededOnce(t: ExecutionContext, api: Api, projectId: number, tasks: Array<{ id: number }>, timeoutMs: number): Promise<void> {
  for (const task of tasks) {
    const done = await waitForTask(api, projectId, task.id, FINAL, timeoutMs);
    t.is(done.status, 'success', done.error);
    t.is(done.attempt, 1);
  }
}

test('a runner SIGSTOPped for half its lease keeps its task', async (t) => {
  const forge = await startForge({ env: remote });
  const { gate, repo } = await gatedRepo();
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const runner = await startRunner(forge);
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitStarted(forge.api, setup.projectId, task.id);
  runner.process.kill('SIGSTOP');
  await faultLasts((LEASE_SEC * 1000) / 2);
  runner.process.kill('SIGCONT');
  gate.open();
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 30_000);
  t.is(done.status, 'success', done.error);
  t.is(done.attempt, 1);
  t.false((await outputText(forge.api, setup.projectId, task.id)).includes('runner lost'));
});

test('the server frozen for 3/4 of the lease loses nothing', async (t) => {
  const forge = await startForge({ env: remote });
  const { gate, projectId, tasks } = await twoLiveTasks(forge);
  // Freeze the whole server (event loop and all) for 3/4 of the lease: no heartbeat is answered meanwhile.
  forge.process.kill('SIGSTOP');
  await faultLasts(LEASE_SEC * 750);
  forge.process.kill('SIGCONT');
  gate.open();
  await eachSucceededOnce(t, forge.api, projectId, tasks, 30_000);
});

test('a server outage (with its embedded Redis) of twice the lease: every live task finishes success', async (t) => {
  const env = { ...remote, FORGE_PORT: String(await freePort()) };
  const first = await startForge({ env });
  const { gate, projectId, tasks } = await twoLiveTasks(first);
  await first.stop();
  await faultLasts(2 * LEASE_SEC * 1000);
  const second = await startForge({ env, dirs: first.dirs });
  gate.open();
  await eachSucceededOnce(t, second.api, projectId, tasks, 30_000);
  for (const task of tasks) t.is((await taskOutput(second.api, projectId, task.id)).filter((l) => l.output === 'finished').length, 1);
});

test('a Redis outage of twice the lease under a running server: every live task finishes success', async (t) => {
  const redis = await startRedis();
  const forge = await startForge({ env: { ...remote, FORGE_REDIS_URL: redis.url } });
  const { gate, projectId, tasks } = await twoLiveTasks(forge);
  await redis.stop();
  await faultLasts(2 * LEASE_SEC * 1000);
  await redis.start();
  gate.open();
  await eachSucceededOnce(t, forge.api, projectId, tasks, 60_000);
});

test('a zombie runner whose "running" report is refused never runs the script', async (t) => {
  const forge = await startForge({ env: remote });
  // Each run reports its task id to the recorder (a sandboxed task sees none of the test's folders).
  const side = await startRecorder();
  const repo = await makeBareRepo({ 'run.sh': `${side.send('"ran $FORGE_TASK_ID"')}\n` });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const proxy = await startProxy(forge.url);
  const zombie = await startRunner(forge, { name: 'zombie', webHost: proxy.url });
  await waitFor(() => proxy.count('/jobs/next') > 0, 10_000, { what: 'the zombie to park a long-poll' });
  // Paused while parked: the server hands it the job, the lease runs out, the job is requeued.
  zombie.process.kill('SIGSTOP');
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  t.is((await waitForTask(forge.api, setup.projectId, task.id, ['starting'])).runner_name, 'zombie');
  await waitFor(async () => (await getTask(forge.api, setup.projectId, task.id)).status === 'waiting', 30_000, { what: 'the requeue' });
  const healthy = await startRunner(forge, { name: 'healthy' });
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 30_000);
  t.is(done.status, 'success', done.error);
  t.is(done.runner_name, 'healthy');
  // Woken up, the zombie finds the job it was handed long ago: its start report (or its first
  // heartbeat, whichever lands first) is answered "not yours".
  zombie.process.kill('SIGCONT');
  await waitFor(() => /no longer ours/.test(zombie.logs()), 30_000, { what: 'the zombie to be refused' });
  await waitFor(() => /taken away from this runner; not reporting/.test(zombie.logs()), 30_000, { what: 'the zombie to drop the job' });
  const runs = side.lines();
  t.deepEqual(runs, [`ran ${task.id}`], `the script ran ${runs.length} times`);
  t.is((await getTask(forge.api, setup.projectId, task.id)).status, 'success');
});

test('a "runner lost" notice followed by late batches keeps every line the runner sent', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'i=0\nwhile true; do i=$((i+1)); echo "line $i"; sleep 0.02; done\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const runner: TestRunner = await startRunner(forge);
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitFor(async () => (await outputText(forge.api, setup.projectId, task.id)).includes('line 20'), 30_000, { what: 'output' });
  // Frozen past its lease; the task's own processes keep printing into the pipe meanwhile.
  runner.process.kill('SIGSTOP');
  const lost = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 30_000);
  t.regex(lost.error, /^runner lost/);
  runner.process.kill('SIGCONT');
  await waitFor(() => /no longer ours/.test(runner.logs()), 30_000, { what: 'the runner to learn the task is not its own' });
  const lines = await waitFor(async () => {
    const all = await taskOutput(forge.api, setup.projectId, task.id);
    const notice = all.findIndex((l) => l.output.startsWith('[forge] runner lost'));
    return notice >= 0 && all.slice(notice + 1).some((l) => l.output.startsWith('line ')) ? all : undefined;
  }, 30_000, { what: 'late lines after the notice' });
  const numbers = lines.filter((l) => l.output.startsWith('line ')).map((l) => Number(l.output.slice(5)));
  t.deepEqual(numbers, Array.from({ length: numbers.length }, (_, i) => i + 1), 'every line once, none missing');
  t.is(lines.filter((l) => l.output.startsWith('[forge] runner lost')).length, 1);
});

test('task processes the runner cannot record (its process-group folder is broken) are ended at once, not left untracked', async (t) => {
  const forge = await startForge({ env: remote });
  const marker = uniqueMarker();
  const repo = await makeBareRepo({ 'run.sh': `exec sleep 300.${marker}\n` });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const runner = await startRunner(forge);
  // Where the runner records its task's process groups; a file in its place makes every write fail.
  const groups = join(runner.dir, 'work', '.process-groups', `runner-${runner.id}`);
  rmSync(groups, { recursive: true, force: true });
  writeFileSync(groups, '');
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 30_000);
  t.is(done.status, 'error');
  t.regex(done.error, /cannot record the task's processes/);
  await waitFor(() => processesWith(marker).length === 0, 10_000, { what: 'the unrecorded processes to be gone' });
  t.deepEqual(processesWith(marker), []);
});
