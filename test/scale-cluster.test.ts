/**
 * Scale-out, small: three server replicas behind a round-robin proxy, on a 3-master Redis Cluster
 * where every master has a replica, with a few runners that reach the servers only through the
 * proxy. Every task created (through all three replicas) ends in success — none lost — and every
 * replica handed out claims. The benchmark's scale phase runs the same set-up at fleet size.
 */
import test from 'ava';
import { startRoundRobinProxy } from '../bench/lib/round-robin-proxy.js';
import { cleanup, FINAL, makeBareRepo, onCleanup, setupTemplate, startForge, startRedis, startTask, waitFor, waitForTask } from './helpers/index.js';
import { startRunner } from './helpers/runner.js';

test.after.always(cleanup);

const TASKS = 30;
const RUNNERS = 3;

test('3 replicas behind round robin on a Redis Cluster with replicas: every task succeeds, every replica serves claims', async (t) => {
  const cluster = await startRedis({ cluster: true, replicas: 1 });
  t.is(cluster.masters.length, 3);
  t.is(cluster.replicas.length, 3);
  for (const node of cluster.replicas) t.regex(await cluster.cli(['info', 'replication'], node), /role:slave[\s\S]*master_link_status:up/);

  const env = { FORGE_REDIS_URL: cluster.url, FORGE_USE_REMOTE_RUNNER: 'True', FORGE_ACCESS_KEY_ENCRYPTION: 'shared-key-for-all-replicas' };
  const first = await startForge({ env });
  const others = await Promise.all([startForge({ env }), startForge({ env })]);
  const replicas = [first, ...others];
  for (const replica of others) await replica.api.login('admin', 'admin-password-123');
  const proxy = await startRoundRobinProxy(replicas.map((r) => r.url));
  onCleanup(() => proxy.close());

  const repo = await makeBareRepo({ 'run.sh': 'echo "scale task $FORGE_TASK_ID"\n' });
  const setup = await setupTemplate(first.api, { gitUrl: repo.path });
  for (let i = 0; i < RUNNERS; i++) await startRunner(first, { name: `scale-${i}`, webHost: proxy.url, maxParallel: 2 });

  // Created through each replica in turn, all at once.
  const created = await Promise.all(Array.from({ length: TASKS }, (_, i) => startTask(replicas[i % 3]!.api, setup.projectId, setup.templateId)));
  t.is(new Set(created.map((c) => c.id)).size, TASKS);
  const done = await Promise.all(created.map((c, i) => waitForTask(replicas[(i + 1) % 3]!.api, setup.projectId, c.id, FINAL, 110_000)));
  const statuses = done.map((d) => d.status);
  t.deepEqual(statuses.filter((s) => s !== 'success'), [], JSON.stringify(done.filter((d) => d.status !== 'success').map((d) => [d.id, d.status, d.error])));
  t.is(done.length, TASKS);

  // The task list is the same from every replica: nothing lost, nothing doubled.
  for (const replica of replicas) {
    const listed: Array<{ id: number; status: string }> = await replica.api.json('GET', `/api/project/${setup.projectId}/tasks`);
    t.deepEqual(listed.map((l) => l.id).sort((a, b) => a - b), created.map((c) => c.id).sort((a, b) => a - b));
  }
  const stats = proxy.stats();
  t.is(stats.length, 3);
  for (const s of stats) t.true(s.claims > 0, `replica ${s.url} served no claims: ${JSON.stringify(stats)}`);
  t.true(stats.reduce((sum, s) => sum + s.claims, 0) >= TASKS, JSON.stringify(stats));
  t.deepEqual(stats.map((s) => s.errors), [0, 0, 0]);
  // The records really are replicated: every replica node holds keys.
  await waitFor(async () => {
    const sizes = await Promise.all(cluster.replicas.map(async (node) => Number((await cluster.cli(['dbsize'], node)).trim())));
    return sizes.every((n) => n > 0);
  }, 20_000);
  for (const replica of replicas) t.false(/CROSSSLOT/i.test(replica.logs()), 'no CROSSSLOT error in a server log');
});
