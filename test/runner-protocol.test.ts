import { generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import {
  cleanup, FINAL, makeBareRepo, setupTemplate, startForge, startTask, taskOutput, waitFor, waitForTask,
} from './helpers/index.js';
import { startProxy, type Exchange } from './helpers/proxy.js';
import { asRunner, startRunner } from './helpers/runner.js';

test.after.always(cleanup);

const remote = { FORGE_USE_REMOTE_RUNNER: 'True' };
const jobPath = (taskId: number, what: string) => `/api/internal/runners/jobs/${taskId}/${what}`;
/** The task is final before the result's answer crosses the proxy back: wait for the exchange too. */
const resultAnswered = (proxy: { exchanges: Exchange[] }, taskId: number) =>
  waitFor(() => proxy.exchanges.some((e) => e.path === jobPath(taskId, 'result')), 15_000, { what: 'the result\'s answer' });
const linesIn = (exchange: Exchange): Array<{ seq: number; output: string }> => (JSON.parse(exchange.requestBody) as { lines?: Array<{ seq: number; output: string }> }).lines ?? [];

test('protocol revision 2: output travels inside the start report and the result, each line once and in order', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo first; echo second >&2; echo third\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const proxy = await startProxy(forge.url);
  await startRunner(forge, { webHost: proxy.url });
  const hello = proxy.exchanges.find((e) => e.path.endsWith('/hello'));
  t.is(JSON.parse(hello!.responseBody).protocol, 3, 'the server says which protocol revision it speaks');

  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000);
  t.is(done.status, 'success');
  await resultAnswered(proxy, task.id);
  const output = (await taskOutput(forge.api, setup.projectId, task.id)).map((l) => l.output);
  const app = output.filter((l) => ['first', 'second', 'third'].includes(l));
  t.deepEqual(app.filter((l) => l !== 'second'), ['first', 'third'], 'stdout in order');
  t.true(app.includes('second'));
  t.regex(output[0]!, /^Cloning /, 'the clone\'s lines come first');
  t.true(output.findIndex((l) => l.startsWith('Checked out')) < output.findIndex((l) => l.startsWith('$ bash')), 'the start report\'s lines precede the app\'s');

  const ofTask = proxy.exchanges.filter((e) => e.path.startsWith(jobPath(task.id, '')));
  const kinds = ofTask.map((e) => e.path.slice(jobPath(task.id, '').length));
  t.deepEqual(kinds.filter((k) => k !== 'output'), ['running', 'result']);
  // Output requests of their own go only when a window (1 s) closes first: the bench counts them per task.
  t.log(`output requests of their own: ${kinds.filter((k) => k === 'output').length}`);
  t.true(linesIn(ofTask.find((e) => e.path.endsWith('/running'))!).some((l) => l.output.startsWith('Checked out')), 'the start report carries the lines before it');
  const carried = ofTask.flatMap(linesIn);
  t.deepEqual(carried.map((l) => l.seq), carried.map((_, i) => i + 1), 'every line numbered once, in order');
  t.deepEqual(carried.map((l) => l.output), output, 'what the requests carried is exactly what the task shows');
});

test('with a server of protocol revision 1 (no `protocol` in its hello answer) the runner sends output on its own requests, and this server takes them', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'for i in $(seq 1 30); do echo "line $i"; done\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const proxy = await startProxy(forge.url, {
    afterForward: (exchange) => {
      if (!exchange.path.endsWith('/hello')) return undefined;
      const { protocol: _dropped, ...older } = JSON.parse(exchange.responseBody) as Record<string, unknown>;
      return JSON.stringify(older);
    },
  });
  await startRunner(forge, { webHost: proxy.url });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000);
  t.is(done.status, 'success');
  await resultAnswered(proxy, task.id);
  const reports = proxy.exchanges.filter((e) => e.path === jobPath(task.id, 'running') || e.path === jobPath(task.id, 'result'));
  t.is(reports.length, 2);
  t.deepEqual(reports.flatMap(linesIn), [], 'nothing an older server would drop');
  t.true(proxy.count(jobPath(task.id, 'output')) >= 1);
  const lines = (await taskOutput(forge.api, setup.projectId, task.id)).map((l) => l.output).filter((l) => l.startsWith('line '));
  t.deepEqual(lines, Array.from({ length: 30 }, (_, i) => `line ${i + 1}`));
});

test('output inside the result of a task no longer held is refused with it, and a start report with lines is checked like an output batch', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'sleep 2\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  await startRunner(forge);
  const other = await forge.api.json('POST', '/api/runners', { name: 'intruder' });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitForTask(forge.api, setup.projectId, task.id, ['running']);
  const post = (path: string, body: unknown) => fetch(`${forge.url}${jobPath(task.id, path)}`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': other.token }, body: JSON.stringify(body),
  });
  const forged = [{ seq: 99, time: 'now', output: 'forged' }];
  for (const [path, body] of [['result', { attempt: 1, status: 'success', lines: forged }], ['running', { attempt: 1, lines: forged }]] as const) {
    const answer = await post(path, body);
    t.is(answer.status, 403, path);
  }
  const bad = await post('result', { attempt: 1, status: 'success', lines: [{ seq: 0, time: 'now', output: 'x' }] });
  t.is(bad.status, 400);
  t.regex((await bad.json()).error, /lines/, 'the answer names the field');
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 30_000);
  t.is(done.status, 'success');
  t.false((await taskOutput(forge.api, setup.projectId, task.id)).some((l) => l.output === 'forged'));
});

