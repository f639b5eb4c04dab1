/**
 * Forge's own task queue (services/dispatch/queues.ts, lua/queue-*.lua), seen from outside
 * through the server's Redis: tasks wait in creation order and run in it, a task requeued after a
 * lost claim goes back to the head, a task is never queued twice, a task stopped while waiting
 * leaves its queue; tasks left in the BullMQ version's keys move into the new queue at start and
 * run (on a Redis Cluster too); two server replicas hand out each of many tasks exactly once.
 */
import test from 'ava';
import { Queue, Worker } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanup, FINAL, type Forge, getTask, makeBareRepo, onCleanup, setupTemplate, startForge, startRedis, startTask, waitFor, waitForTask,
} from './helpers/index.js';
import { addRunner, asRunner, startRunner } from './helpers/runner.js';

test.after.always(cleanup);

const remote = { FORGE_USE_REMOTE_RUNNER: 'True' };

const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter(Boolean);

test('FIFO: tasks wait and run in creation order; a lost claim goes back to the head; queued once; a stopped waiting task leaves the queue', async (t) => {
  const redis = await startRedis();
  const forge = await startForge({ env: { ...remote, FORGE_REDIS_URL: redis.url, FORGE_RUNNER_LEASE_SEC: '2' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo ok\n' })).path });
  const waiting = async (queue: string) => lines(await redis.cli(['ZRANGE', `${queue}:wait`, '0', '-1'])).map(Number);
  const active = async (queue: string) => lines(await redis.cli(['ZRANGE', `${queue}:active`, '0', '-1'])).map(Number);

  // No runner yet: every task waits, in the order it was created.
  const tasks = [];
  for (let i = 0; i < 4; i++) tasks.push(await startTask(forge.api, setup.projectId, setup.templateId));
  const ids = tasks.map((task) => task.id);
  const queue = tasks[0]!.queue as string;
  t.is(queue, `{tasks-p${setup.projectId}-_}`);
  t.deepEqual(await waiting(queue), ids);

  // Adding a task that is already queued changes nothing: the add script answers 0, the queue is the same.
  const addLua = readFileSync(join(process.cwd(), 'services/redis/lua/queue-add.lua'), 'utf8');
  const add = async (id: number) => (await redis.cli(['EVAL', addLua, '2', `${queue}:wait`, `${queue}:active`, String(id), 'forge:wake', '{}'])).trim();
  t.is(await add(ids[2]!), '0');
  t.deepEqual(await waiting(queue), ids);

  // A runner claims the head and falls silent before the start: its lease runs out and the task
  // goes back to the head of the queue, ahead of the tasks created after it.
  const dying = await addRunner(forge, { name: 'dying' });
  t.is((await asRunner(forge, dying.token, '/hello', { public_key: randomBytes(32).toString('base64') })).status, 200);
  const claim = await asRunner(forge, dying.token, '/jobs/next', {});
  t.is(claim.status, 200);
  t.is(claim.body.task_id, ids[0]);
  t.deepEqual(await waiting(queue), ids.slice(1));
  t.deepEqual(await active(queue), [ids[0]]);
  t.is(await add(ids[0]!), '0', 'a claimed task is not queued again');
  await waitFor(async () => (await getTask(forge.api, setup.projectId, ids[0]!)).status === 'waiting' || undefined, 30_000, { what: 'the lost claim to be requeued' });
  await waitFor(async () => JSON.stringify(await waiting(queue)) === JSON.stringify(ids) || undefined, 10_000, { what: 'the requeued task at the head' });
  t.deepEqual(await active(queue), []);
  await forge.api.json('PUT', `/api/runners/${dying.id}`, { active: false });

  // Stopped while waiting: it leaves its queue at once.
  t.is((await forge.api.post(`/api/project/${setup.projectId}/tasks/${ids[1]}/stop`, {})).status, 204);
  t.is((await getTask(forge.api, setup.projectId, ids[1]!)).status, 'stopped');
  t.deepEqual(await waiting(queue), [ids[0], ids[2], ids[3]]);

  // One slot: the tasks start one by one, in the queue's order.
  const runner = await startRunner(forge, { name: 'one-slot', maxParallel: 1 });
  for (const id of [ids[0]!, ids[2]!, ids[3]!]) t.is((await waitForTask(forge.api, setup.projectId, id, FINAL, 60_000)).status, 'success');
  t.deepEqual(runner.startedTasks(), [ids[0], ids[2], ids[3]]);
  t.is((await getTask(forge.api, setup.projectId, ids[1]!)).status, 'stopped');
  t.deepEqual(await waiting(queue), []);
  t.deepEqual(await active(queue), [], 'finished tasks leave the active set');
});

test('upgrade: task jobs left in the BullMQ version\'s keys (wait, prioritized, active, a paused queue) move into the queue at start and run', async (t) => {
  const redis = await startRedis();
  const env = { ...remote, FORGE_REDIS_URL: redis.url, FORGE_RUNNER_LEASE_SEC: '2' };
  const first = await startForge({ env });
  const repo = await makeBareRepo({ 'run.sh': 'echo upgraded\n' });
  const plain = await setupTemplate(first.api, { gitUrl: repo.path });
  const gpu = await setupTemplate(first.api, { gitUrl: repo.path, projectId: plain.projectId, template: { runner_tag: 'gpu' } });
  const plainTasks = [];
  for (let i = 0; i < 4; i++) plainTasks.push(await startTask(first.api, plain.projectId, plain.templateId));
  const gpuTask = await startTask(first.api, plain.projectId, gpu.templateId);
  await first.stop();

  // The data as the BullMQ version left it: no new-layout keys, the jobs in BullMQ's own.
  const plainQueue = plainTasks[0]!.queue as string;
  const gpuQueue = gpuTask.queue as string;
  await redis.cli(['DEL', `${plainQueue}:wait`, `${plainQueue}:active`, `${gpuQueue}:wait`, `${gpuQueue}:active`]);
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  onCleanup(() => connection.disconnect());
  const old = new Queue(plainQueue, { connection, prefix: 'forge' });
  const job = (id: number, options: object = {}) => old.add('task', { task_id: id }, { jobId: `task-${id}`, removeOnComplete: true, ...options });
  const [p0, p1, p2, p3] = plainTasks.map((task) => task.id) as [number, number, number, number];
  await job(p0);
  await job(p1);
  // Fetched by a BullMQ worker of the old server (which then died): the job sits in `active`.
  const worker = new Worker(plainQueue, null, { connection, prefix: 'forge', autorun: false, skipStalledCheck: true, skipLockRenewal: true });
  const fetched = await worker.getNextJob('old-server-token', { block: false });
  t.is(fetched?.id, `task-${p0}`);
  await job(p2, { priority: 1 });
  await job(p3);
  const gpuOld = new Queue(gpuQueue, { connection, prefix: 'forge' });
  await gpuOld.pause();
  await gpuOld.add('task', { task_id: gpuTask.id }, { jobId: `task-${gpuTask.id}`, removeOnComplete: true });
  await worker.close(true);
  await old.close();
  await gpuOld.close();
  const oldKeys = async () => lines(await redis.cli(['KEYS', 'forge:{tasks-*'])).sort();
  const before = await oldKeys();
  for (const list of ['wait', 'active', 'prioritized']) t.true(before.includes(`forge:${plainQueue}:${list}`), `the old ${list} key exists: ${before.join(' ')}`);
  // BullMQ 6 keeps a paused queue's jobs in `wait` (older versions moved them to `paused`, which the move reads too).
  t.true(before.includes(`forge:${gpuQueue}:wait`) && before.includes(`forge:${gpuQueue}:meta`), before.join(' '));

  const second = await startForge({ dirs: first.dirs, env });
  t.deepEqual(await oldKeys(), [], 'every BullMQ key of the task queues is gone after the move');
  // Read together: on a slow machine the repair (below) may already have judged the fetched job.
  const [waiting, claimed] = ((await connection.multi().zrange(`${plainQueue}:wait`, '0', '-1').zrange(`${plainQueue}:active`, '0', '-1').exec()) ?? []).map(([, ids]) => (ids as string[]).map(Number));
  if (claimed!.length > 0) {
    t.deepEqual([waiting, claimed], [[p1, p2, p3], [p0]], 'the fetched job stays claimed until the repair judges it');
  } else {
    t.deepEqual(waiting, [p0, p1, p2, p3], 'the repair already moved the fetched job back, to the head');
  }
  t.deepEqual(lines(await redis.cli(['ZRANGE', `${gpuQueue}:wait`, '0', '-1'])).map(Number), [gpuTask.id]);

  await startRunner(second, { tags: ['gpu'], maxParallel: 2 });
  for (const task of [...plainTasks, gpuTask]) {
    const done = await waitForTask(second.api, plain.projectId, task.id, FINAL, 60_000);
    t.is(done.status, 'success', `task ${task.id}: ${done.error}`);
  }
  t.regex(second.logs(), /left active with no claim; moved back/, 'the job the old server had fetched was moved back by the repair');
  t.deepEqual(await oldKeys(), []);
});

test('upgrade on a Redis Cluster: the move stays in the queue\'s slot, and the tasks run', async (t) => {
  const cluster = await startRedis({ cluster: true });
  const env = { ...remote, FORGE_REDIS_URL: cluster.url };
  const first = await startForge({ env });
  const setup = await setupTemplate(first.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo upgraded\n' })).path });
  const tasks = [await startTask(first.api, setup.projectId, setup.templateId), await startTask(first.api, setup.projectId, setup.templateId)];
  await first.stop();
  const queue = tasks[0]!.queue as string;
  const client = new Cluster(cluster.masters.map((node) => ({ host: '127.0.0.1', port: node.port! })), { redisOptions: { maxRetriesPerRequest: null } });
  onCleanup(() => client.disconnect());
  await client.del(`${queue}:wait`, `${queue}:active`);
  const old = new Queue(queue, { connection: client, prefix: 'forge' });
  for (const task of tasks) await old.add('task', { task_id: task.id }, { jobId: `task-${task.id}`, removeOnComplete: true });
  await old.close();
  const oldKeys = async () => (await Promise.all(client.nodes('master').map((node) => node.keys('forge:{tasks-*')))).flat();
  t.true((await oldKeys()).includes(`forge:${queue}:wait`));

  const second = await startForge({ dirs: first.dirs, env });
  t.deepEqual(await oldKeys(), []);
  t.deepEqual((await client.zrange(`${queue}:wait`, '0', '-1')).map(Number), tasks.map((task) => task.id));
  await startRunner(second);
  for (const task of tasks) t.is((await waitForTask(second.api, setup.projectId, task.id, FINAL, 60_000)).status, 'success');
  t.false(/CROSSSLOT/i.test(second.logs()));
});

test('two server replicas, four runners: each of 40 tasks is claimed exactly once', async (t) => {
  const redis = await startRedis();
  const env = { ...remote, FORGE_REDIS_URL: redis.url, FORGE_ACCESS_KEY_ENCRYPTION: 'shared-key-for-both-replicas' };
  const [a, b] = await Promise.all([startForge({ env }), startForge({ env, login: false })]);
  await b.api.login('admin', 'admin-password-123');
  const setup = await setupTemplate(a.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo once\n' })).path });
  const runners = [];
  for (const [i, forge] of [a, a, b, b].entries()) runners.push(await startRunner(forge, { name: `r${i}-${forge === a ? 'a' : 'b'}`, maxParallel: 2 }));
  const tasks = await Promise.all(Array.from({ length: 40 }, (_, i) => startTask((i % 2 ? b : a).api, setup.projectId, setup.templateId)));
  const done = [];
  for (const task of tasks) done.push(await waitForTask(a.api, setup.projectId, task.id, FINAL, 120_000));
  t.deepEqual(done.filter((task) => task.status !== 'success' || task.attempt !== 1).map((task) => `${task.id}: ${task.status} attempt ${task.attempt}`), []);
  const started = runners.flatMap((runner) => runner.startedTasks());
  t.is(started.length, tasks.length, 'no task started twice');
  t.deepEqual([...started].sort((x, y) => x - y), tasks.map((task) => task.id).sort((x, y) => x - y));
  t.true(runners.slice(0, 2).some((runner) => runner.startedTasks().length > 0) && runners.slice(2).some((runner) => runner.startedTasks().length > 0), 'runners of both replicas claimed');
  t.is((await redis.cli(['ZCARD', `${tasks[0]!.queue as string}:wait`])).trim(), '0');
  t.is((await redis.cli(['ZCARD', `${tasks[0]!.queue as string}:active`])).trim(), '0');
});
