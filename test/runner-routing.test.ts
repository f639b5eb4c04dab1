import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  cleanup, createProject, FINAL, getTask, makeBareRepo, outputText, setupTemplate, startForge, startTask, waitFor, waitForTask,
} from './helpers/index.js';
import { startRunner } from './helpers/runner.js';

test.after.always(cleanup);

const remote = { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_RUNNER_LEASE_SEC: '3' };

test('tag routing: 50 tasks land only on runners with the required tag; untagged ones run anywhere', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo "ran $FORGE_TASK_ID"\n' });
  const gpu = await setupTemplate(forge.api, { gitUrl: repo.path, template: { runner_tag: 'gpu' } });
  const arm = await setupTemplate(forge.api, { gitUrl: repo.path, projectId: gpu.projectId, template: { runner_tag: 'arm' } });
  const any = await setupTemplate(forge.api, { gitUrl: repo.path, projectId: gpu.projectId });
  const [gpuRunner, armRunner] = await Promise.all([
    startRunner(forge, { tags: ['gpu', 'linux'], maxParallel: 3 }),
    startRunner(forge, { tags: ['arm'], maxParallel: 3 }),
  ]);
  const templates = [gpu, arm, any];
  const created = [];
  for (let i = 0; i < 50; i++) {
    const setup = templates[i % 3]!;
    created.push({ tag: setup === gpu ? 'gpu' : setup === arm ? 'arm' : '', task: await startTask(forge.api, setup.projectId, setup.templateId) });
  }
  const done = await Promise.all(created.map(({ task }) => waitForTask(forge.api, gpu.projectId, task.id, FINAL, 60_000)));
  t.true(done.every((task) => task.status === 'success'), JSON.stringify(done.filter((x) => x.status !== 'success')));
  for (const [index, { tag }] of created.entries()) {
    const ranOn = done[index]!.runner_name;
    if (tag === 'gpu') t.is(ranOn, gpuRunner.name);
    else if (tag === 'arm') t.is(ranOn, armRunner.name);
    else t.true([gpuRunner.name, armRunner.name].includes(ranOn));
  }
  // Both runners' own logs agree with the server's records.
  const gpuTasks = new Set(gpuRunner.startedTasks());
  for (const [index, { tag }] of created.entries()) if (tag === 'arm') t.false(gpuTasks.has(done[index]!.id));
});

test('a task with no matching runner waits and says why, then runs when one comes', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo hi\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, template: { runner_tag: 'gpu' } });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  t.is(task.status, 'waiting');
  t.regex(task.waiting_reason, /no runner has tag "gpu"/);
  const runner = await startRunner(forge, { tags: ['arm'] });
  const stillWaiting = await getTask(forge.api, setup.projectId, task.id);
  t.is(stillWaiting.status, 'waiting');
  await runner.stop('SIGKILL');
  const gpu = await startRunner(forge, { tags: ['gpu'] });
  const finished = await waitForTask(forge.api, setup.projectId, task.id);
  t.is(finished.status, 'success');
  t.is(finished.runner_name, gpu.name);
});

test('waiting reason distinguishes an offline runner from a missing one', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo hi\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, template: { runner_tag: 'db' } });
  await forge.api.json('POST', '/api/runners', { name: 'db-runner', tags: ['db'] }); // registered, never started
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  t.regex(task.waiting_reason, /no online runner has tag "db"/);
});

test('project runners serve only their project', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo hi\n' });
  const p1 = await setupTemplate(forge.api, { gitUrl: repo.path });
  const p2 = await setupTemplate(forge.api, { gitUrl: repo.path, projectId: await createProject(forge.api, 'other') });
  const runner = await startRunner(forge, { projectId: p1.projectId });
  const own = await startTask(forge.api, p1.projectId, p1.templateId);
  const foreign = await startTask(forge.api, p2.projectId, p2.templateId);
  t.is((await waitForTask(forge.api, p1.projectId, own.id)).runner_name, runner.name);
  const waiting = await getTask(forge.api, p2.projectId, foreign.id);
  t.is(waiting.status, 'waiting');
  t.regex(waiting.waiting_reason, /no runner is registered for this project/);
  t.false(runner.startedTasks().includes(foreign.id));
  // The project's runner list shows it; the global list does not.
  t.is((await forge.api.json('GET', `/api/project/${p1.projectId}/runners`)).length, 1);
  t.is((await forge.api.json('GET', '/api/runners')).length, 0);
});

