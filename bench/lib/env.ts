/**
 * One benchmark environment: a Redis (a private standalone redis-server, or a Redis Cluster with
 * replicas from the test harness), one or more Forge server replicas on it, optionally a
 * round-robin proxy in front of them, runner host processes pointed at the proxy or the single
 * server, and a project with one bash template per script. Phases that need a clean slate start
 * their own and stop it when done; `stop()` also ends task process groups left by the hosts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { startRedis as startTestRedis, type TestRedis } from '../../test/helpers/redis.js';
import { cleanup as cleanupTestHelpers } from '../../test/helpers/util.js';
import { Api } from './api.js';
import { ADMIN, addRunners, makeRepo, setupProject, startForge, type Forge } from './forge.js';
import { RunnerHosts, type RunnerSpec } from './hosts.js';
import { killChildGroups, onCleanup, startRedis, stopChild } from './procs.js';
import { cpuSeconds } from './stats.js';
import { startRoundRobinProxy, type RoundRobinProxy } from './round-robin-proxy.js';

let testHelpersHooked = false;

export interface EnvOptions {
  root: string;
  logDir: string;
  name: string;
  scripts: Record<string, string>;
  hosts: number;
  redis: 'standalone' | 'cluster';
  /** Server replicas to start now (default 1). More can be added with addServer(). */
  servers?: number;
  /** Put a round-robin proxy in front of the servers (runners and the API client use it). */
  proxy?: boolean;
  settings?: Record<string, string>;
  /** Node flags for the servers and the runner hosts, by kind (e.g. --cpu-prof). */
  serverNodeArgs?: (index: number) => string[];
  hostNodeArgs?: string[];
  /** Per runner host, the folder whose dist/ it runs (default this checkout's): to compare builds under the same load. */
  hostBuildRoots?: string[];
}

export interface BenchEnv {
  redis: Redis | Cluster;
  redisUrl: string;
  /** redis-server pids: the standalone one, or every cluster node. */
  redisPids: number[];
  /** Cluster only: the master nodes' ports (for per-shard figures). */
  cluster?: TestRedis;
  servers: Forge[];
  proxy?: RoundRobinProxy;
  /** Where runners and the API client connect: the proxy or the only server. */
  url: string;
  api: Api;
  hosts: RunnerHosts;
  projectId: number;
  templates: Record<string, number>;
  addServer(): Promise<Forge>;
  /** Spread round robin over the first `hostCount` runner host processes (default all). */
  addRunners(count: number, maxParallel: number, hostCount?: number): Promise<RunnerSpec[]>;
  removeRunners(specs: RunnerSpec[]): Promise<void>;
  redisCpu(): number;
  stop(): Promise<void>;
}