/** Each result's request and answer for these tasks, in the order answered. */
const resultsOf = (proxy: { exchanges: Exchange[] }, ids: number[]) => proxy.exchanges
  .filter((e) => ids.some((id) => e.path === jobPath(id, 'result')))
  .map((e) => ({ asked: (JSON.parse(e.requestBody) as { next?: { active: unknown[] } }).next, job: (JSON.parse(e.responseBody) as { job?: { task_id: number; sealed_payload: string } }).job }));
const polledJobs = (proxy: { exchanges: Exchange[] }) => proxy.exchanges
  .filter((e) => e.path.endsWith('/jobs/next') && e.status === 200).map((e) => (JSON.parse(e.responseBody) as { task_id: number }).task_id);

test('protocol revision 3: a runner whose every slot is taken gets its next job inside its result, with no poll between', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo ran\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const tasks = [];
  for (let i = 0; i < 3; i++) tasks.push(await startTask(forge.api, setup.projectId, setup.templateId));
  const proxy = await startProxy(forge.url);
  await startRunner(forge, { webHost: proxy.url, maxParallel: 1 });
  for (const task of tasks) t.is((await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000)).status, 'success');
  await resultAnswered(proxy, tasks[2]!.id);
  t.deepEqual(polledJobs(proxy), [tasks[0]!.id], 'only the first job came by a poll');
  const results = resultsOf(proxy, tasks.map((task) => task.id));
  t.deepEqual(results.map((r) => r.job?.task_id ?? null), [tasks[1]!.id, tasks[2]!.id, null], 'each result brought the next job while there was one');
  t.true(results.every((r) => r.asked !== undefined && r.asked.active.length === 0), 'each asked with its state once its task was done');
  t.true(results.slice(0, 2).every((r) => r.job!.sealed_payload.length > 0 && !JSON.stringify(r.job).includes('run.sh')), 'the job is sealed as a polled one');
  // With the queue empty the runner polls again, as before.
  await waitFor(() => proxy.count('/jobs/next') > 1, 15_000, { what: 'the runner to poll again' });
});

test('a runner polls for each job from a server of revision 2, and asks no job of it in its results', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo ran\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const tasks = [await startTask(forge.api, setup.projectId, setup.templateId), await startTask(forge.api, setup.projectId, setup.templateId)];
  const proxy = await startProxy(forge.url, {
    afterForward: (exchange) => (exchange.path.endsWith('/hello') ? JSON.stringify({ ...JSON.parse(exchange.responseBody), protocol: 2 }) : undefined),
  });
  await startRunner(forge, { webHost: proxy.url, maxParallel: 1 });
  for (const task of tasks) t.is((await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000)).status, 'success');
  await resultAnswered(proxy, tasks[1]!.id);
  t.deepEqual(polledJobs(proxy), tasks.map((task) => task.id));
  t.deepEqual(resultsOf(proxy, tasks.map((task) => task.id)).map((r) => [r.asked, r.job]), [[undefined, undefined], [undefined, undefined]]);
});

test('a result hands out a job only when it asks for one, and never to a draining runner', async (t) => {
  const forge = await startForge({ env: remote });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const runner = await forge.api.json<{ id: number; token: string }>('POST', '/api/runners', { name: 'raw', max_parallel_tasks: 1 });
  const idle = { version: 'test', capabilities: [], active: [], draining: false };
  const key = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
  t.is((await asRunner(forge, runner.token, '/hello', { ...idle, public_key: key })).status, 200);
  const tasks = [];
  for (let i = 0; i < 4; i++) tasks.push(await startTask(forge.api, setup.projectId, setup.templateId));
  const finish = async (claim: { task_id: number; attempt: number }, next?: unknown) => {
    t.is((await asRunner(forge, runner.token, `/jobs/${claim.task_id}/running`, { attempt: claim.attempt })).status, 200);
    const answer = await asRunner(forge, runner.token, `/jobs/${claim.task_id}/result`, { attempt: claim.attempt, status: 'success', ...(next ? { next } : {}) });
    t.is(answer.status, 200);
    return answer.body as { ok: boolean; job?: { task_id: number; attempt: number } };
  };
  const first = (await asRunner(forge, runner.token, '/jobs/next', idle)).body;
  t.is(first.task_id, tasks[0]!.id);
  t.deepEqual(await finish(first), { ok: true }, 'a result that does not ask (revision 2) gets no job, though jobs wait');
  const second = (await asRunner(forge, runner.token, '/jobs/next', idle)).body;
  t.deepEqual(await finish(second, { ...idle, draining: true }), { ok: true }, 'nor does a draining runner');
  const third = (await asRunner(forge, runner.token, '/jobs/next', idle)).body;
  const answer = await finish(third, idle);
  t.is(answer.job?.task_id, tasks[3]!.id, 'a result that asks gets the next job');
  t.is((await forge.api.json<{ status: string; runner_id: number }>('GET', `/api/project/${setup.projectId}/tasks/${tasks[3]!.id}`)).status, 'starting');
  const last = await asRunner(forge, runner.token, `/jobs/${answer.job!.task_id}/result`, { attempt: answer.job!.attempt, status: 'success', next: idle });
  t.deepEqual(last.body, { ok: true }, 'with no job left, the answer is the plain one');
});
