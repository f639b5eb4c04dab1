/**
 * Forge dispatch benchmark (`npm run bench`). In one run, on one private redis-server:
 *
 *  1. Dispatch latency p50/p99 with 1, 10 and 100 idle runners: from the moment the benchmark
 *     sends POST /api/project/:pid/tasks to the moment a runner agent has the claimed job in hand
 *     (the agent's 'started' event: the long-poll answered, the sealed payload opened; before the
 *     clone). Tasks are created one at a time (each after the previous one finished) and in bursts.
 *  2. End-to-end throughput of no-op tasks through server + 10 runners × 4 slots (first POST to the
 *     last task record being final), as a ratio to bare BullMQ add → process on the same Redis.
 *  3. How many runners each new task wakes: long-poll answers per task seen by the runners, and
 *     claim attempts per task seen by Redis (MONITOR: BullMQ's RPOPLPUSH on the queue's wait list).
 *
 * Every process it starts (redis-server, Forge server, runner hosts, the baseline) is stopped at the
 * end, on failure and on Ctrl-C. Results go to bench/results/ as JSON and Markdown.
 * BENCH_QUICK=1 runs a smaller version (for trying the harness).
 */
import { copyFileSync, createWriteStream, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Api } from './lib/api.js';
import { ADMIN, addRunners as addRunnerRecords, type Created, createTask as postTask, type Forge, makeRepo, setupProject, startForge } from './lib/forge.js';
import { now, RunnerHosts, type PollRecord, type RunnerSpec } from './lib/hosts.js';
import { cleanup, exitOf, onCleanup, projectRoot, run, sleep, spawnTracked, startRedis, tempDir } from './lib/procs.js';
import { CpuWindow, cpuSeconds, fmt, median, summarize, type Summary } from './lib/stats.js';
import { measureSandboxOverhead } from './sandbox-overhead.js';

const QUICK = process.env.BENCH_QUICK === '1';
const CFG = {
  hosts: 4,
  longPollSec: 25,
  dispatch: QUICK
    ? { runners: [1, 10, 100], warmup: 3, sequential: 20, bursts: 2, burstSize: 10, probe: 10 }
    : { runners: [1, 10, 100], warmup: 5, sequential: 150, bursts: 10, burstSize: 10, probe: 10 },
  throughput: QUICK
    ? { tasks: 100, runners: 10, maxParallel: 4, inflight: 8, warmup: 10 }
    : { tasks: 500, runners: 10, maxParallel: 4, inflight: 8, warmup: 20 },
  bare: { jobs: 2000, reps: 3 },
  watchdogMs: 9 * 60_000,
};
const resultsDir = join(projectRoot, 'bench', 'results');

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

// ---------------------------------------------------------------------------------------------

interface Ctx {
  api: Api;
  redis: Redis;
  redisUrl: string;
  redisPid: number;
  forge: Forge;
  hosts: RunnerHosts;
  projectId: number;
  templateId: number;
  queueKey: string;
  root: string;
  nextRunner: number;
}

/** CPU seconds used so far by every process of the benchmark (server, runner hosts with their git/bash children, redis, this one). */
function ownCpu(ctx: Ctx): number {
  const self = process.cpuUsage();
  return cpuSeconds(ctx.forge.pid) + ctx.hosts.pids().reduce((s, pid) => s + cpuSeconds(pid, true), 0) + cpuSeconds(ctx.redisPid) + (self.user + self.system) / 1e6;
}

const createTask = (ctx: Ctx): Promise<Created> => postTask(ctx.api, ctx.projectId, ctx.templateId);

async function addRunners(ctx: Ctx, count: number, maxParallel: number, placement: (index: number) => number): Promise<RunnerSpec[]> {
  const firstIndex = ctx.nextRunner;
  ctx.nextRunner += count;
  return addRunnerRecords(ctx.api, ctx.hosts, ctx.forge.url, ctx.root, { count, recordMaxParallel: maxParallel, firstIndex, host: placement });
}

async function removeRunners(ctx: Ctx, specs: RunnerSpec[]): Promise<void> {
  await ctx.hosts.stop(specs.map((s) => s.id));
  for (const spec of specs) await ctx.api.json('DELETE', `/api/runners/${spec.id}`);
}

/**
 * Server-side counters from /metrics: the dispatch histogram (created → claimed) and, where the
 * server has them, parked long-polls woken by new work and claim passes that found nothing.
 */
