/**
 * End-to-end throughput of no-op tasks through server + 10 runners x 4 slots (first POST to the
 * last task record final), with CPU per task per component and Redis commands per task; beside it
 * references measured in the same run: bare BullMQ add -> process on the same redis-server, the
 * work floor (the same clone + app at the same parallelism, without Forge), and the protocol floor
 * (the same batch measured the same way through a minimal server and runners: protocol-floor.ts).
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Created } from '../lib/forge.js';
import { allCommandStats, commandsDelta } from '../lib/env.js';
import { now, type RunnerHosts } from '../lib/hosts.js';
import { exitOf, projectRoot, sleep, spawnTracked } from '../lib/procs.js';
import { CpuWindow, cpuSeconds, fmt, hostCpuSeconds, machineCpu, median, summarize, type Summary } from '../lib/stats.js';
import { addRunners, createTask, type Ctx, forgeCpu, log, ownCpu, removeRunners } from './context.js';

/**
 * What the phase measures of one batch of tasks, the same for Forge and the protocol floor
 * (bench/phases/protocol-floor.ts): tasks/s from the first POST to the last record final, CPU
 * per task per component, Redis commands per task.
 */
export interface BatchFigures {
  tasks: number; inflight_creates: number;
  seconds_to_last_final: number; tasks_per_s: number;
  seconds_to_last_runner_finish: number; tasks_per_s_runner_side: number;
  statuses: Record<string, number>;
  cpu_seconds: { server: number; runner_hosts_incl_git_bash: number; runner_hosts_node_only: number; redis: number; bench_client: number };
  /** runner_agents: the runner host Node processes alone, with their process launchers; git_and_app: their git and bash children (and theirs). */
  cpu_ms_per_task: { server: number; runner_agents: number; git_and_app: number; redis: number; bench_client: number; total: number };
  /** POST /tasks round trip under this load (8 in flight). */
  post_ms: Summary;
  dispatch_latency_under_load_ms: Summary;
  redis_commands_per_task: { total: number; top: Record<string, number> };
  machine_cpu: ReturnType<CpuWindow['end']>;
  /** Runner side, 'started' → 'finished' (clone, start report, bash, output, result report). */
  task_run_ms: Summary;
  mean_tasks_in_flight_on_runners: number;
  seconds_to_create_all: number;
}

/** Forge's figures keep the server's name in their keys (`forge_server`), as in earlier results. */
type ForgeServerKey<T extends { server: number }> = Omit<T, 'server'> & { forge_server: number };

export interface ThroughputResult extends Omit<BatchFigures, 'cpu_seconds' | 'cpu_ms_per_task'> {
  runners: number; max_parallel_tasks: number;
  /** Runner host processes the runners were spread over. */
  host_processes: number;
  cpu_seconds: ForgeServerKey<BatchFigures['cpu_seconds']>;
  cpu_ms_per_task: ForgeServerKey<BatchFigures['cpu_ms_per_task']>;
  /** The warm-up's chunks, each measured as the batch is (see warmUp). */
  warm_up: WarmUpChunk[];
  /** HTTP requests the runners sent to the gateway, per task, by endpoint. */
  runner_requests_per_task: Record<string, number>;
  /** Each batch between two runs of the sandboxed floor (see throughput); the other figures are the median one's. */
  paired?: PairedBatch[];
}

/** Where a batch's tasks go and what is measured of it: Forge, or the protocol floor. */
export interface BatchTarget {
  create(): Promise<Created>;
  /** The runner hosts that report each task's 'started' and 'finished'. */
  hosts: RunnerHosts;
  serverPid: number;
  /** CPU seconds of every process of the benchmark, for the machine's busy share. */
  ownCpu(): number;
  /** Resolves once every task's record is final (each task's runner has finished already). */
  settled(ids: number[]): Promise<void>;
  /** Read after the measured window: when the last record became final (epoch ms) and the records' statuses. */
  records(ids: number[]): Promise<{ lastFinal: number; statuses: Record<string, number> }>;
}

/** Creates `n` tasks with `inflight` POSTs in flight at a time. */
async function createMany(target: BatchTarget, n: number, inflight: number): Promise<Created[]> {
  const out: Created[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < n) {
      next++;
      out.push(await target.create());
    }
  }));
  return out;
}

/** One warm-up chunk: its throughput and the CPU per task of the processes a JIT warms. */
export interface WarmUpChunk { tasks: number; tasks_per_s: number; cpu_ms_per_task: { server: number; runner_agents: number } }