export async function startEnv(o: EnvOptions): Promise<BenchEnv> {
  const dir = join(o.root, o.name);
  mkdirSync(dir, { recursive: true });
  let redisUrl: string;
  let redisPids: number[];
  let redis: Redis | Cluster;
  let cluster: TestRedis | undefined;
  let stopRedis: () => Promise<void>;
  if (o.redis === 'cluster') {
    if (!testHelpersHooked) {
      testHelpersHooked = true;
      onCleanup(() => cleanupTestHelpers());
    }
    cluster = await startTestRedis({ cluster: true, replicas: 1 });
    redisUrl = cluster.url;
    redisPids = cluster.nodes.map((n) => n.process.pid!);
    redis = new Cluster(cluster.masters.map((n) => ({ host: '127.0.0.1', port: n.port! })), { redisOptions: { maxRetriesPerRequest: null } });
    stopRedis = () => cluster!.stop();
  } else {
    const redisDir = join(dir, 'redis');
    mkdirSync(redisDir);
    const server = await startRedis(redisDir);
    redisUrl = server.url;
    redisPids = [server.child.pid!];
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
    stopRedis = () => stopChild(server.child, 5000);
  }
  // Shared by every replica: secrets written by one are read by another; runners register on any.
  const shared = { FORGE_ACCESS_KEY_ENCRYPTION: randomBytes(24).toString('hex'), FORGE_RUNNER_REGISTRATION_TOKEN: randomBytes(16).toString('hex'), ...o.settings };
  const servers: Forge[] = [];
  let proxy: RoundRobinProxy | undefined;
  const addServer = async () => {
    const index = servers.length;
    const forge = await startForge(dir, redisUrl, o.logDir, shared, { name: `${o.name}-server${index}`, nodeArgs: o.serverNodeArgs?.(index) ?? [] });
    servers.push(forge);
    proxy?.setUpstreams(servers.map((s) => s.url));
    return forge;
  };
  for (let i = 0; i < (o.servers ?? 1); i++) await addServer();
  if (o.proxy) proxy = await startRoundRobinProxy(servers.map((s) => s.url));
  const url = proxy?.url ?? servers[0]!.url;
  const api = new Api(url);
  await api.login(ADMIN.login, ADMIN.password);
  const repo = await makeRepo(dir, o.scripts);
  const { projectId, templates } = await setupProject(api, repo, Object.keys(o.scripts));
  const hosts = new RunnerHosts();
  // Named by phase: each phase's hosts keep their own log (a later phase does not overwrite it).
  await hosts.start(o.hosts, o.logDir, o.hostNodeArgs ?? [], o.hostBuildRoots, `${o.name}-runner-host`);
  let nextRunner = 0;
  let stopped: Promise<void> | undefined;
  const env: BenchEnv = {
    redis, redisUrl, redisPids, cluster, servers, proxy, url, api, hosts, projectId, templates, addServer,
    async addRunners(count, maxParallel, hostCount) {
      const firstIndex = nextRunner;
      nextRunner += count;
      return addRunners(api, hosts, url, dir, { count, recordMaxParallel: maxParallel, firstIndex, host: (i) => (hostCount ? i % hostCount : i) });
    },
    async removeRunners(specs) {
      await hosts.stop(specs.map((s) => s.id));
      for (const spec of specs) await api.json('DELETE', `/api/runners/${spec.id}`);
    },
    redisCpu: () => redisPids.reduce((s, pid) => s + cpuSeconds(pid), 0),
    stop() {
      stopped ??= (async () => {
        killChildGroups(hosts.pids());
        await hosts.close();
        api.close();
        await proxy?.close();
        for (const server of servers) await server.stop();
        redis.disconnect();
        await stopRedis();
      })();
      return stopped;
    },
  };
  onCleanup(() => env.stop());
  return env;
}

/** INFO commandstats: calls per command (commands run inside Lua scripts are counted too). */
export async function commandStats(client: Redis): Promise<Map<string, number>> {
  const text = (await client.info('commandstats')) as string;
  const out = new Map<string, number>();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(match[1]!, Number(match[2]));
  return out;
}

/** Command calls summed over a standalone server or every cluster master. */
export async function allCommandStats(redis: Redis | Cluster): Promise<Map<string, number>> {
  const clients = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const total = new Map<string, number>();
  for (const client of clients) for (const [k, v] of await commandStats(client)) total.set(k, (total.get(k) ?? 0) + v);
  return total;
}

/** Per master (cluster) or the one server: total calls so far, keyed by port. */
export async function callsPerShard(redis: Redis | Cluster): Promise<Record<string, number>> {
  const clients = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const out: Record<string, number> = {};
  for (const client of clients) out[String(client.options.port)] = [...(await commandStats(client)).values()].reduce((a, b) => a + b, 0);
  return out;
}

export function commandsDelta(before: Map<string, number>, after: Map<string, number>, per: number): { total: number; top: Record<string, number> } {
  const delta = [...after].map(([name, calls]) => [name, (calls - (before.get(name) ?? 0)) / per] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  return { total: +delta.reduce((sum, [, v]) => sum + v, 0).toFixed(1), top: Object.fromEntries(delta.slice(0, 15).map(([k, v]) => [k, +v.toFixed(2)])) };
}