test('max_parallel_tasks holds on the runner and on the server', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'sleep 0.6\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  // The runner takes 5 at once; after it started, an admin lowers its record to 2: the server holds that.
  const runner = await startRunner(forge, { maxParallel: 5 });
  await forge.api.json('PUT', `/api/runners/${runner.id}`, { max_parallel_tasks: 2 });
  const tasks = [];
  for (let i = 0; i < 6; i++) tasks.push(await startTask(forge.api, setup.projectId, setup.templateId));
  const done = await Promise.all(tasks.map((task) => waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000)));
  t.true(done.every((task) => task.status === 'success'));
  const events = done.flatMap((task) => [{ at: Date.parse(task.start!), delta: 1 }, { at: Date.parse(task.end!), delta: -1 }]);
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let running = 0;
  let peak = 0;
  for (const event of events) peak = Math.max(peak, (running += event.delta));
  t.is(peak, 2);

  // And a runner configured for 1 never runs two at once, whatever the server allows.
  const forge2 = await startForge({ env: remote });
  const setup2 = await setupTemplate(forge2.api, { gitUrl: repo.path });
  await startRunner(forge2, { maxParallel: 1 });
  const tasks2 = [];
  for (let i = 0; i < 3; i++) tasks2.push(await startTask(forge2.api, setup2.projectId, setup2.templateId));
  const done2 = await Promise.all(tasks2.map((task) => waitForTask(forge2.api, setup2.projectId, task.id, FINAL, 60_000)));
  const sorted = done2.sort((a, b) => Date.parse(a.start!) - Date.parse(b.start!));
  for (let i = 1; i < sorted.length; i++) t.true(Date.parse(sorted[i]!.start!) >= Date.parse(sorted[i - 1]!.end!) - 5);
});

test('several runners share the load', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'sleep 0.3\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const runners = await Promise.all([1, 2, 3].map(() => startRunner(forge, { maxParallel: 1 })));
  const tasks = [];
  for (let i = 0; i < 9; i++) tasks.push(await startTask(forge.api, setup.projectId, setup.templateId));
  const done = await Promise.all(tasks.map((task) => waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000)));
  const used = new Set(done.map((task) => task.runner_name));
  t.is(used.size, 3, `tasks ran on ${[...used].join(', ')}`);
  t.deepEqual(runners.map((r) => r.name).sort(), [...used].sort());
});

test('one_off runner exits after its task; the webhook hears start and finish', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo once\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const calls: Array<{ event: string; task_id: number; status: string }> = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      calls.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  t.teardown(() => hook.close());
  const runner = await startRunner(forge, { oneOff: true, webhook: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook` });
  const first = await startTask(forge.api, setup.projectId, setup.templateId);
  const second = await startTask(forge.api, setup.projectId, setup.templateId);
  t.is((await waitForTask(forge.api, setup.projectId, first.id)).status, 'success');
  const exit = await runner.exited;
  t.is(exit.code, 0);
  t.is((await getTask(forge.api, setup.projectId, second.id)).status, 'waiting');
  t.true((await outputText(forge.api, setup.projectId, first.id)).includes('once'));
  await waitFor(() => calls.length >= 2, 5000, { what: 'two webhook calls' });
  t.deepEqual(calls.map((c) => [c.event, c.task_id]), [['task_started', first.id], ['task_finished', first.id]]);
  t.is(calls[1]!.status, 'success');
});
