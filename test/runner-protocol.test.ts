import test from 'ava';
import {
  cleanup, FINAL, makeBareRepo, setupTemplate, startForge, startTask, taskOutput, waitFor, waitForTask,
} from './helpers/index.js';
import { startProxy, type Exchange } from './helpers/proxy.js';
import { startRunner } from './helpers/runner.js';

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
  t.is(JSON.parse(hello!.responseBody).protocol, 2, 'the server says which protocol revision it speaks');

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