/** The chunks' server / runner agents CPU ms per task, in order: "2.94/3.94, 1.86/3.54, …". */
export const warmUpCurve = (chunks: WarmUpChunk[]): string =>
  chunks.map((c) => `${fmt(c.cpu_ms_per_task.server, 2)}/${fmt(c.cpu_ms_per_task.runner_agents, 2)}`).join(', ');

/**
 * Warm-up tasks on `target` (JIT, connections, first clone), not counted in the measured batch.
 * Run in chunks of the measured batch's size, each measured the same way, so the results show
 * whether the CPU per task had stopped falling before the measured batch began.
 */
export async function warmUp(ctx: Ctx, target: BatchTarget, label: string, hostCount: number): Promise<WarmUpChunk[]> {
  const t = ctx.cfg.throughput;
  const warmup = t.warmupPerHost * hostCount;
  const chunks: WarmUpChunk[] = [];
  for (let done = 0; done < warmup; done += t.tasks) {
    const n = Math.min(t.tasks, warmup - done);
    const figures = await measureBatch(ctx, target, n);
    chunks.push({ tasks: n, tasks_per_s: +figures.tasks_per_s.toFixed(1), cpu_ms_per_task: { server: +figures.cpu_ms_per_task.server.toFixed(2), runner_agents: +figures.cpu_ms_per_task.runner_agents.toFixed(2) } });
  }
  log(`${label} warm-up, ${warmup} tasks in chunks of ${t.tasks}: server / agents CPU ms per task ${warmUpCurve(chunks)}`);
  await sleep(500);
  return chunks;
}

/** The phase's measured batch on `target`: `tasks` tasks, `inflight` POSTs in flight. */
export async function measureBatch(ctx: Ctx, target: BatchTarget, tasks = ctx.cfg.throughput.tasks): Promise<BatchFigures> {
  const t = { ...ctx.cfg.throughput, tasks };
  const pids = { server: target.serverPid, hosts: target.hosts.pids(), redis: ctx.redisPid };
  const cpu = () => ({
    server: cpuSeconds(pids.server), hosts: pids.hosts.reduce((s, pid) => s + hostCpuSeconds(pid, true), 0), hostsNode: pids.hosts.reduce((s, pid) => s + hostCpuSeconds(pid), 0), redis: cpuSeconds(pids.redis), self: process.cpuUsage(),
  });
  const c0 = cpu();
  const cpuWindow = new CpuWindow(() => target.ownCpu());
  const cmd0 = await allCommandStats(ctx.redis);
  const first = now();
  const created = await createMany(target, t.tasks, t.inflight);
  let lastRunnerFinish = 0;
  for (const c of created) lastRunnerFinish = Math.max(lastRunnerFinish, await target.hosts.waitEvent(c.id, 'finished', 120_000));
  const ids = created.map((c) => c.id);
  await target.settled(ids);
  const c1 = cpu();
  const machine = cpuWindow.end();
  const cmd1 = await allCommandStats(ctx.redis);
  const { lastFinal, statuses } = await target.records(ids);
  const events = (c: Created) => target.hosts.events.get(c.id)!;
  const latencies = created.map((c) => events(c).started! - c.tSend);
  const runMs = created.map((c) => events(c).finished! - events(c).started!);
  const createSeconds = (Math.max(...created.map((c) => c.tResp)) - first) / 1000;

  const selfCpu = (c1.self.user + c1.self.system - c0.self.user - c0.self.system) / 1e6;
  const cpuSec = { server: c1.server - c0.server, runner_hosts_incl_git_bash: c1.hosts - c0.hosts, runner_hosts_node_only: c1.hostsNode - c0.hostsNode, redis: c1.redis - c0.redis, bench_client: selfCpu };
  const perTask = (s: number) => (s / t.tasks) * 1000;
  return {
    tasks: t.tasks, inflight_creates: t.inflight,
    seconds_to_last_final: (lastFinal - first) / 1000, tasks_per_s: t.tasks / ((lastFinal - first) / 1000),
    seconds_to_last_runner_finish: (lastRunnerFinish - first) / 1000, tasks_per_s_runner_side: t.tasks / ((lastRunnerFinish - first) / 1000),
    statuses,
    cpu_seconds: cpuSec,
    cpu_ms_per_task: {
      server: perTask(cpuSec.server), runner_agents: perTask(cpuSec.runner_hosts_node_only),
      git_and_app: perTask(cpuSec.runner_hosts_incl_git_bash - cpuSec.runner_hosts_node_only), redis: perTask(cpuSec.redis), bench_client: perTask(cpuSec.bench_client),
      total: perTask(cpuSec.server + cpuSec.runner_hosts_incl_git_bash + cpuSec.redis),
    },
    post_ms: summarize(created.map((c) => c.tResp - c.tSend)),
    dispatch_latency_under_load_ms: summarize(latencies),
    redis_commands_per_task: commandsDelta(cmd0, cmd1, t.tasks),
    machine_cpu: machine,
    task_run_ms: summarize(runMs),
    mean_tasks_in_flight_on_runners: runMs.reduce((a, b) => a + b, 0) / (lastRunnerFinish - first),
    seconds_to_create_all: createSeconds,
  };
}

