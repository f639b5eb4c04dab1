/**
 * The dispatch floor: the chain of process hops a Forge dispatch takes (client → server → Redis →
 * server → runner, the POST's answer), done by a minimal server and runner with no Forge logic
 * (bench/dispatch-floor-server.ts, bench/dispatch-floor-host.ts), on the dispatch phase's
 * redis-server (keys under `dfloor:`), runner layout and schedule. Forge's row minus the floor's is
 * what Forge itself adds to dispatch latency; the floor is the machine's hops. The server and
 * hosts are started by startFloor, which the protocol floor (protocol-floor.ts) shares.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { Api } from '../lib/api.js';
import type { BenchEnv } from '../lib/env.js';
import { type Created, postTaskTo } from '../lib/forge.js';
import { RunnerHosts, type RunnerSpec } from '../lib/hosts.js';
import { exitOf, freePort, killChildGroups, projectRoot, spawnTracked, stopChild, taskWorkDir, tempDir } from '../lib/procs.js';
import { CpuWindow, cpuSeconds, hostCpuSeconds, idleCpuRate, serverCpuPerTask, summarize, type Summary } from '../lib/stats.js';
import { type Config, type Ctx, log, ownCpu } from './context.js';
import { type Dispatcher, runSchedule, scheduledTasks, SERVER_IDLE_MS } from './dispatch.js';
import { countStatuses } from './throughput.js';

export interface DispatchFloorResult {
  runners: number;
  single: Summary;
  burst: Summary;
  /** Every POST's round trip, and the single tasks' alone (the figure Forge's rows print). */
  post_ms: Summary;
  single_post_ms: Summary;
  cpu: ReturnType<CpuWindow['end']>;
  /** The floor server's CPU per task, net of its idle CPU, and that idle CPU: as DispatchResult's. */
  server_cpu_ms_per_task: number;
  server_idle_pct_of_core: number;
}

const TSX = ['--import', 'tsx'];
/** The floor server's key prefix (bench/dispatch-floor-server.ts): its task records are `dfloor:task:<id>`. */
const PREFIX = 'dfloor:';

/**
 * Where a floor runs: the phase's redis-server (its keys under `dfloor:`), the long-poll length and
 * the number of runner host processes of Forge's phase beside it.
 */
export interface FloorSite { redisUrl: string; redis: Redis; hosts: number; longPollSec: number }

/** The floor's site in a phase's environment (a standalone redis-server: the floor reads its keys with plain commands). */
export const floorSite = (env: BenchEnv, cfg: Config): FloorSite => ({ redisUrl: env.redisUrl, redis: env.redis as Redis, hosts: cfg.hosts, longPollSec: cfg.longPollSec });

/** Starts the floor's server on the site's redis-server; resolves once it listens. */
async function startFloorServer(site: FloorSite, logDir: string, name: string) {
  const port = await freePort();
  const child = spawnTracked(process.execPath, [...TSX, join(projectRoot, 'bench', 'dispatch-floor-server.ts')], {
    cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: String(port), REDIS_URL: site.redisUrl, LONG_POLL_SEC: String(site.longPollSec) },
  });
  child.stderr!.pipe(createWriteStream(join(logDir, `${name}-server.log`)));
  const exited = exitOf(child).then(({ code }) => {
    throw new Error(`the ${name} server exited (${code}) at start; see ${name}-server.log`);
  });
  await Promise.race([new Promise<void>((resolve) => child.stdout!.once('data', () => resolve())), exited]);
  exited.catch(() => {});
  return { child, url: `http://127.0.0.1:${port}` };
}

/**
 * The floor's server and runner host processes (`--hosts` of them), on the phase's redis-server:
 * shared by the dispatch floor and the protocol floor (bench/phases/protocol-floor.ts).
 */
export interface Floor {
  hosts: RunnerHosts;
  serverPid: number;
  /** POST /tasks on the floor's server, timed on the benchmark's clock as Forge's are. */
  create(): Promise<Created>;
  /** Starts `count` more single-slot runners, each in host process `hostOf(its index from 0)`. */
  addRunners(count: number, hostOf: (index: number) => number): Promise<void>;
  /** Resolves once `count` long-polls are parked on the server. */
  allParked(count: number): Promise<void>;
  /** Long-polls the server answered 204 because they ran out, since it started. */
  expiredPolls(): Promise<number>;
  /** CPU seconds so far of the floor's server and hosts, with their launchers and task processes. */
  cpu(): number;
  /** The records of `ids`: when the last became final (epoch ms) and their statuses. */
  records(ids: number[]): Promise<{ lastFinal: number; statuses: Record<string, number> }>;
  /** Stops every process of the floor and deletes its keys. */
  stop(): Promise<void>;
}

