/**
 * What every phase gets: the sizes chosen on the command line, a logger, and (for the phases that
 * share the standalone environment) that environment with the no-op template and the task
 * queue's key.
 */
import type { Redis } from 'ioredis';
import { parseArgs } from 'node:util';
import type { Api } from '../lib/api.js';
import { type Created, createTask as postTask, type Forge } from '../lib/forge.js';
import type { BenchEnv } from '../lib/env.js';
import type { RunnerHosts, RunnerSpec } from '../lib/hosts.js';
import { cpuSeconds, hostCpuSeconds } from '../lib/stats.js';

export const PHASES = ['floor', 'bare', 'throughput', 'procs', 'dispatch', 'parked', 'running', 'scale', 'sandbox'] as const;
export type Phase = (typeof PHASES)[number];

const USAGE = `usage: npm run bench -- [--only=${PHASES.join(',')}] [--quick] [--cpu-prof] [sizes]
sizes (defaults: full / --quick):
  --tasks=500/100            throughput: tasks (10 runners x 4 slots); the floors run the same count
  --warmup=2000/10           throughput: tasks run before the measured ones, per runner host
                             process in use, Forge's and the protocol floor's (each process's JIT
                             warms on its own; the results show the warm-up's CPU per task by chunk)
  --throughput-hosts=1,4     throughput: the runner host process counts its batches are run with,
                             Forge's and the protocol floor's, the first the headline (1: the 40
                             slots started from one process, as the work floor starts its 40)
  --pairs=3/1                throughput: Forge's measured batches per layout, each between two
                             runs of the sandboxed work floor (with the floor phase), so each
                             ratio is to the floor of the same minute; the median one is reported
  --inflight=8               throughput: POST /tasks kept in flight by the client (Forge's batch
                             and the protocol floor's)
  --protocol-floor=none      throughput: skip the protocol floor (the same batch through a minimal
                             server and runners, no Forge; run by default before Forge's)
  --dispatch-runners=1,10,100  dispatch: idle runner counts
  --sequential=150/20        dispatch: single tasks per runner count
  --bursts=10/2              dispatch: bursts of 10 per runner count
  --dispatch-own-runners=1,10  dispatch again with one runner agent per host process (as
                             \`forge runner start\` runs); "none" skips it
  --dispatch-floor=none      dispatch: skip the dispatch floor (the same hops by a minimal
                             server and runner, no Forge; run by default before Forge's rows)
  --procs-tasks=20/10        procs: tasks traced with strace
  --parked=1000/100          parked: parked runners
  --running=2000/100         running: running sleep tasks
  --running-runners=200/20   running: runners they run on
  --window=30/10             parked, running: measured window, seconds
  --scale-tasks=5000/300     scale: tasks per replica count
  --scale-runners=100/20     scale: runners (max_parallel_tasks 1)
  --hosts=4                  runner host processes
  --long-poll=25             the server's long_poll_sec in every phase (FORGE_LONG_POLL_SEC):
                             how often a parked runner's poll is answered and sent again`;

export interface Config {
  only: Set<Phase>;
  quick: boolean;
  cpuProf: boolean;
  hosts: number;
  longPollSec: number;
  /** dispatch.floor: run the dispatch floor's rows (bench/phases/dispatch-floor.ts) before Forge's. */
  dispatch: { runners: number[]; ownRunners: number[]; floor: boolean; warmup: number; sequential: number; bursts: number; burstSize: number; probe: number };
  /** throughput.protocolFloor: run the protocol floor (bench/phases/protocol-floor.ts) before Forge's batch. */
  /** hostLayouts: runner host process counts the batches run with, the first the headline; warmupPerHost: warm-up tasks per host process in use. */
  throughput: { tasks: number; runners: number; maxParallel: number; inflight: number; warmupPerHost: number; hostLayouts: number[]; protocolFloor: boolean; pairs: number };
  bare: { jobs: number; reps: number };
  procs: { tasks: number };
  parked: { runners: number; windowSec: number };
  running: { tasks: number; runners: number; windowSec: number; sleepSec: number };
  scale: { tasks: number; runners: number; inflight: number };
}

