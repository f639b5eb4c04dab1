/**
 * The hand-off: a task created while a runner's long-poll is parked on the same server goes to that
 * runner in its creation's MULTI (the claim of its queue's head rides after the task event), with
 * no wake-up through Redis and no claim of its own. The claim is the usual one: the runner's
 * slots and the lease in the same script; a poll whose client left meanwhile puts its job back.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo } from 'node:net';
import {
  FINAL, type Forge, cleanup, connectRedis, getTask, makeBareRepo, onCleanup, setupTemplate, startForge, startRedis, startTask, waitFor, waitForTask,
} from './helpers/index.js';
import { addRunner, asRunner, startRunner } from './helpers/runner.js';

test.after.always(cleanup);

const remote = { FORGE_USE_REMOTE_RUNNER: 'True' };

/** A value of the server's /metrics, summed over its labels when `labels` is not given. */
async function metric(forge: Forge, name: string, labels = ''): Promise<number> {
  const text = (await forge.api.get('/metrics')).text;
  const pattern = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : '(?:\\{[^}]*\\})?'} ([0-9.e+-]+)$`, 'gm');
  return [...text.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0);
}

const parkedWaiting = (forge: Forge) => metric(forge, 'forge_parked_polls', 'kind="waiting"');

/** A registered runner that speaks the protocol from the test itself (hello done). */
async function protocolRunner(forge: Forge, name: string) {
  const runner = await addRunner(forge, { name, serverMaxParallel: 1 });
  const hello = await asRunner(forge, runner.token, '/hello', { public_key: randomBytes(32).toString('base64') });
  if (hello.status !== 200) throw new Error(`hello answered ${hello.status}`);
  return runner;
}

test('a task created while a runner is parked here goes to it in the creation\'s MULTI: no claim of its own, no wake-up, its events in order', async (t) => {
  const redis = await startRedis();
  const forge = await startForge({ env: { ...remote, FORGE_REDIS_URL: redis.url, FORGE_LONG_POLL_SEC: '20' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const runner = await protocolRunner(forge, 'parked');
  const poll = asRunner(forge, runner.token, '/jobs/next', { active: [] });
  await waitFor(async () => (await parkedWaiting(forge)) === 1, 15_000, { what: 'the runner\'s poll to park' });

  const events: Array<Record<string, unknown>> = [];
  const subscriber = connectRedis(t, redis.url);
  await subscriber.subscribe('forge:task-events');
  subscriber.on('message', (_channel, message: string) => events.push(JSON.parse(message)));
  /** Commands as Redis ran them, those inside a transaction between its MULTI and EXEC. */
  const commands: string[][] = [];
  const monitor = await connectRedis(t, redis.url).monitor();
  monitor.on('monitor', (_time: string, args: string[]) => commands.push(args.map(String)));
  t.teardown(() => monitor.disconnect());

  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const answer = await poll;
  t.is(answer.status, 200);
  t.is(answer.body.task_id, task.id);
  t.is(answer.body.attempt, 1);
  t.is(await metric(forge, 'forge_dispatch_handoffs_total'), 1);

  // The record's write and the claim of the queue (the script's ZPOPMIN of the waiting set) ran in one transaction.
  const recordSet = commands.findIndex((c) => c[0]?.toLowerCase() === 'set' && c[1]?.endsWith(`:task:${task.id}`) === true);
  t.true(recordSet >= 0, 'the task record was written');
  const begin = commands.slice(0, recordSet).map((c) => c[0]?.toLowerCase()).lastIndexOf('multi');
  const end = recordSet + commands.slice(recordSet).findIndex((c) => c[0]?.toLowerCase() === 'exec');
  const pops = commands.map((c, i) => [c, i] as const).filter(([c]) => c[0]?.toLowerCase() === 'zpopmin' && c[1]?.endsWith(':wait'));
  t.is(pops.length, 1, 'one claim of the queue');
  t.true(begin >= 0 && pops[0]![1] > begin && pops[0]![1] < end, 'the claim ran inside the MULTI that stored the task');

  // Live views see the task wait, then start; the waiting event names no queue (it wakes no runner).
  await waitFor(() => events.some((e) => e.id === task.id && e.status === 'starting'), 10_000, { what: 'the starting event' });
  const statuses = events.filter((e) => e.id === task.id && e.type === 'task');
  t.deepEqual(statuses.map((e) => e.status), ['waiting', 'starting']);
  t.is(statuses[0]!.queue, undefined);
});

test('ten tasks created together onto ten parked runners: each handed off in its creation, each claimed once, no claim finds nothing', async (t) => {
  const forge = await startForge({ env: { ...remote, FORGE_LONG_POLL_SEC: '20' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const runners = await Promise.all(Array.from({ length: 10 }, (_, i) => protocolRunner(forge, `burst-${i}`)));
  const polls = runners.map((runner) => asRunner(forge, runner.token, '/jobs/next', { active: [] }));
  await waitFor(async () => (await parkedWaiting(forge)) === 10, 15_000, { what: 'ten polls to park' });
  const emptyBefore = await metric(forge, 'forge_empty_claims_total');

  const tasks = await Promise.all(Array.from({ length: 10 }, () => startTask(forge.api, setup.projectId, setup.templateId)));
  const answers = await Promise.all(polls);
  t.true(answers.every((a) => a.status === 200 && a.body.attempt === 1));
  t.deepEqual(answers.map((a) => a.body.task_id).sort((a, b) => a - b), tasks.map((task) => task.id).sort((a, b) => a - b));
  t.is(await metric(forge, 'forge_dispatch_handoffs_total'), 10);
  t.is(await metric(forge, 'forge_empty_claims_total') - emptyBefore, 0);
  for (const task of tasks) t.is((await getTask(forge.api, setup.projectId, task.id)).status, 'starting');
});

/**
 * A TCP proxy between the server and Redis that, once armed, holds back what a connection sends
 * from the chunk that opens a MULTI writing a queue's waiting set (a task's creation) until released.
 */
async function holdingProxy(redisPort: number) {
  let armed = false;
  let holding: Array<() => void> | undefined;
  let held = false;
  const server = createServer((client) => {
    const upstream = connect(redisPort, '127.0.0.1');
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (armed && !held && /\r\nmulti\r\n/i.test(text) && text.includes(':wait')) {
        held = true;
        holding = [];
      }
      if (holding && held) holding.push(() => upstream.write(chunk));
      else upstream.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => server.close());
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arm: () => (armed = true),
    held: () => held,
    release() {
      armed = false;
      const pending = holding ?? [];
      holding = undefined;
      for (const write of pending) write();
    },
  };
}

test('a runner whose poll leaves while its hand-off is in flight: the job goes back and runs on the next runner, once', async (t) => {
  const redis = await startRedis();
  const proxy = await holdingProxy(redis.nodes[0]!.port!);
  const forge = await startForge({ env: { ...remote, FORGE_REDIS_URL: proxy.url, FORGE_LONG_POLL_SEC: '20' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const leaving = await protocolRunner(forge, 'leaving');
  const abort = new AbortController();
  const poll = fetch(`${forge.url}/api/internal/runners/jobs/next`, {
    method: 'POST', signal: abort.signal, headers: { 'content-type': 'application/json', 'x-runner-token': leaving.token }, body: JSON.stringify({ active: [] }),
  });
  poll.catch(() => {});
  await waitFor(async () => (await parkedWaiting(forge)) === 1, 15_000, { what: 'the leaving runner\'s poll to park' });

  // The creation's MULTI, with the claim for the parked poll in it, is held on its way to Redis.
  proxy.arm();
  const created = startTask(forge.api, setup.projectId, setup.templateId);
  try {
    await waitFor(() => proxy.held(), 15_000, { what: 'the creation\'s MULTI to reach the proxy' });
    abort.abort();
    await t.throwsAsync(poll, { any: true });
    // The server takes in the poll's close before a request on a new connection (the ping needs no Redis).
    t.is((await fetch(`${forge.url}/api/ping`)).status, 200);
  } finally {
    proxy.release();
  }
  const task = await created;
  await waitFor(async () => {
    const now = await getTask(forge.api, setup.projectId, task.id);
    return now.status === 'waiting' && now.attempt === 1;
  }, 15_000, { what: 'the claimed job to go back to its queue' });
  t.is(await metric(forge, 'forge_dispatch_handoffs_total'), 1, 'it was handed off');
  await startRunner(forge, { name: 'next' });
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000);
  t.is(done.status, 'success', done.error);
  t.is(done.runner_name, 'next');
  t.is(done.attempt, 2, 'claimed once by the hand-off, put back, claimed once more');
});
