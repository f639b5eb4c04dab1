import test from 'ava';
import { cleanup, FINAL, makeBareRepo, setupTemplate, startForge, startTask, waitFor, getTask, waitForTask, type Task } from './helpers/index.js';

test.after.always(cleanup);

test('a project\'s max_parallel_tasks holds across its queues, and waiting tasks say so', async (t) => {
  const forge = await startForge();
  const repo = await makeBareRepo({ 'run.sh': 'sleep 0.7\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  await forge.api.json('PUT', `/api/project/${setup.projectId}`, { name: 'limited', max_parallel_tasks: 1 });
  const tasks: Task[] = [];
  for (let i = 0; i < 3; i++) tasks.push(await startTask(forge.api, setup.projectId, setup.templateId));
  const reason = await waitFor(async () => {
    const task = await getTask(forge.api, setup.projectId, tasks[2]!.id);
    return task.status === 'waiting' && /maximum of 1 tasks/.test(task.waiting_reason) ? task.waiting_reason : undefined;
  }, 10_000, { what: 'the project-limit reason on a waiting task' });
  t.regex(reason, /project runs its maximum of 1 tasks at once/);
  const done = await Promise.all(tasks.map((task) => waitForTask(forge.api, setup.projectId, task.id, FINAL, 30_000)));
  t.true(done.every((task) => task.status === 'success'));
  const sorted = done.sort((a, b) => Date.parse(a.start!) - Date.parse(b.start!));
  for (let i = 1; i < sorted.length; i++) t.true(Date.parse(sorted[i]!.start!) >= Date.parse(sorted[i - 1]!.end!) - 5, 'no two tasks of the project overlapped');
});
