import test from 'ava';
import {
  cleanup, FINAL, makeBareRepo, outputText, SseStream, setupTemplate, startForge, startRedis, startTask, waitForTask,
} from './helpers/index.js';
import { startRunner } from './helpers/runner.js';

test.after.always(cleanup);

test('two server replicas on one Redis: a task created on one reaches a runner parked on the other, and either serves its output', async (t) => {
  const redis = await startRedis();
  const env = { FORGE_REDIS_URL: redis.url, FORGE_USE_REMOTE_RUNNER: 'True', FORGE_ACCESS_KEY_ENCRYPTION: 'shared-key-for-both-replicas' };
  const [a, b] = await Promise.all([startForge({ env }), startForge({ env, login: false })]);
  await b.api.login('admin', 'admin-password-123');
  const repo = await makeBareRepo({ 'run.sh': 'for i in 1 2 3; do echo "replica line $i"; done\n' });
  // Created through replica B (its secrets encrypted there), run through replica A.
  const setup = await setupTemplate(b.api, { gitUrl: repo.path, secrets: [{ name: 'TOKEN', secret: 'shared-secret-value' }] });
  await startRunner(a, { name: 'on-a' });
  const task = await startTask(b.api, setup.projectId, setup.templateId);
  const done = await waitForTask(b.api, setup.projectId, task.id, FINAL, 20_000);
  t.is(done.status, 'success', done.error);
  t.is(done.runner_name, 'on-a');
  t.true((await outputText(b.api, setup.projectId, task.id)).includes('replica line 3'));
  t.deepEqual(await outputText(a.api, setup.projectId, task.id), await outputText(b.api, setup.projectId, task.id));
  // The runner list and its online state look the same from both replicas.
  const [fromA, fromB] = [await a.api.json('GET', '/api/runners'), await b.api.json('GET', '/api/runners')];
  t.is(fromA[0].status, 'online');
  t.is(fromB[0].status, 'online');

  // Live output on B for a task whose output arrives through A.
  const slow = await setupTemplate(b.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo first\nsleep 1\necho second\n' })).path, projectId: setup.projectId });
  const live = await startTask(b.api, slow.projectId, slow.templateId);
  const stream = await SseStream.open(`${b.url}/api/project/${slow.projectId}/tasks/${live.id}/output/stream`, b.api.authHeaders());
  const events = await stream.readUntil((event) => event.event === 'end', 20_000);
  t.is(JSON.parse(events.at(-1)!.data).status, 'success');
  const lines = events.filter((e) => e.event === 'line').map((e) => JSON.parse(e.data).output as string);
  t.deepEqual(lines.filter((line) => line === 'first' || line === 'second'), ['first', 'second']);
  stream.close();
});
