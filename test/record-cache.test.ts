/**
 * The record cache on its own, over a real Redis: what it keeps, what it refuses to keep, and the
 * announcement every other server drops its copy on (the two-replica behaviour is in
 * server-replica-records and api-task-create).
 */
import test from 'ava';
import { builtModule, cleanup, connectRedis, startRedis } from './helpers/index.js';

test.after.always(cleanup);

type CacheModule = typeof import('../services/store/record-cache.js');
const load = () => builtModule<CacheModule>('services/store/record-cache.ts');

test('keeps a reply until its hash changes, announces the change, and keeps nothing read while a change came', async (t) => {
  const { RecordCache } = await load();
  const redis = await startRedis();
  const client = connectRedis(t, redis.url);
  const listener = connectRedis(t, redis.url);
  const cache = new RecordCache(client as never);
  let loads = 0;
  const read = () => cache.read('{forge}:rec:templates:p1', '7', async () => `{"id":7,"n":${++loads}}`);
  t.is(await read(), '{"id":7,"n":1}');
  t.is(await read(), '{"id":7,"n":1}', 'the second read is answered from memory');

  await listener.subscribe('forge:record-changes');
  const heard = new Promise<string>((resolve) => listener.once('message', (_channel: string, text: string) => resolve(text)));
  await cache.changed('{forge}:rec:templates:p1');
  t.deepEqual(JSON.parse(await heard), { hash: '{forge}:rec:templates:p1' }, 'the change is announced to the other servers');
  t.is(await read(), '{"id":7,"n":2}', 'read afresh after the change');

  // A change announced while a read is under way: its reply is used once, not kept.
  const racing = cache.read('{forge}:rec:templates:p1', '8', async () => {
    cache.forget('{forge}:rec:templates:p1');
    return 'old';
  });
  t.is(await racing, 'old');
  t.is(cache.lookup('{forge}:rec:templates:p1', '8'), undefined);
});

test('memory stays bounded: a reply over a sixteenth of the limit is not kept, and the total never passes 64 MiB of characters', async (t) => {
  const { RecordCache } = await load();
  const redis = await startRedis();
  const client = connectRedis(t, redis.url);
  const cache = new RecordCache(client as never);
  const huge = 'x'.repeat(5 * 1024 * 1024); // more than 64 MiB / 16
  cache.keep('{forge}:rec:inventory:p1', '1', huge, cache.mark());
  t.is(cache.lookup('{forge}:rec:inventory:p1', '1'), undefined, 'a 5 MiB reply is read each time, not kept');

  const big = 'y'.repeat(3 * 1024 * 1024);
  for (let id = 1; id <= 30; id++) cache.keep('{forge}:rec:inventory:p2', String(id), big, cache.mark());
  let kept = 0;
  for (let id = 1; id <= 30; id++) if (cache.lookup('{forge}:rec:inventory:p2', String(id)) !== undefined) kept++;
  t.true(kept > 0, 'recent replies are kept');
  t.true(kept * 3 <= 64, `${kept} replies of 3 MiB kept: over the bound`);
  t.is(cache.lookup('{forge}:rec:inventory:p2', '30'), big, 'the newest is kept');
});
