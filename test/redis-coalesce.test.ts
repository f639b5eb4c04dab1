/**
 * Commands issued in one tick leave in one socket write (services/redis/coalesce-writes.ts), over
 * a real Redis: what Redis reads is counted by its own INFO (total_reads_processed), read on a
 * second connection.
 */
import test, { type ExecutionContext } from 'ava';
import type { Redis } from 'ioredis';
import { builtModule, cleanup, connectRedis, startRedis, waitFor } from './helpers/index.js';

test.after.always(cleanup);

type ConnectionModule = typeof import('../services/redis/connection.js');
const load = () => builtModule<ConnectionModule>('services/redis/connection.ts');

/** A client made as the server makes its own, and a plain one that reads Redis's INFO. */
async function standalone(t: ExecutionContext): Promise<{ client: Redis; probe: Redis }> {
  const { createRedis } = await load();
  const redis = await startRedis();
  const client = createRedis(redis.url) as Redis;
  t.teardown(() => client.disconnect());
  const probe = connectRedis(t, redis.url);
  await waitFor(async () => client.status === 'ready', 10_000);
  return { client, probe };
}

const readsProcessed = async (probe: Redis) => Number(/total_reads_processed:(\d+)/.exec(await probe.info('stats'))![1]);

test('200 commands issued in one tick reach Redis in one write, in order, and each gets its own reply', async (t) => {
  const { client, probe } = await standalone(t);
  await client.ping(); // the connection's own setup commands are done

  const before = await readsProcessed(probe);
  const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => client.incr('counter').then((n) => [i, n])));
  const after = await readsProcessed(probe);
  t.deepEqual(replies, Array.from({ length: 200 }, (_, i) => [i, i + 1]), 'sent in the order issued, each with its reply');
  // One read event for the 200 commands and one for the INFO that counts them (a write of this
  // size arrives whole on loopback); one write each would take Redis many reads.
  t.true(after - before <= 3, `Redis read ${after - before} times for 200 commands and an INFO`);
});

test('a command issued after an await still leaves at once, and a reconnected client coalesces on its new socket', async (t) => {
  const { client, probe } = await standalone(t);
  for (let i = 1; i <= 5; i++) t.is(await client.incr('sequential'), i, 'each awaited command is answered');

  await probe.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  await waitFor(async () => client.status === 'ready' && (await client.ping()) === 'PONG', 10_000);
  const before = await readsProcessed(probe);
  await Promise.all(Array.from({ length: 200 }, () => client.incr('after-reconnect')));
  const after = await readsProcessed(probe);
  t.is(await client.get('after-reconnect'), '200');
  t.true(after - before <= 3, `after the reconnect Redis read ${after - before} times for 200 commands and an INFO`);
});

test('on a Redis Cluster each node connection coalesces: a tick of commands to one slot reaches its master in one write', async (t) => {
  const { createRedis } = await load();
  const redis = await startRedis({ cluster: true });
  const client = createRedis(redis.url);
  t.teardown(() => client.disconnect());
  await waitFor(async () => client.status === 'ready' && (await client.set('{one}:warm', '1')) === 'OK', 20_000);
  const owners = await Promise.all(redis.masters.map(async (node) => {
    const probe = connectRedis(t, { port: node.port, host: '127.0.0.1' });
    const keys = await probe.cluster('COUNTKEYSINSLOT', Number(await probe.cluster('KEYSLOT', '{one}:warm')));
    return { probe, owns: Number(keys) > 0 };
  }));
  const owner = owners.find((o) => o.owns);
  if (!owner) return t.fail('no master holds the slot of {one}');

  const before = await readsProcessed(owner.probe);
  await Promise.all(Array.from({ length: 200 }, () => client.incr('{one}:n')));
  const after = await readsProcessed(owner.probe);
  t.is(await client.get('{one}:n'), '200');
  t.true(after - before <= 4, `the slot's master read ${after - before} times for 200 commands and an INFO`);
});