/** Forge's batch: its API, its runner agents, and its records final once the reconciler has finalised them. */
function forgeTarget(ctx: Ctx): BatchTarget {
  return {
    create: () => createTask(ctx), hosts: ctx.hosts, serverPid: ctx.forge.pid, ownCpu: () => ownCpu(ctx),
    async settled(ids) {
      // The reconciler finalises the record after the runner reported: wait for every final record.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const scores = await ctx.redis.zmscore('{forge}:tasks:finished', ...ids.map(String));
        if (scores.every((s) => s !== null)) return;
        if (Date.now() > deadline) throw new Error(`${scores.filter((s) => s === null).length} task records were not final 60 s after their runners finished`);
        await sleep(20);
      }
    },
    async records(ids) {
      const scores = await ctx.redis.zmscore('{forge}:tasks:finished', ...ids.map(String));
      const raws = await ctx.redis.mget(...ids.map((id) => `{forge}:task:${id}`));
      return { lastFinal: Math.max(...scores.map(Number)), statuses: countStatuses(raws.map((raw) => (raw ? (JSON.parse(raw) as { status: string }).status : null))) };
    },
  };
}

/** How many records have each status (`missing`: no record). */
export function countStatuses(statuses: Array<string | null>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const status of statuses) out[status ?? 'missing'] = (out[status ?? 'missing'] ?? 0) + 1;
  return out;
}

/** One of Forge's batches between two runs of the sandboxed work floor, and its ratio to their mean. */
export interface PairedBatch {
  floor_before: number; forge: number; floor_after: number;
  /** Forge's tasks/s ÷ the mean of the floor's runs just before and just after it. */
  ratio: number;
  /**
   * CPU ms Forge's server, runner hosts (with children) and Redis used while the floor ran after
   * this batch: their timers and parked polls, and any work left from the batch. Its share of the
   * machine (÷ machine_busy_ms_during_floor_after, the whole machine's busy CPU ms) slows the floor
   * as Forge's own batch is slowed by the same timers.
   */
  forge_cpu_ms_during_floor_after: number;
  machine_busy_ms_during_floor_after: number;
  cpu_ms_per_task: { server: number; runner_agents: number };
}

/** A pair's tasks/s, floor before · Forge · floor after: "95.6 · 84.8 · 99". */
export const pairedTasksPerSecond = (p: PairedBatch): string => `${p.floor_before} · ${p.forge} · ${p.floor_after}`;

/**
 * Forge's batch with its runners spread over the first `hostCount` runner host processes. With
 * `floor`, `pairs` batches, each between two runs of the floor (floor, Forge, floor, Forge, …,
 * floor): the figures reported are the batch whose ratio is the median, `paired` lists them all.
 */
