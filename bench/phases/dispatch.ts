/**
 * Dispatch latency and wake-ups with 1, 10 and 100 idle runners: from the moment the benchmark
 * sends POST /api/project/:pid/tasks to the moment a runner agent has the claimed job in hand (the
 * agent's 'started' event: the long-poll answered, the sealed payload opened; before the clone).
 * Tasks are created one at a time (each after the previous one finished) and in bursts of 10. Also:
 * how many runners each new task wakes (long-poll answers seen by the runners, claim attempts seen
 * by Redis under MONITOR).
 */
import { addRunners as addRunnerRecords, type Created } from '../lib/forge.js';
import { now, type PollRecord, RunnerHosts, type RunnerSpec } from '../lib/hosts.js';
import { monitorRedis } from '../lib/monitor.js';
import { killChildGroups, sleep, tempDir } from '../lib/procs.js';
import { CpuWindow, idleCpuRate, serverCpuPerTask, summarize, type Summary } from '../lib/stats.js';
import { addRunners, type Config, createTask, type Ctx, log, ownCpu } from './context.js';

interface ServerMetrics {
  sum: number; count: number; wakeups: number; emptyClaims: number;
  /** The server's GC pauses so far (all kinds): how many, their total, and how many took ≤ 10 ms. */
  gc: { pauses: number; seconds: number; upTo10ms: number };
  /** The longest the server's event loop was held since the previous scrape (prom-client resets it per scrape). */
  loopLagMaxSeconds: number;
}

/**
 * Server-side counters from /metrics: the dispatch histogram (created → claimed), parked
 * long-polls woken by new work, claim passes that found nothing, the process's GC pauses and its
 * event-loop lag (NaN where the server lacks one).
 */
export async function serverMetrics(ctx: Ctx): Promise<ServerMetrics> {
  const text = (await ctx.api.request('GET', '/metrics')).text;
  const grab = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  // One series per GC kind: summed.
  const sumOf = (pattern: RegExp) => [...text.matchAll(pattern)].reduce((total, m) => total + Number(m[1]), 0);
  return {
    sum: grab('forge_dispatch_latency_seconds_sum'), count: grab('forge_dispatch_latency_seconds_count'),
    wakeups: grab('forge_runner_wakeups_total'), emptyClaims: grab('forge_empty_claims_total'),
    gc: {
      pauses: sumOf(/^nodejs_gc_duration_seconds_count\{[^}]*\} ([0-9.e+-]+)$/gm),
      seconds: sumOf(/^nodejs_gc_duration_seconds_sum\{[^}]*\} ([0-9.e+-]+)$/gm),
      upTo10ms: sumOf(/^nodejs_gc_duration_seconds_bucket\{le="0\.01",[^}]*\} ([0-9.e+-]+)$/gm),
    },
    loopLagMaxSeconds: grab('nodejs_eventloop_lag_max_seconds'),
  };
}

