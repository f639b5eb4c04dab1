/**
 * The runner token cache (RunnerStore.byToken) over a real Redis: a lookup that overlapped a change
 * to another runner keeps what it read, so the runner's next request is answered from memory; one
 * that overlapped a change to its own runner, or to every runner, is used once and read again.
 */
import test from 'ava';
import { builtModule, cleanup, commandCalls, connectRedis, startRedis } from './helpers/index.js';

test.after.always(cleanup);

type RunnersModule = typeof import('../services/store/runners.js');

test('a token lookup overlapping another runner\'s change is kept; one overlapping its own runner\'s or every runner\'s is read again', async (t) => {
  const { RunnerStore } = await builtModule<RunnersModule>('services/store/runners.ts');
  const redis = await startRedis();
  const client = connectRedis(t, redis.url);
  const store = new RunnerStore(client as never, 10_000);
  const input = { tags: [], max_parallel_tasks: 1, webhook: '', project_id: null };
  const { runner: a, token: tokenA } = await store.create({ name: 'a', ...input });
  const { runner: b } = await store.create({ name: 'b', ...input });
  const hgets = async () => commandCalls(redis, 'hget');

  /** A lookup of `token` with `forget(forgetting)` arriving while its reads are in flight, as a runner event does. */
  const lookupOverlapping = async (token: string, forgetting: number | undefined) => {
    const lookup = store.byToken(token);
    store.forget(forgetting);
    return lookup;
  };
  /** Whether the next lookup of `token` is answered from memory (no Redis read). */
  const answeredFromMemory = async (token: string) => {
    const before = await hgets();
    const found = await store.byToken(token);
    t.is(found?.id, a.id);
    return (await hgets()) === before;
  };

  t.is((await lookupOverlapping(tokenA, b.id))?.id, a.id);
  t.true(await answeredFromMemory(tokenA), 'a change to runner b does not keep runner a\'s lookup from being cached');

  store.forget(a.id);
  t.is((await lookupOverlapping(tokenA, a.id))?.id, a.id, 'the lookup still answers');
  t.false(await answeredFromMemory(tokenA), 'a change to runner a itself during its lookup: read again next time');
  t.true(await answeredFromMemory(tokenA), 'and kept once read without a change');

  store.forget(a.id);
  t.is((await lookupOverlapping(tokenA, undefined))?.id, a.id);
  t.false(await answeredFromMemory(tokenA), 'every runner forgotten (a reconnect): read again');

  // More changes during one lookup than are remembered by id: not kept, whoever they named.
  store.forget(a.id);
  const lookup = store.byToken(tokenA);
  for (let i = 0; i < 300; i++) store.forget(b.id);
  t.is((await lookup)?.id, a.id);
  t.false(await answeredFromMemory(tokenA), 'a lookup older than the remembered changes is not kept');

  // The change is real: an edit to runner a reaches its next lookup.
  await store.update(a.id, { name: 'a2' });
  t.is((await store.byToken(tokenA))?.name, 'a2');
});
