/**
 * Real redis-server processes for tests and the benchmark: a standalone server (TCP on a free
 * loopback port, or a unix socket) with AOF on, or a Redis Cluster on loopback (3 masters by
 * default, optionally each with replicas). Each lives in its own temp folder and is stopped by
 * cleanup().
 */
import type { ExecutionContext } from 'ava';
import { Redis, type RedisOptions } from 'ioredis';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { redisPing } from './redis-ping.js';
import { exitOf, freePort, freePortWithPartner, onCleanup, runOk, stopChild, tempDir, trackChild, waitFor } from './util.js';

export { redisPing };

export interface RedisNode {
  /** Loopback TCP port, or undefined for a unix-socket server. */
  port?: number;
  socket?: string;
  dir: string;
  process: ChildProcess;
}

export interface TestRedis {
  /** What to put in FORGE_REDIS_URL. */
  url: string;
  /** Every node: the masters first, then the replicas (cluster with `replicas` only). */
  nodes: RedisNode[];
  /** Cluster only: the nodes started as masters and as replicas (as created; failover may swap roles). */
  masters: RedisNode[];
  replicas: RedisNode[];
  /** Stops every node (SIGTERM: Redis flushes its AOF), keeping the data folders. */
  stop(): Promise<void>;
  /** Starts stopped nodes again on the same ports/sockets and folders. */
  start(): Promise<void>;
  /** Runs redis-cli against the first node (or `node`) and returns its output. */
  cli(args: string[], node?: RedisNode): Promise<string>;
}

export interface StartRedisOptions {
  /** Build a Redis Cluster of this many masters (true = 3) instead of one standalone server. */
  cluster?: boolean | number;
  /** Cluster only: replicas per master (default 0). Each one is in sync before startRedis answers. */
  replicas?: number;
  /** Standalone only: listen on a unix socket in the temp folder instead of a TCP port. */
  unixSocket?: boolean;
}


function spawnNode(node: Omit<RedisNode, 'process'>, extra: string[]): ChildProcess {
  const listen = node.socket ? ['--port', '0', '--unixsocket', node.socket, '--unixsocketperm', '700'] : ['--port', String(node.port), '--bind', '127.0.0.1'];
  const args = [
    ...listen, '--dir', node.dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
    '--daemonize', 'no', '--logfile', join(node.dir, 'redis.log'), ...extra,
  ];
  return trackChild(spawn('redis-server', args, { stdio: 'ignore' }));
}

async function startNode(node: RedisNode, extra: string[]): Promise<void> {
  node.process = spawnNode(node, extra);
  const exited = exitOf(node.process).then(({ code }) => {
    throw new Error(`redis-server exited with code ${code} at start; see ${join(node.dir, 'redis.log')}`);
  });
  exited.catch(() => {});
  await Promise.race([waitFor(() => redisPing(node), 10_000, { what: `redis-server in ${node.dir}` }), exited]);
}

/** How many times the test Redis (its first node) has run `command` so far (INFO commandstats): for tests that count a path's commands. */
export async function commandCalls(redis: Pick<TestRedis, 'cli'>, command: string): Promise<number> {
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await redis.cli(['info', 'commandstats']))?.[1] ?? 0);
}

/** A plain ioredis client of a test Redis (its url, or a node's options), disconnected when the test ends. */
export function connectRedis(t: ExecutionContext, target: string | RedisOptions): Redis {
  const client = typeof target === 'string' ? new Redis(target) : new Redis(target); // one constructor overload each
  t.teardown(() => client.disconnect());
  return client;
}

/**
 * Starts a standalone redis-server, or with `cluster` several cluster-enabled servers joined by
 * `redis-cli --cluster create` and waited on until every node reports cluster_state:ok.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<TestRedis> {
  const root = tempDir('forge-redis-');
  const masters = options.cluster === true ? 3 : typeof options.cluster === 'number' ? options.cluster : 0;
  const nodes: RedisNode[] = [];
  const extra = masters ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'] : [];
  const replicasPerMaster = masters ? options.replicas ?? 0 : 0;
  const count = masters ? masters * (1 + replicasPerMaster) : 1;
  for (let i = 0; i < count; i++) {
    const dir = join(root, `node${i}`);
    mkdirSync(dir);
    const node: RedisNode = options.unixSocket && !masters
      ? { socket: join(dir, 'redis.sock'), dir, process: undefined as unknown as ChildProcess }
      : { port: masters ? await freePortWithPartner(10_000) : await freePort(), dir, process: undefined as unknown as ChildProcess };
    nodes.push(node);
  }
  const stop = async () => {
    await Promise.all(nodes.map((n) => (n.process ? stopChild(n.process, 'SIGTERM', 10_000) : undefined)));
  };
  onCleanup(() => Promise.all(nodes.map((n) => (n.process ? stopChild(n.process, 'SIGKILL') : undefined))));
  await Promise.all(nodes.map((n) => startNode(n, extra)));

  const cli = (args: string[], node: RedisNode = nodes[0]!) =>
    runOk('redis-cli', [...(node.socket ? ['-s', node.socket] : ['-h', '127.0.0.1', '-p', String(node.port)]), ...args], { timeoutMs: 30_000 });

  if (masters) {
    // redis-cli makes the first `masters` addresses the masters and the rest their replicas.
    await runOk('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'], { timeoutMs: 60_000 });
    await waitClusterOk(nodes, cli);
    await waitReplicasInSync(nodes.slice(masters), cli);
  }
  const url = masters
    ? `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`
    : nodes[0]!.socket ?? `redis://127.0.0.1:${nodes[0]!.port}`;
  return {
    url, nodes, stop, cli,
    masters: masters ? nodes.slice(0, masters) : [],
    replicas: nodes.slice(masters || 1),
    async start() {
      await Promise.all(nodes.filter((n) => n.process.exitCode !== null || n.process.signalCode !== null).map((n) => startNode(n, extra)));
      if (masters) await waitClusterOk(nodes, cli);
    },
  };
}

async function waitClusterOk(nodes: RedisNode[], cli: (args: string[], node?: RedisNode) => Promise<string>): Promise<void> {
  await waitFor(async () => {
    for (const node of nodes) if (!(await cli(['cluster', 'info'], node)).includes('cluster_state:ok')) return false;
    return true;
  }, 20_000, { what: 'cluster_state:ok on every node', intervalMs: 50 });
}

/** Every replica reports its master link up and its initial sync done. */
async function waitReplicasInSync(replicas: RedisNode[], cli: (args: string[], node?: RedisNode) => Promise<string>): Promise<void> {
  await waitFor(async () => {
    for (const node of replicas) {
      const info = await cli(['info', 'replication'], node);
      if (!info.includes('role:slave') || !info.includes('master_link_status:up') || info.includes('master_sync_in_progress:1')) return false;
    }
    return true;
  }, 30_000, { what: 'every cluster replica in sync with its master', intervalMs: 50 });
}
