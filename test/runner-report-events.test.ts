/**
 * The task events of a runner's reports, now that each report publishes one: a start report with
 * lines and a result with lines still reach a live view (lines, status and end), and a task's
 * final event is what frees its runner's slot for a poll parked as full; its final move also drops
 * its extras (no DEL of their own after it). The runner is played over
 * plain HTTP, so what each request does is seen on its own.
 */
import { generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import { cleanup, makeBareRepo, setupTemplate, SseStream, startForge, startRedis, startTask, waitFor, waitForTask } from './helpers/index.js';

test.after.always(cleanup);

const publicKey = () => generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
const idle = { version: 'test', capabilities: [], active: [], draining: false };

async function rawRunner(forge: Awaited<ReturnType<typeof startForge>>, maxParallel: number) {
  const runner = await forge.api.json<{ id: number; token: string }>('POST', '/api/runners', { name: `raw-${maxParallel}`, max_parallel_tasks: maxParallel });
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${forge.url}/api/internal/runners${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': runner.token }, body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const hello = await post('/hello', { ...idle, public_key: publicKey() });
  if (hello.status !== 200) throw new Error(`hello answered ${hello.status}`);
  return { post, id: runner.id };
}

const line = (seq: number, output: string) => ({ seq, time: new Date().toISOString(), output });

test('a live view gets the lines and the status of a start report with lines, then the result\'s lines and the end', async (t) => {
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const { post } = await rawRunner(forge, 1);
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const claim = await post('/jobs/next', idle);
  t.is(claim.status, 200);
  t.is(claim.body.task_id, task.id);
  const url = `${forge.url}/api/project/${setup.projectId}/tasks/${task.id}/output/stream`;
  const stream = await SseStream.open(url, forge.api.authHeaders());
  t.teardown(() => stream.close());
  await stream.readUntil((e) => e.event === 'status' && JSON.parse(e.data).status === 'starting');

  const running = await post(`/jobs/${task.id}/running`, { attempt: claim.body.attempt, commit_hash: 'c0ffee', commit_message: 'm', lines: [line(1, 'before the start')] });
  t.is(running.status, 200);
  t.is(running.body.acked, 1);
  const started = await stream.readUntil((e) => e.event === 'status' && JSON.parse(e.data).status === 'running', 30_000);
  t.true(started.some((e) => e.event === 'line' && JSON.parse(e.data).output === 'before the start'), 'the start report\'s line reached the live view');

  const result = await post(`/jobs/${task.id}/result`, { attempt: claim.body.attempt, status: 'success', exit_code: 0, lines: [line(2, 'the last line')] });
  t.is(result.status, 200);
  const ended = await stream.readUntil((e) => e.event === 'end', 30_000);
  t.true(ended.some((e) => e.event === 'line' && JSON.parse(e.data).output === 'the last line'), 'the result\'s line reached the live view before the end');
  t.is(JSON.parse(ended.at(-1)!.data).status, 'success');

  // The same report again (its answer was lost): refused as no longer assigned, nothing changes.
  const again = await post(`/jobs/${task.id}/result`, { attempt: claim.body.attempt, status: 'error', exit_code: 1 });
  t.is(again.status, 409);
  t.is((await waitForTask(forge.api, setup.projectId, task.id, ['success'])).exit_code, 0);
});

test('a poll parked as full is answered with the next task as soon as its runner\'s task ends (its final task event frees the slot)', async (t) => {
  // A full runner's own recheck comes after 5 sweeps (10 s here), past its 8 s poll: without the
  // task event the poll would run out and answer 204.
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_WAKE_SWEEP_MS: '2000', FORGE_LONG_POLL_SEC: '8' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const { post, id } = await rawRunner(forge, 1);
  const first = await startTask(forge.api, setup.projectId, setup.templateId);
  const claim = await post('/jobs/next', idle);
  t.is(claim.body.task_id, first.id);
  t.is((await post(`/jobs/${first.id}/running`, { attempt: claim.body.attempt })).status, 200);
  const second = await startTask(forge.api, setup.projectId, setup.templateId);
  // The server counts the first task against the runner's one slot: this poll parks as full. The
  // parked polls' state is written every 2 s: its version shows once the poll is parked.
  const parked = post('/jobs/next', { ...idle, version: 'parked-poll' });
  await waitFor(async () => (await forge.api.json<Array<{ id: number; version: string }>>('GET', '/api/runners')).find((r) => r.id === id)?.version === 'parked-poll', 15_000, { what: 'the poll to be parked' });
  t.is((await post(`/jobs/${first.id}/result`, { attempt: claim.body.attempt, status: 'success', exit_code: 0 })).status, 200);
  const next = await parked;
  t.is(next.status, 200, 'the parked poll was answered with a task, not left to run out');
  t.is(next.body.task_id, second.id);
  t.notRegex(forge.logs(), /wake-up was missed/);
});

test('a task\'s extras (its secret answers) go with its final move', async (t) => {
  const redis = await startRedis();
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_REDIS_URL: redis.url } });
  const setup = await setupTemplate(forge.api, {
    gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path, template: { survey_vars: [{ name: 'token', title: 'Token', type: 'secret', required: true }] },
  });
  const { post } = await rawRunner(forge, 1);
  // A secret survey answer is kept as the task's extras (encrypted), from its creation to its end.
  const task = await startTask(forge.api, setup.projectId, setup.templateId, { environment: JSON.stringify({ token: 'an-answer' }) });
  const extras = `{forge}:task-extras:${task.id}`;
  t.is((await redis.cli(['EXISTS', extras])).trim(), '1', 'stored with the task');
  const claim = await post('/jobs/next', idle);
  t.is(claim.body.task_id, task.id);
  // Read by the claim's own move (to build the job), and kept until the task ends.
  t.is((await post(`/jobs/${task.id}/running`, { attempt: claim.body.attempt })).status, 200);
  t.is((await redis.cli(['EXISTS', extras])).trim(), '1', 'kept while the task runs');
  t.is((await post(`/jobs/${task.id}/result`, { attempt: claim.body.attempt, status: 'success', exit_code: 0 })).status, 200);
  t.is((await redis.cli(['EXISTS', extras])).trim(), '0', 'gone once the result is answered');
});
