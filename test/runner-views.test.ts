/**
 * The runner views a task's creation works its first waiting reason out from
 * (RunnerStore.reportedViewsIn), over a real Redis: a burst of creates that finds the snapshot
 * stale shares one read of the statuses and one build of the views, not one each.
 */
import test from 'ava';
import { builtModule, cleanup, commandCalls, connectRedis, startRedis } from './helpers/index.js';

test.after.always(cleanup);

type RunnersModule = typeof import('../services/store/runners.js');
type BatchModule = typeof import('../services/redis/batch.js');
const load = async () => ({
  ...(await builtModule<RunnersModule>('services/store/runners.ts')),
  ...(await builtModule<BatchModule>('services/redis/batch.ts')),
});

test('concurrent reads of a stale snapshot share one read and one set of views; a runner change starts a new one', async (t) => {
  const { RunnerStore, Batch } = await load();
  const redis = await startRedis();
  const client = connectRedis(t, redis.url);
  const store = new RunnerStore(client as never, 10_000);
  for (const name of ['a', 'b', 'c']) await store.create({ name, tags: ['linux'], max_parallel_tasks: 2, webhook: '', project_id: null });
  await store.touch(new Map([[1, { version: '1', capabilities: ['bash'], active: [], draining: false }]]));

  /** Ten creates arriving together, each with its own batch of reads, as POST /tasks makes them. */
  const burst = async () => {
    const batches = Array.from({ length: 10 }, () => new Batch(client as never));
    const views = batches.map((batch) => store.reportedViewsIn(batch));
    await Promise.all(batches.map((batch) => batch.send()));
    return Promise.all(views);
  };

  const before = await commandCalls(redis, 'hgetall');
  const recordsBefore = await commandCalls(redis, 'hvals');
  const first = await burst();
  t.is(await commandCalls(redis, 'hgetall') - before, 1, 'one read of the statuses for the whole burst');
  t.true(await commandCalls(redis, 'hvals') - recordsBefore <= 1, 'and at most one of the runner records');
  t.true(first.every((views) => views === first[0]), 'every create got the same views, built once');
  t.deepEqual(first[0]!.map((v) => [v.name, v.status, v.capabilities]), [['a', 'online', ['bash']], ['b', 'offline', []], ['c', 'offline', []]]);

  const again = await burst();
  t.is(again[0], first[0], 'the snapshot answers the next burst without a read');
  t.is(await commandCalls(redis, 'hgetall') - before, 1);

  // A runner changed: its views are read and built afresh, again once for the burst.
  await store.update(2, { name: 'b2' });
  const changed = await burst();
  t.is(await commandCalls(redis, 'hgetall') - before, 2);
  t.true(await commandCalls(redis, 'hvals') - recordsBefore <= 2);
  t.true(changed.every((views) => views === changed[0]));
  t.deepEqual(changed[0]!.map((v) => v.name), ['a', 'b2', 'c']);
});
