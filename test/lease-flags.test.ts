/**
 * What a lease carries so later steps need not read again (task-transition.lua, lease-heartbeat.lua,
 * lease-expired.lua): `stop` (a heartbeat answers a stop from the lease, not the task record), and
 * `judged` (a verdict is pending: no heartbeat renews it, no report is accepted under it). Also
 * the two writes a task's creation no longer makes: the wake-up of parked runners is the task's own
 * creation event, and the audit lists are trimmed on some writes only, never read past their
 * retention. The runner is played over plain HTTP against a server on a Redis the test can read.
 */
import { generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import { cleanup, makeBareRepo, setupTemplate, startForge, startRedis, startTask, waitFor } from './helpers/index.js';

test.after.always(cleanup);

const publicKey = () => generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
const idle = { version: 'test', capabilities: [], active: [], draining: false };

async function rawRunner(forge: Awaited<ReturnType<typeof startForge>>) {
  const runner = await forge.api.json<{ id: number; token: string }>('POST', '/api/runners', { name: 'raw', max_parallel_tasks: 2 });
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${forge.url}/api/internal/runners${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': runner.token }, body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  if ((await post('/hello', { ...idle, public_key: publicKey() })).status !== 200) throw new Error('hello refused');
  return { post, id: runner.id };
}

async function runningTask(t: { is: (a: unknown, b: unknown, m?: string) => void }) {
  const redis = await startRedis();
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_REDIS_URL: redis.url } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const runner = await rawRunner(forge);
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const claim = await runner.post('/jobs/next', idle);
  t.is(claim.body.task_id, task.id);
  t.is((await runner.post(`/jobs/${task.id}/running`, { attempt: claim.body.attempt })).status, 200);
  const lease = async () => JSON.parse((await redis.cli(['HGET', '{forge}:leases', String(task.id)])).trim()) as Record<string, unknown>;
  const setLease = async (value: Record<string, unknown>) => redis.cli(['HSET', '{forge}:leases', String(task.id), JSON.stringify(value)]);
  const beat = async () => (await runner.post('/heartbeat', { ...idle, active: [{ task_id: task.id, attempt: claim.body.attempt }] })).body as { stop: number[]; lost: number[] };
  return { redis, forge, setup, runner, task, attempt: claim.body.attempt as number, lease, setLease, beat };
}

test('a heartbeat answers a stop from the lease the stop wrote, and from the record for a lease without the flag (taken by an older version)', async (t) => {
  const { forge, setup, task, lease, setLease, beat } = await runningTask(t);
  t.is((await lease()).stop, false, 'a claim takes the lease with stop: false');
  t.deepEqual(await beat(), { stop: [], lost: [] });

  t.is((await forge.api.post(`/api/project/${setup.projectId}/tasks/${task.id}/stop`, {})).status, 204);
  t.is((await lease()).stop, true, 'the stop\'s move marked the lease');
  t.deepEqual(await beat(), { stop: [task.id], lost: [] });

  // A lease as an older version wrote it has no `stop`: the heartbeat reads the record for it.
  const { stop: _stop, ...older } = await lease();
  await setLease(older);
  t.deepEqual(await beat(), { stop: [task.id], lost: [] });
});

test('a lease with a verdict pending (judged) is no longer held: the heartbeat answers it lost and the reports under it are refused', async (t) => {
  const { task, attempt, runner, lease, setLease, beat, redis } = await runningTask(t);
  t.deepEqual(await beat(), { stop: [], lost: [] });
  const expiryBefore = Number((await redis.cli(['ZSCORE', '{forge}:lease-expiry', String(task.id)])).trim());
  await setLease({ ...(await lease()), judged: true });
  t.deepEqual(await beat(), { stop: [], lost: [task.id] });
  t.is(Number((await redis.cli(['ZSCORE', '{forge}:lease-expiry', String(task.id)])).trim()), expiryBefore, 'the heartbeat did not renew it');
  const late = await runner.post(`/jobs/${task.id}/output`, { attempt, lines: [{ seq: 1, time: new Date().toISOString(), output: 'late' }] });
  t.is(late.status, 200, 'late lines of a run this server saw start are still kept');
  t.is((await runner.post(`/jobs/${task.id}/result`, { attempt, status: 'success', exit_code: 0 })).status, 409);
});

test('a parked idle poll is answered by a new task\'s creation event, the queue learned from it (no wake-up sweep needed)', async (t) => {
  // A sweep needs two sightings of waiting work, 2 s apart: the creation event comes well before.
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_WAKE_SWEEP_MS: '2000', FORGE_LONG_POLL_SEC: '20' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const runner = await rawRunner(forge);
  const parked = runner.post('/jobs/next', { ...idle, version: 'parked-poll' });
  await waitFor(async () => (await forge.api.json<Array<{ id: number; version: string }>>('GET', '/api/runners')).find((r) => r.id === runner.id)?.version === 'parked-poll', 15_000, { what: 'the poll to be parked' });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const answer = await parked;
  t.is(answer.status, 200, 'the parked poll was answered with the task');
  t.is(answer.body.task_id, task.id);
  t.notRegex(forge.logs(), /wake-up sweep/, 'the creation event woke it, not the sweep');
});

test('audit lists: reads give exactly the newest `events_retention` entries while writes trim only some of the time', async (t) => {
  const redis = await startRedis();
  const forge = await startForge({ env: { FORGE_REDIS_URL: redis.url, FORGE_EVENTS_RETENTION: '100' } });
  const project = await forge.api.json<{ id: number }>('POST', '/api/projects', { name: 'audited' });
  const writes = 260;
  for (let i = 0; i < writes; i++) await forge.api.json('POST', `/api/project/${project.id}/keys`, { name: `k${i}`, type: 'none' });
  for (const [path, key] of [['/api/events', '{forge}:events'], [`/api/project/${project.id}/events`, `{forge}:events:p${project.id}`]] as const) {
    const events = await forge.api.json<Array<{ id: number }>>('GET', path);
    t.is(events.length, 100, `${path} answers the retention`);
    const ids = events.map((e) => e.id);
    t.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
    const stored = Number((await redis.cli(['LLEN', key])).trim());
    // Trimmed on one write in 16 on average: 260 writes with no trim would be a 1 in 10^7 chance.
    t.true(stored >= 100 && stored < 100 + writes, `${key} holds ${stored}`);
  }
});

test('a task\'s life leaves no index entry behind: queued, then claimed under its lease, then none of it', async (t) => {
  const redis = await startRedis();
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_REDIS_URL: redis.url } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const runner = await rawRunner(forge);
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const id = String(task.id);
  const queue = `{tasks-p${setup.projectId}-_}`;
  const ask = async (args: string[]) => (await redis.cli(args)).trim();
  const entries = async () => ({
    waiting: await ask(['ZSCORE', `${queue}:wait`, id]), claimed: await ask(['ZSCORE', `${queue}:active`, id]),
    projectActive: await ask(['SISMEMBER', `{forge}:tasks:active:p${setup.projectId}`, id]), lease: await ask(['HEXISTS', '{forge}:leases', id]),
    expiry: await ask(['ZSCORE', '{forge}:lease-expiry', id]), runnerTasks: await ask(['SISMEMBER', `{forge}:runner-tasks:${runner.id}`, id]),
    finished: await ask(['ZSCORE', '{forge}:tasks:finished', id]),
  });
  t.like(await entries(), { waiting: id, claimed: '', projectActive: '0', lease: '0', expiry: '', runnerTasks: '0', finished: '' });
  const claim = await runner.post('/jobs/next', idle);
  t.is(claim.body.task_id, task.id);
  const held = await entries();
  t.like(held, { waiting: '', projectActive: '1', lease: '1', runnerTasks: '1', finished: '' });
  t.not(held.claimed, '');
  t.not(held.expiry, '');
  t.is((await runner.post(`/jobs/${task.id}/running`, { attempt: claim.body.attempt })).status, 200);
  t.is((await runner.post(`/jobs/${task.id}/result`, { attempt: claim.body.attempt, status: 'success', exit_code: 0 })).status, 200);
  const after = await entries();
  t.like(after, { waiting: '', claimed: '', projectActive: '0', lease: '0', expiry: '', runnerTasks: '0' });
  t.not(after.finished, '');
});
