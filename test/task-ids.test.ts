/**
 * Task and audit ids taken ahead (services/store/spare-id.ts): creating a task needs no round trip
 * of its own for its ids, ids still come in creation order, and a restart costs at most a gap.
 * Round trips are counted by Redis itself (INFO's total_reads_processed) on a Redis only this
 * server uses, with remote runners and none started, so nothing else runs meanwhile.
 */
import test from 'ava';
import { cleanup, makeBareRepo, setupTemplate, startForge, startRedis } from './helpers/index.js';

test.after.always(cleanup);

test('POST /tasks costs one Redis round trip once warm, and ids come in creation order, a restart leaving at most a gap of one', async (t) => {
  const redis = await startRedis();
  const env = { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_REDIS_URL: redis.url };
  const forge = await startForge({ env });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'true\n' })).path });
  const create = async (api = forge.api) => (await api.json<{ id: number }>('POST', `/api/project/${setup.projectId}/tasks`, { template_id: setup.templateId })).id;
  const readsProcessed = async () => Number(/total_reads_processed:(\d+)/.exec(await redis.cli(['INFO', 'stats']))![1]);

  const first = await create(); // takes the spare ids, and reads the records it keeps
  const count = 40;
  const before = await readsProcessed();
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push(await create());
  const reads = (await readsProcessed()) - before - 1; // the INFO itself
  t.deepEqual(ids, Array.from({ length: count }, (_, i) => first + 1 + i), 'consecutive, in creation order');
  // One read per POST (its MULTI, with the next ids' INCRs in the same write); the server's
  // timers add a few. Taking the ids in a round trip of their own would make it twice that.
  t.true(reads < count * 1.5, `${reads} reads by Redis for ${count} POST /tasks`);
  t.log(`${reads} reads by Redis for ${count} POST /tasks`);

  // Audit entries of these creations: their ids in order too, one per task.
  const events = await forge.api.json<Array<{ id: number; object_id: number; object_type: string }>>('GET', `/api/project/${setup.projectId}/events`);
  const ofTasks = events.filter((e) => e.object_type === 'task' && ids.includes(e.object_id)).sort((a, b) => a.object_id - b.object_id);
  t.is(ofTasks.length, count);
  t.true(ofTasks.every((e, i) => i === 0 || e.id > ofTasks[i - 1]!.id), 'audit ids grow with the tasks they record');

  await forge.stop();
  const again = await startForge({ env, dirs: forge.dirs });
  const afterRestart = await create(again.api);
  const last = ids[ids.length - 1]!;
  t.true(afterRestart > last && afterRestart <= last + 2, `task ${afterRestart} after ${last}: at most the one id taken ahead is skipped`);
});