export function parseConfig(argv: string[]): Config {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      only: { type: 'string' }, quick: { type: 'boolean' }, 'cpu-prof': { type: 'boolean' }, help: { type: 'boolean' },
      tasks: { type: 'string' }, warmup: { type: 'string' }, inflight: { type: 'string' }, 'dispatch-runners': { type: 'string' }, 'dispatch-own-runners': { type: 'string' }, 'dispatch-floor': { type: 'string' }, 'protocol-floor': { type: 'string' }, sequential: { type: 'string' }, bursts: { type: 'string' },
      'procs-tasks': { type: 'string' }, parked: { type: 'string' }, running: { type: 'string' }, 'running-runners': { type: 'string' },
      window: { type: 'string' }, 'scale-tasks': { type: 'string' }, 'scale-runners': { type: 'string' }, hosts: { type: 'string' }, 'throughput-hosts': { type: 'string' }, pairs: { type: 'string' }, 'long-poll': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const quick = values.quick === true || process.env.BENCH_QUICK === '1';
  const int = (name: keyof typeof values, full: number, small: number): number => {
    const raw = values[name];
    if (raw === undefined) return quick ? small : full;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number (got "${raw}")\n${USAGE}`);
    return n;
  };
  const only = new Set<Phase>();
  for (const name of (values.only ?? PHASES.join(',')).split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(PHASES as readonly string[]).includes(name)) throw new Error(`--only: unknown phase "${name}"; phases are ${PHASES.join(', ')}\n${USAGE}`);
    only.add(name as Phase);
  }
  const runners = (values['dispatch-runners'] ?? '1,10,100').split(',').map(Number);
  if (runners.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--dispatch-runners must be a list of positive whole numbers, e.g. 1,10,100`);
  const ownRaw = values['dispatch-own-runners'] ?? '1,10';
  const ownRunners = ownRaw === 'none' ? [] : ownRaw.split(',').map(Number);
  if (ownRunners.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--dispatch-own-runners must be a list of positive whole numbers, e.g. 1,10, or "none"`);
  const floorRaw = values['dispatch-floor'];
  if (floorRaw !== undefined && floorRaw !== 'none') throw new Error(`--dispatch-floor takes only "none" (skip it); got "${floorRaw}"\n${USAGE}`);
  const protocolFloorRaw = values['protocol-floor'];
  if (protocolFloorRaw !== undefined && protocolFloorRaw !== 'none') throw new Error(`--protocol-floor takes only "none" (skip it); got "${protocolFloorRaw}"\n${USAGE}`);
  const windowSec = int('window', 30, 10);
  const hosts = int('hosts', 4, 4);
  const layouts = [...new Set((values['throughput-hosts'] ?? `1,${hosts}`).split(',').map(Number))];
  if (layouts.some((n) => !Number.isInteger(n) || n < 1 || n > hosts)) throw new Error(`--throughput-hosts must be a list of whole numbers from 1 to --hosts (${hosts}), e.g. 1,${hosts}`);
  return {
    only, quick, cpuProf: values['cpu-prof'] === true, hosts, longPollSec: int('long-poll', 25, 25),
    dispatch: { runners, ownRunners, floor: floorRaw !== 'none', warmup: quick ? 3 : 5, sequential: int('sequential', 150, 20), bursts: int('bursts', 10, 2), burstSize: 10, probe: 10 },
    throughput: { tasks: int('tasks', 500, 100), runners: 10, maxParallel: 4, inflight: int('inflight', 8, 1), warmupPerHost: int('warmup', 2000, 10), hostLayouts: layouts, protocolFloor: protocolFloorRaw !== 'none', pairs: int('pairs', 3, 1) },
    bare: { jobs: quick ? 500 : 2000, reps: 3 },
    procs: { tasks: int('procs-tasks', 20, 10) },
    parked: { runners: int('parked', 1000, 100), windowSec },
    running: { tasks: int('running', 2000, 100), runners: int('running-runners', 200, 20), windowSec, sleepSec: 1800 },
    scale: { tasks: int('scale-tasks', 5000, 300), runners: int('scale-runners', 100, 20), inflight: 16 },
  };
}

export const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** The standalone environment shared by the throughput, procs and dispatch phases. */
export interface Ctx {
  cfg: Config;
  env: BenchEnv;
  api: Api;
  redis: Redis;
  redisPid: number;
  forge: Forge;
  hosts: RunnerHosts;
  projectId: number;
  templateId: number;
  queueKey: string;
  /** Tasks this environment's server has handled (for per-task profile figures). */
  tasksRun: number;
}

export function createTask(ctx: Ctx): Promise<Created> {
  ctx.tasksRun++;
  return postTask(ctx.api, ctx.projectId, ctx.templateId);
}

/** `hostCount`: spread over only the first that many host processes (default all). */
export const addRunners = (ctx: Ctx, count: number, maxParallel: number, hostCount?: number): Promise<RunnerSpec[]> => ctx.env.addRunners(count, maxParallel, hostCount);
export const removeRunners = (ctx: Ctx, specs: RunnerSpec[]): Promise<void> => ctx.env.removeRunners(specs);

/** CPU seconds used so far by every process of the benchmark (server, runner hosts with their git/bash children, redis, this one). */
export function ownCpu(ctx: Ctx): number {
  const self = process.cpuUsage();
  return forgeCpu(ctx) + (self.user + self.system) / 1e6;
}

/** CPU seconds used so far by Forge's processes: the server, the runner hosts with their git/bash children, redis. */
export function forgeCpu(ctx: Ctx): number {
  return cpuSeconds(ctx.forge.pid) + ctx.hosts.pids().reduce((s, pid) => s + hostCpuSeconds(pid, true), 0) + cpuSeconds(ctx.redisPid);
}