async function serverMetrics(ctx: Ctx): Promise<{ sum: number; count: number; wakeups: number; emptyClaims: number }> {
  const text = (await ctx.api.request('GET', '/metrics')).text;
  const grab = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    sum: grab('forge_dispatch_latency_seconds_sum'), count: grab('forge_dispatch_latency_seconds_count'),
    wakeups: grab('forge_runner_wakeups_total'), emptyClaims: grab('forge_empty_claims_total'),
  };
}

function classifyPolls(polls: PollRecord[]) {
  const timeoutMs = (CFG.longPollSec - 1) * 1000;
  let ok = 0, early204 = 0, timeout204 = 0, other = 0;
  for (const p of polls) {
    if (p.status === 200) ok++;
    else if (p.status === 204 && p.end - p.start < timeoutMs) early204++;
    else if (p.status === 204) timeout204++;
    else other++;
  }
  return { answered_with_job: ok, early_204: early204, timeout_204: timeout204, other_status: other };
}

/**
 * Records claim attempts on the task queue while `fn` runs: BullMQ's moveToActive script does one
 * RPOPLPUSH wait→active per getNextJob, found or not. MONITOR gives each one a Redis timestamp.
 */
async function withMonitor<T>(ctx: Ctx, fn: () => Promise<T>): Promise<{ result: T; fetchTimes: number[] }> {
  const monitor = await ctx.redis.monitor();
  const fetchTimes: number[] = [];
  const waitKey = `${ctx.queueKey}:wait`;
  monitor.on('monitor', (time: string, args: string[]) => {
    if (args[0]?.toUpperCase() === 'RPOPLPUSH' && args[1] === waitKey) fetchTimes.push(Number(time) * 1000);
  });
  await sleep(50);
  try {
    const result = await fn();
    await sleep(100);
    return { result, fetchTimes };
  } finally {
    monitor.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// 1 + 3: dispatch latency and wake-ups with N idle runners.

interface Sample { latency_ms: number; post_ms: number; after_post_ms: number; runner: number; t_send: number; t_started: number }

async function oneTask(ctx: Ctx): Promise<Sample> {
  const created = await createTask(ctx);
  const started = await ctx.hosts.waitEvent(created.id, 'started', 60_000);
  await ctx.hosts.waitEvent(created.id, 'finished', 60_000);
  return {
    latency_ms: started - created.tSend, post_ms: created.tResp - created.tSend, after_post_ms: started - created.tResp,
    runner: ctx.hosts.events.get(created.id)!.runner!, t_send: created.tSend, t_started: started,
  };
}

async function burst(ctx: Ctx, size: number): Promise<Sample[]> {
  const created = await Promise.all(Array.from({ length: size }, () => createTask(ctx)));
  const samples: Sample[] = [];
  for (const c of created) {
    const started = await ctx.hosts.waitEvent(c.id, 'started', 60_000);
    samples.push({ latency_ms: started - c.tSend, post_ms: c.tResp - c.tSend, after_post_ms: started - c.tResp, runner: ctx.hosts.events.get(c.id)!.runner!, t_send: c.tSend, t_started: started });
  }
  for (const c of created) await ctx.hosts.waitEvent(c.id, 'finished', 60_000);
  return samples;
}

const pause = () => sleep(20 + Math.random() * 40);

interface DispatchResult {
  runners: number;
  single: Summary;
  burst: Summary;
  all: Summary;
  post_ms: Summary;
  single_post_ms: Summary;
  single_after_post_ms: Summary;
  distinct_runners_used: number;
  cpu: ReturnType<CpuWindow['end']>;
  server_claim_latency_mean_ms: number;
  /** forge_runner_wakeups_total / forge_empty_claims_total deltas per task (NaN if the server lacks them). */
  server_wakeups_per_task: number;
  server_empty_claims_per_task: number;
  polls: ReturnType<typeof classifyPolls> & { tasks: number; poll_answers_per_task: number; early_204_per_task: number };
  probe: {
    tasks: number; claim_fetches: number; claim_fetches_per_task: number;
    /** Fetches between a task's POST and its runner's 'started': the runners that task woke. */
    fetches_while_dispatching: number; fetches_while_dispatching_per_task: number; fetches_after_start: number;
    poll_answers: number; poll_answers_per_task: number;
  };
}

async function dispatchConfig(ctx: Ctx, runners: number, online: RunnerSpec[]): Promise<DispatchResult> {
  const c = CFG.dispatch;
  if (online.length < runners) {
    log(`starting ${runners - online.length} more runner(s) (max_parallel_tasks 1) → ${runners} idle runners`);
    online.push(...(await addRunners(ctx, runners - online.length, 1, (i) => i)));
  }
  await sleep(1500); // every runner's first long-poll parked
  const cpuWindow = new CpuWindow(() => ownCpu(ctx));
  const m0 = await serverMetrics(ctx);
  const t0 = now();
  for (let i = 0; i < c.warmup; i++) {
    await oneTask(ctx);
    await pause();
  }
  const single: Sample[] = [];
  for (let i = 0; i < c.sequential; i++) {
    single.push(await oneTask(ctx));
    await pause();
  }
  const bursts: Sample[] = [];
  for (let b = 0; b < c.bursts; b++) {
    bursts.push(...(await burst(ctx, c.burstSize)));
    await sleep(100);
  }
  await sleep(200);
  const t1 = now();
  const m1 = await serverMetrics(ctx);
  const polls = classifyPolls((await ctx.hosts.polls(t0, t1)).polls);
  const cpu = cpuWindow.end();
  const tasks = c.warmup + c.sequential + c.bursts * c.burstSize;

  // Wake probe: one task at a time under MONITOR, counting the claim attempts on the task queue.
  const p0 = now();
  const { result: probed, fetchTimes } = await withMonitor(ctx, async () => {
    const samples: Sample[] = [];
    for (let i = 0; i < c.probe; i++) {
      samples.push(await oneTask(ctx));
      await pause();
    }
    return samples;
  });
  // Redis and this process read the same wall clock; allow 1 ms of rounding at the edges.
  const during = fetchTimes.filter((t) => probed.some((s) => t >= s.t_send - 1 && t <= s.t_started + 1)).length;
  const p1 = now();
  const probePolls = classifyPolls((await ctx.hosts.polls(p0, p1)).polls);
  const probeAnswers = probePolls.answered_with_job + probePolls.early_204;

  const all = [...single, ...bursts];
  return {
    runners,
    single: summarize(single.map((s) => s.latency_ms)),
    burst: summarize(bursts.map((s) => s.latency_ms)),
    all: summarize(all.map((s) => s.latency_ms)),
    post_ms: summarize(all.map((s) => s.post_ms)),
    single_post_ms: summarize(single.map((s) => s.post_ms)),
    single_after_post_ms: summarize(single.map((s) => s.after_post_ms)),
    distinct_runners_used: new Set(all.map((s) => s.runner)).size,
    cpu,
    server_claim_latency_mean_ms: ((m1.sum - m0.sum) / (m1.count - m0.count)) * 1000,
    server_wakeups_per_task: (m1.wakeups - m0.wakeups) / tasks,
    server_empty_claims_per_task: (m1.emptyClaims - m0.emptyClaims) / tasks,
    polls: {
      ...polls, tasks,
      poll_answers_per_task: (polls.answered_with_job + polls.early_204) / tasks,
      early_204_per_task: polls.early_204 / tasks,
    },
    probe: {
      tasks: c.probe, claim_fetches: fetchTimes.length, claim_fetches_per_task: fetchTimes.length / c.probe,
      fetches_while_dispatching: during, fetches_while_dispatching_per_task: during / c.probe, fetches_after_start: fetchTimes.length - during,
      poll_answers: probeAnswers, poll_answers_per_task: probeAnswers / c.probe,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 2: throughput, Forge end to end, and the bare BullMQ baseline.

interface ThroughputResult {
  tasks: number; runners: number; max_parallel_tasks: number; inflight_creates: number;
  seconds_to_last_final: number; tasks_per_s: number;
  seconds_to_last_runner_finish: number; tasks_per_s_runner_side: number;
  statuses: Record<string, number>;
  cpu_seconds: { forge_server: number; runner_hosts_incl_git_bash: number; runner_hosts_node_only: number; redis: number; bench_client: number };
  cpu_ms_per_task: { forge_server: number; runner_hosts_incl_git_bash: number; runner_hosts_node_only: number; redis: number; total: number };
  dispatch_latency_under_load_ms: Summary;
  redis_commands_per_task: { total: number; top: Record<string, number> };
  /** Runner side, agent 'started' → 'finished' (clone, bash, output, result report). */
  machine_cpu: ReturnType<CpuWindow['end']>;
  /** HTTP requests the runners sent to the gateway, per task, by endpoint. */
  runner_requests_per_task: Record<string, number>;
  task_run_ms: Summary;
  mean_tasks_in_flight_on_runners: number;
  seconds_to_create_all: number;
}

async function throughput(ctx: Ctx): Promise<ThroughputResult> {
  const t = CFG.throughput;
  log(`throughput: starting ${t.runners} runners × max_parallel_tasks ${t.maxParallel}`);
  const specs = await addRunners(ctx, t.runners, t.maxParallel, (i) => i);
  await sleep(1500);
  const createMany = async (n: number): Promise<Created[]> => {
    const out: Created[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: t.inflight }, async () => {
      while (next < n) {
        next++;
        out.push(await createTask(ctx));
      }
    }));
    return out;
  };
  // Warm-up (JIT, connections, first clone), not measured.
  for (const c of await createMany(t.warmup)) await ctx.hosts.waitEvent(c.id, 'finished', 60_000);
  await sleep(500);

  const pids = { server: ctx.forge.pid, hosts: ctx.hosts.pids(), redis: ctx.redisPid };
  const cpu = () => ({
    server: cpuSeconds(pids.server), hosts: pids.hosts.reduce((s, pid) => s + cpuSeconds(pid, true), 0), hostsNode: pids.hosts.reduce((s, pid) => s + cpuSeconds(pid), 0), redis: cpuSeconds(pids.redis), self: process.cpuUsage(),
  });
  const c0 = cpu();
  const cpuWindow = new CpuWindow(() => ownCpu(ctx));
  const cmd0 = await commandStats(ctx.redis);
  const req0 = await ctx.hosts.requestCounts();
  const first = now();
  const created = await createMany(t.tasks);
  let lastRunnerFinish = 0;
  for (const c of created) lastRunnerFinish = Math.max(lastRunnerFinish, await ctx.hosts.waitEvent(c.id, 'finished', 120_000));
  // The reconciler finalises the record after the runner reported: wait for every final record.
  const ids = created.map((c) => String(c.id));
  let scores: Array<string | null> = [];
  const deadline = Date.now() + 60_000;
  for (;;) {
    scores = await ctx.redis.zmscore('{forge}:tasks:finished', ...ids);
    if (scores.every((s) => s !== null)) break;
    if (Date.now() > deadline) throw new Error(`${scores.filter((s) => s === null).length} task records were not final 60 s after their runners finished`);
    await sleep(20);
  }
  const c1 = cpu();
  const machine = cpuWindow.end();
  const cmd1 = await commandStats(ctx.redis);
  const req1 = await ctx.hosts.requestCounts();
  const runnerRequests = Object.fromEntries(Object.entries(req1).map(([k, v]) => [k, +((v - (req0[k] ?? 0)) / t.tasks).toFixed(2)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]));
  const lastFinal = Math.max(...scores.map(Number));
  const raws = await ctx.redis.mget(...created.map((c) => `{forge}:task:${c.id}`));
  const statuses: Record<string, number> = {};
  for (const raw of raws) {
    const status = raw ? (JSON.parse(raw) as { status: string }).status : 'missing';
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  const latencies = created.map((c) => ctx.hosts.events.get(c.id)!.started! - c.tSend);
  const runMs = created.map((c) => ctx.hosts.events.get(c.id)!.finished! - ctx.hosts.events.get(c.id)!.started!);
  const createSeconds = (Math.max(...created.map((c) => c.tResp)) - first) / 1000;
  await removeRunners(ctx, specs);

  const selfCpu = (c1.self.user + c1.self.system - c0.self.user - c0.self.system) / 1e6;
  const cpuSec = { forge_server: c1.server - c0.server, runner_hosts_incl_git_bash: c1.hosts - c0.hosts, runner_hosts_node_only: c1.hostsNode - c0.hostsNode, redis: c1.redis - c0.redis, bench_client: selfCpu };
  const perTask = (s: number) => (s / t.tasks) * 1000;
  return {
    tasks: t.tasks, runners: t.runners, max_parallel_tasks: t.maxParallel, inflight_creates: t.inflight,
    seconds_to_last_final: (lastFinal - first) / 1000, tasks_per_s: t.tasks / ((lastFinal - first) / 1000),
    seconds_to_last_runner_finish: (lastRunnerFinish - first) / 1000, tasks_per_s_runner_side: t.tasks / ((lastRunnerFinish - first) / 1000),
    statuses,
    cpu_seconds: cpuSec,
    cpu_ms_per_task: {
      forge_server: perTask(cpuSec.forge_server), runner_hosts_incl_git_bash: perTask(cpuSec.runner_hosts_incl_git_bash), runner_hosts_node_only: perTask(cpuSec.runner_hosts_node_only), redis: perTask(cpuSec.redis),
      total: perTask(cpuSec.forge_server + cpuSec.runner_hosts_incl_git_bash + cpuSec.redis),
    },
    dispatch_latency_under_load_ms: summarize(latencies),
    redis_commands_per_task: perTaskCommands(cmd0, cmd1, t.tasks),
    machine_cpu: machine,
    runner_requests_per_task: runnerRequests,
    task_run_ms: summarize(runMs),
    mean_tasks_in_flight_on_runners: runMs.reduce((a, b) => a + b, 0) / (lastRunnerFinish - first),
    seconds_to_create_all: createSeconds,
  };
}

/** INFO commandstats: calls per command (commands run inside Lua scripts are counted too). */
async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const text = (await redis.info('commandstats')) as string;
  const out = new Map<string, number>();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(match[1]!, Number(match[2]));
  return out;
}

function perTaskCommands(before: Map<string, number>, after: Map<string, number>, tasks: number): { total: number; top: Record<string, number> } {
  const delta = [...after].map(([name, calls]) => [name, (calls - (before.get(name) ?? 0)) / tasks] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  return { total: delta.reduce((sum, [, v]) => sum + v, 0), top: Object.fromEntries(delta.slice(0, 15).map(([k, v]) => [k, +v.toFixed(2)])) };
}

interface BareResult { jobs: number; concurrency: number; inflight_adds: number; runs: Array<{ seconds: number; jobs_per_s: number }>; jobs_per_s_median: number; cpu: ReturnType<CpuWindow['end']> }

async function bareBullmq(ctx: Ctx, logDir: string): Promise<BareResult> {
  const t = CFG.throughput;
  const concurrency = t.runners * t.maxParallel;
  const jobs = QUICK ? 500 : CFG.bare.jobs;
  log(`bare BullMQ: ${jobs} jobs, Worker concurrency ${concurrency}, ${CFG.bare.reps} runs (+1 warm-up) on the same redis-server`);
  const child = spawnTracked(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench', 'bare-bullmq.ts'), ctx.redisUrl, String(jobs), String(concurrency), String(t.inflight), String(CFG.bare.reps)], {
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
// Report.

async function machineInfo(redisUrl: string) {
  const redisVersion = (await run('redis-server', ['--version']).catch(() => '')).trim();
  const commit = (await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot }).catch(() => '')).trim();
  let bullmq = '?';
  try {
    bullmq = (JSON.parse(readFileSync(join(projectRoot, 'node_modules', 'bullmq', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // unknown
  }
  return {
    nproc: cpus().length, cpu_model: cpus()[0]?.model ?? '', node: process.version, platform: `${process.platform} ${release()}`,
    loadavg_at_end: loadavg().map((x) => +x.toFixed(2)),
    total_mem_gb: +(totalmem() / 2 ** 30).toFixed(1), free_mem_gb: +(freemem() / 2 ** 30).toFixed(1),
    redis: redisVersion.replace(/^Redis server /, '').split(' ')[0] ?? redisVersion, bullmq, git_commit: commit, redis_url: redisUrl,
  };
}

function markdown(report: any): string {
  const d: DispatchResult[] = report.dispatch;
  const tp: ThroughputResult = report.throughput;
  const bare: BareResult = report.bare_bullmq;
  const m = report.machine;
  const lines: string[] = [];
  lines.push(`# Forge dispatch benchmark — ${report.date}`, '');
  lines.push(`Machine: ${m.nproc} CPUs (${m.cpu_model}), Node ${m.node}, Redis ${m.redis}, BullMQ ${m.bullmq}, ${m.platform}, commit ${m.git_commit}${report.quick ? ' — **BENCH_QUICK (reduced sample counts)**' : ''}${report.server_node_args ? ` — **server run with node ${report.server_node_args}**` : ''}`, '');
  lines.push('## 1. Dispatch latency (ms)', '');
  lines.push(`Measured from the benchmark sending \`POST /api/project/:pid/tasks\` to the runner agent's \`started\` event (long-poll answered, sealed payload opened, before the clone). Runner clocks corrected by IPC ping (max |offset| ${fmt(Math.max(...report.clock.map((c: any) => Math.abs(c.offset_ms))), 3)} ms). "single": one task at a time, each after the previous finished (${CFG.dispatch.sequential} per row); "burst": ${CFG.dispatch.bursts} bursts of ${CFG.dispatch.burstSize} concurrent POSTs (with 1 runner, bursts queue behind one slot, so that column is queueing time, not dispatch).`, '');
  lines.push('| idle runners | single p50 | single p99 | burst p50 | burst p99 | all p50 | all p99 | all max | single: POST round trip p50 | single: POST answer → started p50 | server created→claimed mean | runners used | machine CPU busy / other processes |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of d) {
    lines.push(`| ${r.runners} | ${fmt(r.single.p50, 2)} | ${fmt(r.single.p99, 2)} | ${fmt(r.burst.p50, 2)} | ${fmt(r.burst.p99, 2)} | ${fmt(r.all.p50, 2)} | ${fmt(r.all.p99, 2)} | ${fmt(r.all.max, 2)} | ${fmt(r.single_post_ms.p50, 2)} | ${fmt(r.single_after_post_ms.p50, 2)} | ${fmt(r.server_claim_latency_mean_ms, 2)} | ${r.distinct_runners_used} | ${r.cpu.machine_busy_pct} % / ${r.cpu.other_processes_pct} % |`);
  }
  lines.push('', '## 2. Throughput (no-op tasks)', '');
  lines.push(`Forge: ${tp.tasks} tasks, ${tp.runners} runners × max_parallel_tasks ${tp.max_parallel_tasks}, ${tp.inflight_creates} POSTs in flight; from the first POST to the last task record final (reconciler), each task cloning a local bare repo and running \`bash run.sh\`.`);
  lines.push(`Bare BullMQ: ${bare.jobs} jobs, Queue.add (${bare.inflight_adds} in flight) → Worker (concurrency ${bare.concurrency}, no-op processor), same redis-server, median of ${bare.runs.length} runs (machine CPU busy ${bare.cpu.machine_busy_pct} %, other processes ${bare.cpu.other_processes_pct} %).`, '');
  lines.push('| | tasks/s | seconds |', '|---|---:|---:|');
  lines.push(`| Forge end to end (to last final record) | ${fmt(tp.tasks_per_s, 1)} | ${fmt(tp.seconds_to_last_final, 2)} |`);
  lines.push(`| Forge, to last runner 'finished' | ${fmt(tp.tasks_per_s_runner_side, 1)} | ${fmt(tp.seconds_to_last_runner_finish, 2)} |`);
  lines.push(`| bare BullMQ add→process | ${fmt(bare.jobs_per_s_median, 0)} | ${fmt(median(bare.runs.map((r) => r.seconds)), 3)} |`);
  lines.push(`| **ratio Forge / bare BullMQ** | **${fmt(report.ratio, 4)}** (${fmt(report.ratio * 100, 2)} %) | |`, '');
  lines.push(`Statuses: ${JSON.stringify(tp.statuses)}. CPU per task: server ${fmt(tp.cpu_ms_per_task.forge_server, 2)} ms, runner hosts incl. git+bash ${fmt(tp.cpu_ms_per_task.runner_hosts_incl_git_bash, 2)} ms (of which the runner Node processes ${fmt(tp.cpu_ms_per_task.runner_hosts_node_only, 2)} ms), redis ${fmt(tp.cpu_ms_per_task.redis, 2)} ms (total ${fmt(tp.cpu_ms_per_task.total, 2)} ms on ${m.nproc} CPUs). Dispatch latency under this load: p50 ${fmt(tp.dispatch_latency_under_load_ms.p50, 1)} ms, p99 ${fmt(tp.dispatch_latency_under_load_ms.p99, 1)} ms (queueing included). Runner side, a task took p50 ${fmt(tp.task_run_ms.p50, 0)} ms from 'started' to 'finished' (${fmt(tp.mean_tasks_in_flight_on_runners, 1)} tasks in flight on average); creating all ${tp.tasks} took ${fmt(tp.seconds_to_create_all, 2)} s. Machine CPU busy ${tp.machine_cpu.machine_busy_pct} %, of which processes outside this benchmark ${tp.machine_cpu.other_processes_pct} % (of all ${m.nproc} CPUs).`, '');
  const cmds = tp.redis_commands_per_task;
  lines.push(`Redis commands per task (INFO commandstats, Lua-internal calls included): ${fmt(cmds.total, 1)} — ${Object.entries(cmds.top).map(([k, v]) => `${k} ${v}`).join(', ')}.`, '');
  lines.push(`Runner → gateway HTTP requests per task: ${Object.entries(tp.runner_requests_per_task).map(([k, v]) => `${k.replace('/api/internal/runners', '…')} ${v}`).join(', ')}.`, '');
  lines.push('## 3. Runners woken per new task', '');
  lines.push(`Runner side: every \`POST /api/internal/runners/jobs/next\` answer counted in the runner processes (node:diagnostics_channel): 200 = a job, 204 before the ${CFG.longPollSec} s long-poll timeout = woken for nothing, 204 at the timeout = ordinary poll expiry. Redis side (probe, ${CFG.dispatch.probe} single tasks under MONITOR): claim attempts = BullMQ \`RPOPLPUSH\` on the task queue's wait list (one per \`getNextJob\`).`, '');
  lines.push('| idle runners | tasks | /jobs/next answers per task (200 + early 204) | early 204 | timeout 204 | server: wake-ups per task | server: empty claim passes per task | probe: claim attempts per task between POST and start | probe: all claim attempts per task | probe: /jobs/next answers per task |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of d) {
    lines.push(`| ${r.runners} | ${r.polls.tasks} | ${fmt(r.polls.poll_answers_per_task, 3)} | ${r.polls.early_204} | ${r.polls.timeout_204} | ${fmt(r.server_wakeups_per_task, 3)} | ${fmt(r.server_empty_claims_per_task, 3)} | ${fmt(r.probe.fetches_while_dispatching_per_task, 2)} | ${fmt(r.probe.claim_fetches_per_task, 2)} | ${fmt(r.probe.poll_answers_per_task, 2)} |`);
  }
  lines.push('', 'A claim attempt outside the dispatch window is the runner\'s own next long-poll after its task ended: the gateway keeps the queue marked "maybe non-empty" after a successful claim, so that poll does one empty fetch before parking. It is not a wake-up.');
  lines.push('', `Total wall time: ${fmt(report.wall_seconds, 0)} s.`, '');
  return lines.join('\n');
}

function printTable(report: any): void {
  const d: DispatchResult[] = report.dispatch;
  const tp: ThroughputResult = report.throughput;
  const out: string[] = [''];
  out.push(`Forge dispatch benchmark — nproc ${report.machine.nproc}, node ${report.machine.node}, redis ${report.machine.redis}${report.quick ? ' (BENCH_QUICK)' : ''}`);
  out.push('Dispatch latency: POST /tasks sent → runner agent "started" (job claimed and opened, before clone), ms');
  out.push('  runners │ single  p50     p99 │ burst   p50     p99 │ all    p50     p99 │ wakes: /jobs/next answers/task │ claim fetches/task (dispatch, all)');
  for (const r of d) {
    const f = (v: number, w: number) => fmt(v, 1).padStart(w);
    out.push(`  ${String(r.runners).padStart(7)} │ ${f(r.single.p50, 11)} ${f(r.single.p99, 7)} │ ${f(r.burst.p50, 10)} ${f(r.burst.p99, 7)} │ ${f(r.all.p50, 9)} ${f(r.all.p99, 7)} │ ${fmt(r.polls.poll_answers_per_task, 3).padStart(30)} │ ${fmt(r.probe.fetches_while_dispatching_per_task, 2).padStart(19)}, ${fmt(r.probe.claim_fetches_per_task, 2)}`);
  }
  out.push(`Throughput (${tp.tasks} no-op tasks, ${tp.runners} runners × ${tp.max_parallel_tasks}): Forge ${fmt(tp.tasks_per_s, 1)} tasks/s end to end (${fmt(tp.tasks_per_s_runner_side, 1)} to last runner finish); bare BullMQ ${fmt(report.bare_bullmq.jobs_per_s_median, 0)} jobs/s; ratio ${fmt(report.ratio, 4)} (${fmt(report.ratio * 100, 2)} %)`);
  out.push(`  machine CPU busy ${tp.machine_cpu.machine_busy_pct} % (other processes ${tp.machine_cpu.other_processes_pct} %); Redis commands per task ${fmt(tp.redis_commands_per_task.total, 0)}`);
  out.push(`  CPU per task: server ${fmt(tp.cpu_ms_per_task.forge_server, 2)} ms, runners+git+bash ${fmt(tp.cpu_ms_per_task.runner_hosts_incl_git_bash, 2)} ms, redis ${fmt(tp.cpu_ms_per_task.redis, 2)} ms; statuses ${JSON.stringify(tp.statuses)}`);
  out.push('');
  process.stdout.write(out.join('\n') + '\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const root = tempDir('forge-bench-');
  const logDir = join(root, 'logs');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(resultsDir, { recursive: true });
  const watchdog = setTimeout(() => {
    log(`watchdog: the benchmark ran longer than ${CFG.watchdogMs / 60000} min; stopping`);
    void cleanup().finally(() => process.exit(2));
  }, CFG.watchdogMs);
  watchdog.unref();

  try {
    log(`temp folder ${root}`);
    const redisDir = join(root, 'redis');
    mkdirSync(redisDir);
    const redisServer = await startRedis(redisDir);
    log(`redis-server on ${redisServer.url} (pid ${redisServer.child.pid})`);
    const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    onCleanup(() => void redis.disconnect());
    const repo = await makeRepo(root, { 'run.sh': '# no-op task for the dispatch benchmark\nexit 0' });
    const forge = await startForge(root, redisServer.url, logDir, { FORGE_LONG_POLL_SEC: String(CFG.longPollSec) });
    log(`Forge server at ${forge.url} (pid ${forge.pid})`);
    const api = new Api(forge.url);
    onCleanup(() => api.close());
    await api.login(ADMIN.login, ADMIN.password);
    const { projectId, templates } = await setupProject(api, repo, ['run.sh']);
    const templateId = templates['run.sh']!;

    log(`starting ${CFG.hosts} runner host processes`);
    const hosts = new RunnerHosts();
    onCleanup(() => hosts.close());
    await hosts.start(CFG.hosts, logDir);
    const ctx: Ctx = {
      api, redis, redisUrl: redisServer.url, redisPid: redisServer.child.pid!, forge, hosts, projectId, templateId,
      queueKey: '', root, nextRunner: 0,
    };
    // The task queue's BullMQ key prefix, from a first task's record (also a smoke test).
    ctx.queueKey = `forge:${(await (async () => {
      const [spec] = await addRunners(ctx, 1, 1, () => 0);
      await sleep(300);
      const c = await createTask(ctx);
      await ctx.hosts.waitEvent(c.id, 'finished', 60_000);
      await removeRunners(ctx, [spec!]);
      return c.queue;
    })())}`;

    const tp = await throughput(ctx);
    log(`throughput: ${fmt(tp.tasks_per_s, 1)} tasks/s (${JSON.stringify(tp.statuses)})`);
    const bare = await bareBullmq(ctx, logDir);
    log(`bare BullMQ: ${fmt(bare.jobs_per_s_median, 0)} jobs/s`);

    const dispatch: DispatchResult[] = [];
    const online: RunnerSpec[] = [];
    for (const n of CFG.dispatch.runners) {
      log(`dispatch latency with ${n} idle runner(s)`);
      const r = await dispatchConfig(ctx, n, online);
      log(`  ${n} runners: p50 ${fmt(r.all.p50, 2)} ms, p99 ${fmt(r.all.p99, 2)} ms; /jobs/next answers per task ${fmt(r.polls.poll_answers_per_task, 3)}; claim fetches per task while dispatching ${fmt(r.probe.fetches_while_dispatching_per_task, 2)} (all ${fmt(r.probe.claim_fetches_per_task, 2)})`);
      dispatch.push(r);
    }
    if (hosts.rejections.length) log(`runner rejections: ${hosts.rejections.join('; ')}`);

    const report = {
      date: new Date().toISOString(), quick: QUICK, server_node_args: process.env.BENCH_SERVER_NODE_ARGS ?? '', machine: await machineInfo(redisServer.url), config: CFG, clock: hosts.clock(),
      definitions: {
        dispatch_latency: 'benchmark sends POST /api/project/:pid/tasks → runner agent emits "started" (long-poll answered with the claimed job, sealed payload opened; before clone). Runner timestamps corrected by measured IPC clock offset.',
        throughput: 'tasks from the first POST to the last task record reaching a final status (reconciler); ratio = Forge tasks/s ÷ bare BullMQ jobs/s (median) on the same redis-server.',
        wakes: 'runner-side count of /jobs/next answers (200 + 204 before the long-poll timeout) per task; Redis-side count of BullMQ RPOPLPUSH on the task queue wait list per task under MONITOR.',
      },
      dispatch, throughput: tp, bare_bullmq: bare, ratio: tp.tasks_per_s / bare.jobs_per_s_median,
      runner_rejections: hosts.rejections,
      sandbox_overhead: await measureSandboxOverhead(log),
      wall_seconds: (Date.now() - started) / 1000,
    };
    printTable(report);
    const md = markdown(report);
    for (const name of [`bench-${stamp}`, 'latest']) {
      writeFileSync(join(resultsDir, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
      writeFileSync(join(resultsDir, `${name}.md`), md);
    }
    log(`results: bench/results/bench-${stamp}.{json,md} (and latest.{json,md}); wall time ${fmt(report.wall_seconds, 0)} s`);
  } catch (err) {
    const keep = join(resultsDir, `failed-${stamp}`);
    mkdirSync(keep, { recursive: true });
    for (const file of readdirSync(logDir)) copyFileSync(join(logDir, file), join(keep, file));
    log(`FAILED: ${(err as Error).stack ?? err}`);
    log(`logs kept in bench/results/failed-${stamp}/`);
    process.exitCode = 1;
  } finally {
    clearTimeout(watchdog);
    log('stopping every process the benchmark started');
    await cleanup();
  }
}

await main();
process.exit(process.exitCode ?? 0);