/** `name` names the floor's temp folder and log files. */
export async function startFloor(site: FloorSite, repo: string, logDir: string, name: string): Promise<Floor> {
  const root = tempDir(`forge-bench-${name}-`);
  const server = await startFloorServer(site, logDir, name);
  const api = new Api(server.url);
  const hosts = new RunnerHosts(join(projectRoot, 'bench', 'dispatch-floor-host.ts'));
  let runners = 0;
  const stop = async () => {
    killChildGroups(hosts.pids());
    await hosts.close();
    api.close();
    await stopChild(server.child, 3000);
    const keys = await site.redis.keys(`${PREFIX}*`);
    if (keys.length) await site.redis.del(...keys);
  };
  try {
    await hosts.start(site.hosts, logDir, TSX, [], `${name}-host`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    hosts, serverPid: server.child.pid!, stop,
    create: () => postTaskTo(api, '/tasks', { git_url: repo, branch: 'main', playbook: 'run.sh' }),
    async addRunners(count, hostOf) {
      const first = runners;
      runners += count;
      const added = Array.from({ length: count }, (_, i): RunnerSpec => {
        const index = first + i;
        return { id: index + 1, name: `dfloor-runner-${index}`, token: '', max_parallel: 1, dir: join(root, `runner-${index}`), work_dir: taskWorkDir(`dfloor-runner-${index}-`), web_host: server.url };
      });
      await hosts.add(added, (_spec, i) => hostOf(first + i));
    },
    allParked: (count) => api.json('GET', `/parked?count=${count}`),
    expiredPolls: async () => (await api.json<{ expired: number }>('GET', '/parked?count=0')).expired,
    cpu: () => cpuSeconds(server.child.pid!) + hosts.pids().reduce((sum, pid) => sum + hostCpuSeconds(pid, true), 0),
    async records(ids) {
      const pipeline = site.redis.pipeline();
      for (const id of ids) pipeline.hmget(`${PREFIX}task:${id}`, 'finished', 'status');
      const rows = ((await pipeline.exec()) ?? []).map(([, row]) => row as [string | null, string | null]);
      return { lastFinal: Math.max(...rows.map(([finished]) => Number(finished))), statuses: countStatuses(rows.map(([, status]) => status)) };
    },
  };
}

/** The floor's rows, one per runner count of the dispatch phase (its shared layout: runners many to a host process). */
export async function dispatchFloor(ctx: Ctx, repo: string, logDir: string): Promise<DispatchFloorResult[]> {
  const floor = await startFloor(floorSite(ctx.env, ctx.cfg), repo, logDir, 'dispatch-floor');
  const dispatcher: Dispatcher = { create: floor.create, hosts: floor.hosts };
  let online = 0;
  const results: DispatchFloorResult[] = [];
  try {
    for (const n of ctx.cfg.dispatch.runners) {
      if (online < n) {
        log(`dispatch floor: starting ${n - online} more runner(s) → ${n} idle runners`);
        // Round robin over the host processes in runner order, as Forge's shared layout places its agents.
        await floor.addRunners(n - online, (index) => index);
        online = n;
      }
      await floor.allParked(n);
      const serverIdle = await idleCpuRate(floor.serverPid, SERVER_IDLE_MS);
      const cpuWindow = new CpuWindow(() => ownCpu(ctx) + floor.cpu());
      const { result: { single, bursts }, ms_per_task: serverCpuPerTaskMs } = await serverCpuPerTask(
        floor.serverPid, serverIdle, scheduledTasks(ctx.cfg.dispatch), () => runSchedule(dispatcher, ctx.cfg.dispatch),
      );
      const cpu = cpuWindow.end();
      if (floor.hosts.rejections.length) throw new Error(`dispatch floor tasks failed: ${floor.hosts.rejections.join('; ')}`);
      results.push({
        runners: n,
        single: summarize(single.map((s) => s.latency_ms)),
        burst: summarize(bursts.map((s) => s.latency_ms)),
        post_ms: summarize([...single, ...bursts].map((s) => s.post_ms)),
        single_post_ms: summarize(single.map((s) => s.post_ms)),
        cpu,
        server_cpu_ms_per_task: serverCpuPerTaskMs,
        server_idle_pct_of_core: serverIdle * 100,
      });
    }
  } finally {
    await floor.stop();
  }
  return results;
}