function classifyPolls(ctx: Ctx, polls: PollRecord[]) {
  const timeoutMs = (ctx.cfg.longPollSec - 1) * 1000;
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
 * Records claim attempts on the task queue while `fn` runs: queue-claim.lua does one ZPOPMIN on
 * the waiting set per claim, found or not. MONITOR (which shows commands run inside scripts)
 * gives each one a Redis timestamp.
 */
async function withMonitor<T>(ctx: Ctx, fn: () => Promise<T>): Promise<{ result: T; fetchTimes: number[] }> {
  const fetchTimes: number[] = [];
  const waitKey = `${ctx.queueKey}:wait`;
  const monitor = await monitorRedis(ctx.env.redisUrl, (time, args) => {
    if (args[0]?.toUpperCase() === 'ZPOPMIN' && args[1] === waitKey) fetchTimes.push(Number(time) * 1000);
  });
  await sleep(50);
  try {
    const result = await fn();
    await sleep(100);
    return { result, fetchTimes };
  } finally {
    monitor.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch latency and wake-ups with N idle runners.

export interface Sample {
  latency_ms: number; post_ms: number; after_post_ms: number;
  /** POST sent → the long-poll answer's headers reached the agent's process; → its body's end; body's end → 'started' (JSON, box opened, task set up). */
  to_answer_ms: number; answer_to_body_ms: number; body_to_started_ms: number; answer_to_started_ms: number;
  runner: number; t_send: number; t_started: number;
}

/** Where a row's tasks are created and whose runners report them: Forge's, or the dispatch floor's. */
export interface Dispatcher { create(): Promise<Created>; hosts: RunnerHosts }

/** Forge's: its API, and the runner hosts the context holds now (the own-process layout swaps them). */
const forgeDispatcher = (ctx: Ctx): Dispatcher => ({ create: () => createTask(ctx), hosts: ctx.hosts });

async function sampleOf(d: Dispatcher, created: Created): Promise<Sample> {
  const started = await d.hosts.waitEvent(created.id, 'started', 60_000);
  const { runner, answered = Number.NaN, body_read: bodyRead = Number.NaN } = d.hosts.events.get(created.id)!;
  return {
    latency_ms: started - created.tSend, post_ms: created.tResp - created.tSend, after_post_ms: started - created.tResp,
    to_answer_ms: answered - created.tSend, answer_to_body_ms: bodyRead - answered, body_to_started_ms: started - bodyRead, answer_to_started_ms: started - answered,
    runner: runner!, t_send: created.tSend, t_started: started,
  };
}

async function dispatchOne(d: Dispatcher): Promise<Sample> {
  const created = await d.create();
  const sample = await sampleOf(d, created);
  await d.hosts.waitEvent(created.id, 'finished', 60_000);
  return sample;
}

export const oneTask = (ctx: Ctx): Promise<Sample> => dispatchOne(forgeDispatcher(ctx));

async function burst(d: Dispatcher, size: number): Promise<Sample[]> {
  const created = await Promise.all(Array.from({ length: size }, () => d.create()));
  const samples: Sample[] = [];
  for (const c of created) samples.push(await sampleOf(d, c));
  for (const c of created) await d.hosts.waitEvent(c.id, 'finished', 60_000);
  return samples;
}

const pause = () => sleep(20 + Math.random() * 40);

/** How long a server's idle CPU is read before a row's schedule (idleCpuRate). */
export const SERVER_IDLE_MS = 3000;

/** How many tasks one row's schedule creates (runSchedule): warm-up, single and burst. */
export const scheduledTasks = (c: Config['dispatch']): number => c.warmup + c.sequential + c.bursts * c.burstSize;

/**
 * One row's schedule, the same for Forge and the dispatch floor: warm-up tasks, then single tasks
 * each 20–60 ms after the previous one finished, then bursts of concurrent POSTs 100 ms apart.
 */
export async function runSchedule(d: Dispatcher, c: Config['dispatch']): Promise<{ single: Sample[]; bursts: Sample[] }> {
  for (let i = 0; i < c.warmup; i++) {
    await dispatchOne(d);
    await pause();
  }
  const single: Sample[] = [];
  for (let i = 0; i < c.sequential; i++) {
    single.push(await dispatchOne(d));
    await pause();
  }
  const bursts: Sample[] = [];
  for (let b = 0; b < c.bursts; b++) {
    bursts.push(...(await burst(d, c.burstSize)));
    await sleep(100);
  }
  return { single, bursts };
}

/** Where a dispatch's time went, p50 and p99 of each part (ms), from the hosts' timestamps. */
function breakdown(samples: Sample[]) {
  return {
    post_answer: summarize(samples.map((s) => s.post_ms)),
    post_sent_to_agent_has_answer: summarize(samples.map((s) => s.to_answer_ms)),
    agent_has_answer_to_started: summarize(samples.map((s) => s.answer_to_started_ms)),
    answer_headers_to_body_end: summarize(samples.map((s) => s.answer_to_body_ms)),
    body_end_to_started: summarize(samples.map((s) => s.body_to_started_ms)),
  };
}

export interface DispatchResult {
  runners: number;
  /** 'shared': agents many to a host process (cfg.hosts of them); 'own': one agent per process, as `forge runner start`. */
  layout: 'shared' | 'own';
  breakdown: { single: ReturnType<typeof breakdown>; burst: ReturnType<typeof breakdown> };
  /** The longest of the hosts' clock-sync round trips: times across the benchmark/host boundary are good to half of it. */
  host_clock_rtt_ms_max: number;
  single: Summary;
  burst: Summary;
  all: Summary;
  post_ms: Summary;
  single_post_ms: Summary;
  single_after_post_ms: Summary;
  /** Single tasks whose POST left while no runner had a long-poll parked, and their latencies. */
  single_unparked: { tasks: number; latency: Summary };
  distinct_runners_used: number;
  cpu: ReturnType<CpuWindow['end']>;
  server_claim_latency_mean_ms: number;
  /** The server's CPU per task over the row's schedule, net of its idle CPU (serverCpuPerTask). */
  server_cpu_ms_per_task: number;
  /** The server's CPU with the row's runners parked and nothing to do, in % of a core. */
  server_idle_pct_of_core: number;
  /** forge_runner_wakeups_total / forge_empty_claims_total deltas per task (NaN if the server lacks them). */
  server_wakeups_per_task: number;
  server_empty_claims_per_task: number;
  /** The server's GC pauses during the row and the longest its event loop was held (ms). */
  server_gc: { pauses: number; total_ms: number; over_10ms: number };
  server_loop_lag_max_ms: number;
  polls: ReturnType<typeof classifyPolls> & { tasks: number; poll_answers_per_task: number; early_204_per_task: number };
  probe: {
    tasks: number; claim_fetches: number; claim_fetches_per_task: number;
    /** Fetches between a task's POST and its runner's 'started': the runners that task woke. */
    fetches_while_dispatching: number; fetches_while_dispatching_per_task: number; fetches_after_start: number;
    poll_answers: number; poll_answers_per_task: number;
  };
}

export async function dispatchConfig(ctx: Ctx, runners: number, online: RunnerSpec[], layout: DispatchResult['layout'] = 'shared'): Promise<DispatchResult> {
  const c = ctx.cfg.dispatch;
  if (online.length < runners) {
    log(`starting ${runners - online.length} more runner(s) (max_parallel_tasks 1) → ${runners} idle runners`);
    online.push(...(await addRunners(ctx, runners - online.length, 1)));
  }
  await sleep(1500); // every runner's first long-poll parked
  const serverIdle = await idleCpuRate(ctx.forge.pid, SERVER_IDLE_MS);
  const cpuWindow = new CpuWindow(() => ownCpu(ctx));
  const m0 = await serverMetrics(ctx);
  const t0 = now();
  const tasks = scheduledTasks(c);
  const { result: { single, bursts }, ms_per_task: serverCpuPerTaskMs } = await serverCpuPerTask(ctx.forge.pid, serverIdle, tasks, () => runSchedule(forgeDispatcher(ctx), c));
  await sleep(200);
  const t1 = now();
  const m1 = await serverMetrics(ctx);
  const pollList = (await ctx.hosts.polls(t0, t1)).polls;
  const polls = classifyPolls(ctx, pollList);
  const cpu = cpuWindow.end();
  // Was any runner's long-poll parked when the POST left? If not, the task waited for a runner still
  // finishing the previous one (its result, its next poll on the way): queueing, not dispatch.
  const parkedAtSend = (s: Sample) => pollList.some((p) => p.start <= s.t_send && p.end >= s.t_send);
  const unparked = single.filter((s) => !parkedAtSend(s));

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
  const probePolls = classifyPolls(ctx, (await ctx.hosts.polls(p0, p1)).polls);
  const probeAnswers = probePolls.answered_with_job + probePolls.early_204;

  const all = [...single, ...bursts];
  return {
    runners, layout, host_clock_rtt_ms_max: Math.max(...ctx.hosts.clock().map((c) => c.rtt_ms)),
    breakdown: { single: breakdown(single), burst: breakdown(bursts) },
    single: summarize(single.map((s) => s.latency_ms)),
    burst: summarize(bursts.map((s) => s.latency_ms)),
    all: summarize(all.map((s) => s.latency_ms)),
    post_ms: summarize(all.map((s) => s.post_ms)),
    single_post_ms: summarize(single.map((s) => s.post_ms)),
    single_after_post_ms: summarize(single.map((s) => s.after_post_ms)),
    single_unparked: { tasks: unparked.length, latency: summarize(unparked.map((s) => s.latency_ms)) },
    distinct_runners_used: new Set(all.map((s) => s.runner)).size,
    cpu,
    server_claim_latency_mean_ms: ((m1.sum - m0.sum) / (m1.count - m0.count)) * 1000,
    server_cpu_ms_per_task: serverCpuPerTaskMs,
    server_idle_pct_of_core: serverIdle * 100,
    server_wakeups_per_task: (m1.wakeups - m0.wakeups) / tasks,
    server_empty_claims_per_task: (m1.emptyClaims - m0.emptyClaims) / tasks,
    server_gc: {
      pauses: m1.gc.pauses - m0.gc.pauses, total_ms: (m1.gc.seconds - m0.gc.seconds) * 1000,
      over_10ms: (m1.gc.pauses - m0.gc.pauses) - (m1.gc.upTo10ms - m0.gc.upTo10ms),
    },
    server_loop_lag_max_ms: m1.loopLagMaxSeconds * 1000,
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

/**
 * The same measurements with every runner agent in its own host process, as a fleet runs them
 * (`forge runner start`: one agent per process), so one agent's clone fork does not hold the event
 * loop of the others. The shared-layout runners are removed first (only these are idle); hosts
 * are added as the runner count grows and stopped at the end.
 */
export async function dispatchOwnHosts(ctx: Ctx, counts: number[], sharedOnline: RunnerSpec[], logDir: string, nodeArgs: string[]): Promise<DispatchResult[]> {
  await ctx.env.removeRunners(sharedOnline.splice(0));
  const shared = ctx.hosts;
  const own = new RunnerHosts();
  const online: RunnerSpec[] = [];
  const results: DispatchResult[] = [];
  const root = tempDir('forge-bench-own-runners-');
  try {
    ctx.hosts = own;
    for (const n of counts) {
      if (online.length < n) {
        const more = n - online.length;
        log(`starting ${more} more runner host process(es), one agent each → ${n} idle runners`);
        await own.start(more, logDir, nodeArgs, [], 'dispatch-own-runner-host');
        const first = online.length;
        online.push(...(await addRunnerRecords(ctx.api, own, ctx.env.url, root, {
          count: more, recordMaxParallel: 1, firstIndex: OWN_FIRST_INDEX + first, host: (i) => i - OWN_FIRST_INDEX,
        })));
      }
      results.push(await dispatchConfig(ctx, n, online, 'own'));
    }
  } finally {
    ctx.hosts = shared;
    killChildGroups(own.pids());
    await own.close();
  }
  for (const spec of online) await ctx.api.json('DELETE', `/api/runners/${spec.id}`);
  return results;
}

/** Runner names of the own-process layout start here (bench-runner-N), apart from the shared ones. */
const OWN_FIRST_INDEX = 100_000;
