/**
 * A parked long-poll's cost: a runner that reports a free slot and finds nothing to claim parks
 * without counting its slots in Redis (the SCARD was most of a parked poll's server CPU). The
 * claim a wake-up brings still counts them, in the move that takes the lease: a runner the server
 * holds full gets no second task, whatever its poll says.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import {
  FINAL, cleanup, commandCalls, getTask, makeBareRepo, setupTemplate, startForge, startRedis, startTask, waitFor, waitForTask,
} from './helpers/index.js';
import { addRunner, asRunner, startRunner } from './helpers/runner.js';

test.after.always(cleanup);

const remote = { FORGE_USE_REMOTE_RUNNER: 'True' };

test('an idle runner\'s polls park without a slot count; with work waiting it claims', async (t) => {
  const redis = await startRedis();
  const forge = await startForge({ env: { ...remote, FORGE_REDIS_URL: redis.url, FORGE_LONG_POLL_SEC: '1' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const runner = await addRunner(forge, { serverMaxParallel: 1 });
  t.is((await asRunner(forge, runner.token, '/hello', { public_key: randomBytes(32).toString('base64') })).status, 200);
  const before = await commandCalls(redis, 'scard');
  for (let poll = 0; poll < 3; poll++) t.is((await asRunner(forge, runner.token, '/jobs/next', { active: [] })).status, 204);
  t.is(await commandCalls(redis, 'scard') - before, 0, 'three idle polls, no SCARD');
  // With a job waiting, the claim counts the runner's slots in the move that takes its lease (one SCARD, inside the script) and hands it over.
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const claim = await asRunner(forge, runner.token, '/jobs/next', { active: [] });
  t.is(claim.status, 200);
  t.is(claim.body.task_id, task.id);
  t.true(await commandCalls(redis, 'scard') - before >= 1);
});

test('a runner the server holds full gets no second task though its poll reports none; an idle runner takes it', async (t) => {
  const forge = await startForge({ env: { ...remote, FORGE_LONG_POLL_SEC: '5', FORGE_RUNNER_LEASE_SEC: '60' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  // A runner with one slot that claims and then forgets its task (as one restarted would): its
  // lease stays with the server, its polls say it runs nothing.
  const forgetful = await addRunner(forge, { name: 'forgetful', serverMaxParallel: 1 });
  t.is((await asRunner(forge, forgetful.token, '/hello', { public_key: randomBytes(32).toString('base64') })).status, 200);
  const first = await startTask(forge.api, setup.projectId, setup.templateId);
  t.is((await asRunner(forge, forgetful.token, '/jobs/next', { active: [] })).body.task_id, first.id);
  const pollSent = Date.now();
  const poll = asRunner(forge, forgetful.token, '/jobs/next', { active: [] });
  // Parked: the parked runners' status write (every 2 s) has seen this poll.
  await waitFor(async () => {
    const view = await forge.api.json('GET', `/api/runners/${forgetful.id}`);
    return view.touched && Date.parse(view.touched) > pollSent;
  }, 15_000, { what: 'the forgetful runner\'s poll to be parked' });
  const second = await startTask(forge.api, setup.projectId, setup.templateId);
  const answer = await poll;
  t.is(answer.status, 204, 'the server counted the slot as taken: no second task');
  t.is((await getTask(forge.api, setup.projectId, second.id)).status, 'waiting');
  await startRunner(forge, { name: 'idle' });
  const done = await waitForTask(forge.api, setup.projectId, second.id, FINAL, 60_000);
  t.is(done.status, 'success', done.error);
  t.is(done.runner_name, 'idle');
});

test('a poll its runner gave up before the server read it claims nothing: the task waits for a runner that is there', async (t) => {
  const forge = await startForge({ env: { ...remote, FORGE_LONG_POLL_SEC: '2' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const runner = await addRunner(forge, { serverMaxParallel: 1 });
  t.is((await asRunner(forge, runner.token, '/hello', { public_key: randomBytes(32).toString('base64') })).status, 200);
  const task = await startTask(forge.api, setup.projectId, setup.templateId);

  // A server far behind (here: stopped) reads a poll only after its runner gave up on it: the
  // request and the runner's close arrive together.
  forge.process.kill('SIGSTOP');
  const body = JSON.stringify({ active: [] });
  const { port } = new URL(forge.url);
  const abandoned = connect(Number(port), '127.0.0.1');
  await once(abandoned, 'connect');
  abandoned.end([
    'POST /api/internal/runners/jobs/next HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`, `X-Runner-Token: ${runner.token}`, '', body,
  ].join('\r\n'));
  await once(abandoned, 'finish');
  forge.process.kill('SIGCONT');
  // The server answers on a new connection only after it took in the one already waiting.
  await fetch(`${forge.url}/api/ping`);

  const claim = await asRunner(forge, runner.token, '/jobs/next', { active: [] });
  t.is(claim.status, 200, 'the runner that is there gets the task');
  t.is(claim.body.task_id, task.id);
  t.is((await getTask(forge.api, setup.projectId, task.id)).attempt, 1, 'claimed once: no claim was made for the abandoned poll and requeued');
});

test('a poll that finds work as it arrives counts its runner\'s slots first: a full runner takes no job and puts none back', async (t) => {
  const redis = await startRedis();
  const forge = await startForge({ env: { ...remote, FORGE_REDIS_URL: redis.url, FORGE_LONG_POLL_SEC: '1', FORGE_RUNNER_LEASE_SEC: '60' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  // Its one slot is held (as right after its result, before the reconciler dropped the lease), its report says none.
  const runner = await addRunner(forge, { serverMaxParallel: 1 });
  t.is((await asRunner(forge, runner.token, '/hello', { public_key: randomBytes(32).toString('base64') })).status, 200);
  const first = await startTask(forge.api, setup.projectId, setup.templateId);
  t.is((await asRunner(forge, runner.token, '/jobs/next', { active: [] })).body.task_id, first.id);
  const second = await startTask(forge.api, setup.projectId, setup.templateId);
  const popsBefore = await commandCalls(redis, 'zpopmin');
  const scardsBefore = await commandCalls(redis, 'scard');
  t.is((await asRunner(forge, runner.token, '/jobs/next', { active: [] })).status, 204, 'full by the server\'s count: no second task');
  t.is(await commandCalls(redis, 'zpopmin') - popsBefore, 0, 'the waiting job was never taken from its queue');
  t.true(await commandCalls(redis, 'scard') - scardsBefore >= 1, 'the slots were counted');
  t.is((await getTask(forge.api, setup.projectId, second.id)).status, 'waiting');
});