export async function throughput(ctx: Ctx, hostCount: number, floor?: PairedFloor): Promise<ThroughputResult> {
  const t = ctx.cfg.throughput;
  log(`throughput: starting ${t.runners} runners × max_parallel_tasks ${t.maxParallel} in ${hostCount} host process(es)`);
  const specs = await addRunners(ctx, t.runners, t.maxParallel, hostCount);
  await sleep(1500);
  const target = forgeTarget(ctx);
  const warmUpChunks = await warmUp(ctx, target, 'throughput', hostCount);
  const req0 = await ctx.hosts.requestCounts();
  const batches: BatchFigures[] = [];
  const floorRuns: Array<FloorRun & { forge_cpu_ms: number; machine_busy_ms: number }> = [];
  // Forge's processes' CPU while the floor runs: work of Forge's left over from its batch lands there.
  const floorRun = async () => {
    const [forge0, machine0] = [forgeCpu(ctx), machineCpu().busy];
    const run = await floor!.run();
    const ms = (s: number) => Math.round(s * 1000);
    floorRuns.push({ ...run, forge_cpu_ms: ms(forgeCpu(ctx) - forge0), machine_busy_ms: ms(machineCpu().busy - machine0) });
  };
  for (let i = 0; i < (floor ? t.pairs : 1); i++) {
    if (floor) await floorRun();
    batches.push(await measureBatch(ctx, target));
  }
  if (floor) await floorRun();
  const req1 = await ctx.hosts.requestCounts();
  const measured = batches.length * t.tasks;
  const runnerRequests = Object.fromEntries(Object.entries(req1).map(([k, v]) => [k, +((v - (req0[k] ?? 0)) / measured).toFixed(2)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]));
  await removeRunners(ctx, specs);
  const paired: PairedBatch[] | undefined = floor && batches.map((b, i) => ({
    floor_before: +floorRuns[i]!.tasks_per_s.toFixed(1), forge: +b.tasks_per_s.toFixed(1), floor_after: +floorRuns[i + 1]!.tasks_per_s.toFixed(1),
    ratio: b.tasks_per_s / ((floorRuns[i]!.tasks_per_s + floorRuns[i + 1]!.tasks_per_s) / 2),
    forge_cpu_ms_during_floor_after: floorRuns[i + 1]!.forge_cpu_ms,
    machine_busy_ms_during_floor_after: floorRuns[i + 1]!.machine_busy_ms,
    cpu_ms_per_task: { server: +b.cpu_ms_per_task.server.toFixed(2), runner_agents: +b.cpu_ms_per_task.runner_agents.toFixed(2) },
  }));
  if (paired) log(`throughput, ${hostCount} host process(es), paired with the sandboxed floor: ${paired.map((p) => `${pairedTasksPerSecond(p)} → ${fmt(p.ratio, 3)} (Forge's processes ${p.forge_cpu_ms_during_floor_after} ms of CPU during the floor after)`).join('; ')}`);
  // The batch whose ratio is the median (with one batch, that one).
  const order = batches.map((_, i) => i).sort((a, b) => (paired ? paired[a]!.ratio - paired[b]!.ratio : 0));
  const chosen = batches[order[Math.floor((order.length - 1) / 2)]!]!;
  const { cpu_seconds: { server: serverSec, ...cpuSec }, cpu_ms_per_task: { server: serverMs, ...perTask }, ...figures } = chosen;
  return {
    runners: t.runners, max_parallel_tasks: t.maxParallel, host_processes: hostCount, ...figures,
    cpu_seconds: { forge_server: serverSec, ...cpuSec }, cpu_ms_per_task: { forge_server: serverMs, ...perTask },
    runner_requests_per_task: runnerRequests, warm_up: warmUpChunks, paired,
  };
}

export interface BareResult { jobs: number; concurrency: number; inflight_adds: number; runs: Array<{ seconds: number; jobs_per_s: number }>; jobs_per_s_median: number; cpu: ReturnType<CpuWindow['end']> }

export async function bareBullmq(ctx: Ctx, logDir: string): Promise<BareResult> {
  const t = ctx.cfg.throughput;
  const concurrency = t.runners * t.maxParallel;
  const jobs = ctx.cfg.bare.jobs;
  log(`bare BullMQ: ${jobs} jobs, Worker concurrency ${concurrency}, ${ctx.cfg.bare.reps} runs (+1 warm-up) on the same redis-server`);
  const child = spawnTracked(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench', 'bare-bullmq.ts'), ctx.env.redisUrl, String(jobs), String(concurrency), String(t.inflight), String(ctx.cfg.bare.reps)], {
    cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Own CPU here includes the baseline child: it is counted in our cutime once reaped.
  const cpuWindow = new CpuWindow(() => ownCpu(ctx) + cpuSeconds(process.pid, true) - cpuSeconds(process.pid));
  let stdout = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.pipe(createWriteStream(join(logDir, 'bare-bullmq.log')));
  const { code } = await exitOf(child);
  await sleep(50); // reaped: its CPU time is in our cutime
  const cpu = cpuWindow.end();
  if (code !== 0) throw new Error(`bare BullMQ baseline exited with ${code}; see its log`);
  const runs = stdout.trim().split('\n').map((l) => JSON.parse(l) as { seconds: number; jobs_per_s: number });
  return { jobs, concurrency, inflight_adds: t.inflight, runs, jobs_per_s_median: median(runs.map((r) => r.jobs_per_s)), cpu };
}


// ---------------------------------------------------------------------------------------------
// The work floor.

export interface FloorResult {
  tasks: number; parallel: number;
  /** The first run, not in the median: the driver's JIT warms on it as Forge's processes do on their warm-up. */
  warm_up_run?: FloorRun;
  runs: FloorRun[]; tasks_per_s_median: number; cpu_ms_per_task: number; cpu: ReturnType<CpuWindow['end']>;
}

/** Runs bench/floor.ts: the same clone + `bash run.sh` as a Forge task, at the throughput phase's parallelism. */
export async function floor(ctx: Ctx, repo: string, tmp: string, logDir: string, sandboxed = false): Promise<FloorResult> {
  const t = ctx.cfg.throughput;
  const parallel = t.runners * t.maxParallel;
  const reps = ctx.cfg.quick ? 1 : 3;
  const warmUpRuns = ctx.cfg.quick ? 0 : 1;
  log(`work floor${sandboxed ? ' (sandboxed)' : ''}: ${t.tasks} × (git clone + bash run.sh), ${parallel} at once, ${reps} run(s) after ${warmUpRuns} warm-up run, without Forge`);
  const child = spawnFloor(ctx, { repo, tmp, runs: warmUpRuns + reps, sandboxed, serve: false });
  const cpuWindow = new CpuWindow(() => ownCpu(ctx) + cpuSeconds(process.pid, true) - cpuSeconds(process.pid));
  const cpu0 = cpuSeconds(process.pid, true) - cpuSeconds(process.pid);
  let stdout = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.pipe(createWriteStream(join(logDir, sandboxed ? 'floor-sandboxed.log' : 'floor.log')));
  const { code } = await exitOf(child);
  await sleep(50);
  const cpuChildren = cpuSeconds(process.pid, true) - cpuSeconds(process.pid) - cpu0;
  const cpu = cpuWindow.end();
  if (code !== 0) throw new Error(`the work floor exited with ${code}; see floor.log`);
  const all = stdout.trim().split('\n').map((l) => JSON.parse(l) as FloorRun);
  const warmUpRun = warmUpRuns ? all[0] : undefined;
  const runs = all.slice(warmUpRuns);
  return { tasks: t.tasks, parallel, warm_up_run: warmUpRun, runs, tasks_per_s_median: median(runs.map((r) => r.tasks_per_s)), cpu_ms_per_task: (cpuChildren / (t.tasks * (warmUpRuns + reps))) * 1000, cpu };
}

/** bench/floor.ts at the phase's batch size and parallelism; `serve`: one more run per stdin line. */
function spawnFloor(ctx: Ctx, o: { repo: string; tmp: string; runs: number; sandboxed: boolean; serve: boolean }) {
  const t = ctx.cfg.throughput;
  return spawnTracked(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench', 'floor.ts'), o.repo, 'main', 'run.sh', o.tmp, String(t.tasks), String(t.runners * t.maxParallel), String(o.runs)], {
    cwd: projectRoot, stdio: [o.serve ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: { ...process.env, FLOOR_SANDBOX: o.sandboxed ? '1' : '0', FLOOR_SERVE: o.serve ? '1' : '0' },
  });
}

/** One run of the work floor: `tasks` tasks, first clone to last task done. */
export interface FloorRun { seconds: number; tasks_per_s: number }

/**
 * The sandboxed work floor kept running beside Forge's runners, one batch per `run()`, so the
 * throughput phase can measure it right before and right after each of Forge's batches: the ratio
 * of each batch is then to the floor of the same minute, not to one measured minutes earlier on
 * a machine whose speed drifts. Its driver warms on a first run, as Forge's processes warm on
 * theirs. While it runs, Forge's runners are parked and idle.
 */
export class PairedFloor {
  private readonly runs: FloorRun[] = [];
  private readonly waiting: Array<{ resolve: (run: FloorRun) => void; reject: (err: Error) => void }> = [];
  private failure: Error | undefined;

  private constructor(private readonly child: ReturnType<typeof spawnFloor>) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const run = JSON.parse(line) as FloorRun;
      const waiter = this.waiting.shift();
      if (waiter) waiter.resolve(run);
      else this.runs.push(run);
    });
    void exitOf(child).then(({ code }) => {
      this.failure = new Error(`the paired work floor exited with ${code}; see floor-paired.log`);
      for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure);
    });
  }

  /** Starts the sandboxed floor's driver and waits for its warm-up run. */
  static async start(ctx: Ctx, repo: string, tmp: string, logDir: string): Promise<PairedFloor> {
    const child = spawnFloor(ctx, { repo, tmp, runs: 1, sandboxed: true, serve: true });
    child.stderr!.pipe(createWriteStream(join(logDir, 'floor-paired.log')));
    const floor = new PairedFloor(child);
    const warm = await floor.next();
    log(`paired work floor (sandboxed): ${fmt(warm.tasks_per_s, 1)} tasks/s on its warm-up run`);
    return floor;
  }

  /** One measured run of the floor. */
  run(): Promise<FloorRun> {
    this.child.stdin!.write('run\n');
    return this.next();
  }

  private next(): Promise<FloorRun> {
    const ready = this.runs.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    await exitOf(this.child);
  }
}
