/**
 * Forge benchmark (`npm run bench`; `npm run bench -- --help` lists phases and sizes). Phases, each
 * selectable with --only:
 *
 *  floor       the same clone + `bash run.sh` as a task, at the throughput phase's parallelism, without Forge
 *  bare        bare BullMQ add -> process on the same redis-server
 *  throughput  no-op tasks through server + 10 runners x 4 slots: tasks/s (ratio to the floors and to
 *              bare BullMQ), CPU per task per component, Redis commands per task, POST /tasks times;
 *              first the protocol floor: the same batch through a minimal server and runners without Forge
 *  procs       processes started per task (strace), Forge and the floor
 *  dispatch    dispatch latency single and in bursts of 10 with 1, 10 and 100 idle runners (agents many
 *              to a host process), then with 1 and 10 runners one per process; wake-ups; first the
 *              dispatch floor: the same hops by a minimal server and runner without Forge
 *  parked      steady state: 1,000 parked runners (server CPU, RSS, Redis commands/s), fresh server
 *  running     steady state: 2,000 running `sleep` tasks on 200 runners, fresh server
 *  scale       3-master Redis Cluster with replicas, 1 vs 3 server replicas behind a round-robin
 *              proxy, 100 runners, 5,000 tasks each: throughput, zero lost, claims per replica
 *
 * --cpu-prof writes V8 CPU profiles of every server and runner host next to the results and
 * summarises where their time went. Every process the benchmark starts is stopped at the end, on
 * failure and on Ctrl-C. Results: bench/results/bench-<time>.{json,md} and latest.{json,md}.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { type BenchEnv, startEnv } from './lib/env.js';
import { cleanup, projectRoot, run, taskWorkDir, taskWorkRoot, tempDir } from './lib/procs.js';
import { profileMarkdown, profilesIn, summarizeProfile } from './lib/profile.js';
import { fmt, median, type Summary } from './lib/stats.js';
import { type Config, type Ctx, createTask, log, parseConfig } from './phases/context.js';
import { dispatchConfig, dispatchOwnHosts, type DispatchResult } from './phases/dispatch.js';
import { dispatchFloor, type DispatchFloorResult } from './phases/dispatch-floor.js';
import { processesPerTask, type ProcsResult } from './phases/procs.js';
import { protocolFloor, type ProtocolFloorResult } from './phases/protocol-floor.js';
import { scaleOut, type ScaleResult } from './phases/scale.js';
import type { ParkedFloorWindow } from './phases/parked-floor.js';
import { parkedRunners, runningTasks, type SteadyResult } from './phases/steady.js';
import { bareBullmq, type BareResult, type BatchFigures, floor, type FloorResult, PairedFloor, pairedTasksPerSecond, throughput, type ThroughputResult, warmUpCurve } from './phases/throughput.js';
import { measureSandboxOverhead, type SandboxOverhead } from './sandbox-overhead.js';

const resultsDir = join(projectRoot, 'bench', 'results');
const WATCHDOG_MS = 90 * 60_000;

/** One throughput layout's ratios to the references measured in the same run. */
interface LayoutRatios {
  to_floor?: number; to_floor_sandboxed?: number; to_floor_protocol?: number; to_bare_bullmq?: number; floor_protocol_to_floor_sandboxed?: number;
  /**
   * The headline: the median of Forge's batches each ÷ the sandboxed floor run just before and
   * just after it (`forge.paired`), with the lowest and highest. `to_floor_sandboxed` is the
   * median batch ÷ the floor measured at the start of the phase, minutes earlier.
   */
  to_floor_sandboxed_paired?: { median: number; min: number; max: number };
}

interface Report {
  date: string; quick: boolean; only: string[]; config: Config; machine: Awaited<ReturnType<typeof machineInfo>>;
  server_node_args: string; cpu_prof_dir?: string;
  floor?: FloorResult; floor_sandboxed?: FloorResult;
  bare_bullmq?: BareResult; throughput?: ThroughputResult; procs?: ProcsResult; dispatch?: DispatchResult[];
  /** The throughput batch through a minimal server and runners without Forge: the protocol's hops. */
  floor_protocol?: ProtocolFloorResult;
  /**
   * Both batches per runner host process count (--throughput-hosts), each with its ratios to the
   * floors of this run; `throughput`, `floor_protocol` and `ratios` are the first (the headline).
   */
  throughput_layouts?: Array<{ host_processes: number; forge: ThroughputResult; protocol_floor?: ProtocolFloorResult; ratios: LayoutRatios }>;
  /** The dispatch rows again with one runner agent per host process. */
  dispatch_own?: DispatchResult[];
  /** The same schedule through a minimal server and runner without Forge: the machine's hops. */
  dispatch_floor?: DispatchFloorResult[];
  parked?: SteadyResult; running?: SteadyResult; scale?: ScaleResult; sandbox_overhead?: SandboxOverhead;
  ratios?: LayoutRatios;
  profiles?: string[];
  runner_rejections: string[];
  failures: string[];
  wall_seconds: number;
}

async function machineInfo() {
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
    redis: redisVersion.replace(/^Redis server /, '').split(' ')[0] ?? redisVersion, bullmq, git_commit: commit,
    /** Where every phase's checkouts were made and removed (bench/README.md, *Task work folders*). */
    task_work_dir: taskWorkRoot(),
  };
}

// ---------------------------------------------------------------------------------------------
// Report.

/** The median, lowest and highest of some ratios. */
const spread = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

/** "0.871 (0.842, 0.903)", or n/a without paired batches. */
const pairedText = (q: LayoutRatios) => (q.to_floor_sandboxed_paired ? `${fmt(q.to_floor_sandboxed_paired.median, 3)} (${fmt(q.to_floor_sandboxed_paired.min, 3)}, ${fmt(q.to_floor_sandboxed_paired.max, 3)})` : 'n/a');

/** Forge's shared-layout dispatch rows minus the floor's of the same runner count (ms). */
function floorGaps(r: Report) {
  return (r.dispatch ?? []).flatMap((d) => {
    const f = r.dispatch_floor?.find((x) => x.runners === d.runners);
    return f ? [{ runners: d.runners, single_p50: d.single.p50 - f.single.p50, single_p99: d.single.p99 - f.single.p99, burst_p99: d.burst.p99 - f.burst.p99 }] : [];
  });
}

/** a ÷ b when both were measured. */
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? a / b : undefined);

/** The batch under load: POST round trips, dispatch, time on the runner, statuses. */
const underLoad = (b: Pick<BatchFigures, 'inflight_creates' | 'post_ms' | 'dispatch_latency_under_load_ms' | 'task_run_ms' | 'mean_tasks_in_flight_on_runners' | 'statuses'>) =>
  `\`POST /tasks\` under this load (${b.inflight_creates} in flight): p50 ${fmt(b.post_ms.p50, 2)} ms, p99 ${fmt(b.post_ms.p99, 2)} ms. Dispatch under load p50 ${fmt(b.dispatch_latency_under_load_ms.p50, 1)} ms, p99 ${fmt(b.dispatch_latency_under_load_ms.p99, 1)} ms (queueing included). A task took p50 ${fmt(b.task_run_ms.p50, 0)} ms on its runner from 'started' to 'finished'; ${fmt(b.mean_tasks_in_flight_on_runners, 1)} in flight on average. Statuses: ${JSON.stringify(b.statuses)}.`;

const kv = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k.replace('/api/internal/runners', '…')} ${v}`).join(', ');

function markdown(r: Report): string {
  const m = r.machine;
  const L: string[] = [];
  L.push(`# Forge benchmark — ${r.date}`, '');
  L.push(`Machine: ${m.nproc} CPUs (${m.cpu_model}), ${m.total_mem_gb} GB, Node ${m.node}, Redis ${m.redis}, BullMQ ${m.bullmq}, ${m.platform}, commit ${m.git_commit}; load average at the end ${m.loadavg_at_end.join(' / ')}; task work folders on ${m.task_work_dir.filesystem} (${m.task_work_dir.path}). Phases: ${r.only.join(', ')}${r.quick ? ' — **quick (reduced sizes)**' : ''}${r.cpu_prof_dir ? ' — **run with --cpu-prof (profiling slows every process)**' : ''}.`, '');
  L.push('Each phase also reports the share of the machine\'s CPU used by processes outside the benchmark ("other"): on a shared machine every absolute figure grows with it; ratios measured in the same run hold better.', '');
  const tp = r.throughput;
  const fp = r.floor_protocol;
  if (tp || fp || r.floor || r.bare_bullmq) {
    L.push('## Throughput of no-op tasks, and its references', '');
    L.push('| | tasks/s | machine busy / other |', '|---|---:|---:|');
    if (r.floor) L.push(`| work floor: clone + \`bash run.sh\`, ${r.floor.parallel} at once, no Forge (median of ${r.floor.runs.length}) | ${fmt(r.floor.tasks_per_s_median, 1)} | ${r.floor.cpu.machine_busy_pct} % / ${r.floor.cpu.other_processes_pct} % |`);
    if (tp) L.push(`| Forge end to end: ${tp.tasks} tasks, ${tp.runners} runners × ${tp.max_parallel_tasks} in ${tp.host_processes} runner host process(es), first POST → last record final | ${fmt(tp.tasks_per_s, 1)} | ${tp.machine_cpu.machine_busy_pct} % / ${tp.machine_cpu.other_processes_pct} % |`);
    if (r.bare_bullmq) L.push(`| bare BullMQ add → no-op process, concurrency ${r.bare_bullmq.concurrency} (median of ${r.bare_bullmq.runs.length}) | ${fmt(r.bare_bullmq.jobs_per_s_median, 0)} | ${r.bare_bullmq.cpu.machine_busy_pct} % / ${r.bare_bullmq.cpu.other_processes_pct} % |`);
    if (r.floor_sandboxed) L.push(`| work floor in the task sandbox: the same, clone and app each started in bubblewrap as the executor starts them (median of ${r.floor_sandboxed.runs.length}) | ${fmt(r.floor_sandboxed.tasks_per_s_median, 1)} | ${r.floor_sandboxed.cpu.machine_busy_pct} % / ${r.floor_sandboxed.cpu.other_processes_pct} % |`);
    if (r.ratios?.to_floor !== undefined) L.push(`| **Forge ÷ work floor** | **${fmt(r.ratios.to_floor, 3)}** | |`);
    if (fp) L.push(`| protocol floor: the same ${fp.tasks} tasks, ${fp.inflight_creates} POSTs in flight, through a minimal server (node:http + ioredis: one MULTI per create, a claim script, the job sealed, a start report, one MULTI per result) and ${fp.runners} single-slot runners (${fp.slots_per_host.join('/')} per host process), each task the sandboxed clone + app; no Forge logic | ${fmt(fp.tasks_per_s, 1)} | ${fp.machine_cpu.machine_busy_pct} % / ${fp.machine_cpu.other_processes_pct} % |`);
    const paired = r.ratios?.to_floor_sandboxed_paired;
    if (paired && tp?.paired) L.push(`| **Forge ÷ sandboxed work floor, paired**: each of ${tp.paired.length} batches ÷ the floor run just before and just after it (${tp.paired.map(pairedTasksPerSecond).join('; ')} tasks/s); median (lowest, highest) | **${fmt(paired.median, 3)}** (${fmt(paired.min, 3)}, ${fmt(paired.max, 3)}) | |`);
    if (r.ratios?.to_floor_sandboxed !== undefined) L.push(`| Forge ÷ sandboxed work floor measured at the phase's start | ${fmt(r.ratios.to_floor_sandboxed, 3)} | |`);
    if (r.ratios?.to_floor_protocol !== undefined) L.push(`| **Forge ÷ protocol floor** | **${fmt(r.ratios.to_floor_protocol, 3)}** | |`);
    if (r.ratios?.floor_protocol_to_floor_sandboxed !== undefined) L.push(`| **protocol floor ÷ sandboxed work floor** | **${fmt(r.ratios.floor_protocol_to_floor_sandboxed, 3)}** | |`);
    if (r.ratios?.to_bare_bullmq !== undefined) L.push(`| Forge ÷ bare BullMQ | ${fmt(r.ratios.to_bare_bullmq, 4)} | |`);
    L.push('');
    if (r.floor) L.push(`Work floor CPU per task (git + bash + its Node driver): ${fmt(r.floor.cpu_ms_per_task, 1)} ms.`, '');
    if (tp || fp) {
      L.push('| CPU per task (ms) | server | runner agents (Node + process launchers, excl. children) | git + app children | Redis | total | bench client |', '|---|---:|---:|---:|---:|---:|---:|');
      const cpuRow = (name: string, server: number, c: Omit<BatchFigures['cpu_ms_per_task'], 'server'>) =>
        L.push(`| ${name} | ${fmt(server, 2)} | ${fmt(c.runner_agents, 2)} | ${fmt(c.git_and_app, 2)} | ${fmt(c.redis, 2)} | ${fmt(c.total, 1)} | ${fmt(c.bench_client, 2)} |`);
      if (tp) cpuRow('Forge', tp.cpu_ms_per_task.forge_server, tp.cpu_ms_per_task);
      if (fp) cpuRow('protocol floor', fp.cpu_ms_per_task.server, fp.cpu_ms_per_task);
      L.push('');
    }
    const layouts = r.throughput_layouts ?? [];
    if (layouts.length > 1) {
      L.push('By runner host layout (`--throughput-hosts`): the same runners and slots, spread over that many Node processes, each with its own process launcher; the first row is the headline above.', '');
      L.push('| host processes | Forge tasks/s | ÷ sandboxed floor: paired median (lowest, highest) / at the start | ÷ protocol floor | protocol floor tasks/s (÷ sandboxed) | CPU ms/task: server / agents / Redis | protocol floor: server / runner hosts |', '|---:|---:|---:|---:|---:|---:|---:|');
      for (const { host_processes: hosts, forge: f, protocol_floor: p, ratios: q } of layouts) {
        L.push(`| ${hosts} | ${fmt(f.tasks_per_s, 1)} | ${pairedText(q)} / ${fmt(q.to_floor_sandboxed ?? Number.NaN, 3)} | ${fmt(q.to_floor_protocol ?? Number.NaN, 3)} | ${p ? `${fmt(p.tasks_per_s, 1)} (${fmt(q.floor_protocol_to_floor_sandboxed ?? Number.NaN, 3)})` : 'n/a'} | ${fmt(f.cpu_ms_per_task.forge_server, 2)} / ${fmt(f.cpu_ms_per_task.runner_agents, 2)} / ${fmt(f.cpu_ms_per_task.redis, 2)} | ${p ? `${fmt(p.cpu_ms_per_task.server, 2)} / ${fmt(p.cpu_ms_per_task.runner_agents, 2)}` : 'n/a'} |`);
      }
      L.push('');
    }
    for (const { host_processes: hosts, forge: f, protocol_floor: p } of layouts) {
      L.push(`Warm-up with ${hosts} host process(es), server / runner agents CPU ms per task by chunk of ${f.tasks}: Forge ${warmUpCurve(f.warm_up)}${p ? `; protocol floor ${warmUpCurve(p.warm_up)}` : ''}.`, '');
    }
    if (tp) {
      L.push(`Redis commands per task (INFO commandstats, Lua-internal calls included): **${fmt(tp.redis_commands_per_task.total, 1)}** — ${kv(tp.redis_commands_per_task.top)}.`, '');
      L.push(`Runner → server requests per task: ${kv(tp.runner_requests_per_task)}.`, '');
      L.push(underLoad(tp), '');
    }
    if (fp) {
      L.push(`Protocol floor (bench/README.md, *The protocol floor*): Redis commands per task **${fmt(fp.redis_commands_per_task.total, 1)}** — ${kv(fp.redis_commands_per_task.top)}. ${underLoad(fp)}`, '');
    }
  }
  if (r.procs) {
    const p = r.procs;
    L.push('## Processes started per task (strace, one task at a time)', '');
    L.push('| | processes | programs executed |', '|---|---:|---|');
    L.push(`| Forge (server + runner host) | ${p.forge_per_task.processes} | ${kv(p.forge_per_task.execs)} |`);
    L.push(`| work floor | ${p.floor_per_task.processes} | ${kv(p.floor_per_task.execs)} |`, '');
  }
  const dispatchTable = (rows: DispatchResult[]) => {
    L.push('| idle runners | single p50 | single p99 | burst p50 | burst p99 | POST /tasks p50 (single) | POST answer → started p50 | server created→claimed mean | /jobs/next answers per task | single POSTs sent with no runner parked (their p50) | server CPU per task (idle) | machine busy / other |');
    L.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const d of rows) L.push(`| ${d.runners} | ${fmt(d.single.p50, 2)} | ${fmt(d.single.p99, 2)} | ${fmt(d.burst.p50, 2)} | ${fmt(d.burst.p99, 2)} | ${fmt(d.single_post_ms.p50, 2)} | ${fmt(d.single_after_post_ms.p50, 2)} | ${fmt(d.server_claim_latency_mean_ms, 2)} | ${fmt(d.polls.poll_answers_per_task, 3)} | ${d.single_unparked.tasks} (${fmt(d.single_unparked.latency.p50, 2)}) | ${fmt(d.server_cpu_ms_per_task, 2)} (${fmt(d.server_idle_pct_of_core, 1)} %) | ${d.cpu.machine_busy_pct} % / ${d.cpu.other_processes_pct} % |`);
    L.push('');
  };
  if (r.dispatch) {
    L.push('## Dispatch latency (ms)', '');
    L.push(`From the benchmark sending \`POST /api/project/:pid/tasks\` to the runner agent's \`started\` event (long-poll answered, sealed payload opened, before the clone). "single": one task at a time, each after the previous finished (${r.config.dispatch.sequential} per row); "burst": ${r.config.dispatch.bursts} bursts of ${r.config.dispatch.burstSize} concurrent POSTs (with 1 runner a burst queues behind one slot: that is queueing, not dispatch). Runner agents many to a host process (${r.config.hosts} hosts):`, '');
    dispatchTable(r.dispatch);
  }
  if (r.dispatch_floor?.length) {
    L.push(`Dispatch floor, measured just before: the same hops and schedule through a minimal server (node:http, ioredis: one MULTI per create, one claim script, the job sealed to the runner's key) and minimal runners (${r.config.hosts} host processes, each runner its own keep-alive agent, key pair and long-poll), no Forge logic; bench/README.md, *The dispatch floor*:`, '');
    L.push('| idle runners | single p50 | single p99 | burst p50 | burst p99 | POST p50 (single) | server CPU per task (idle) | machine busy / other |', '|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const f of r.dispatch_floor) L.push(`| ${f.runners} | ${fmt(f.single.p50, 2)} | ${fmt(f.single.p99, 2)} | ${fmt(f.burst.p50, 2)} | ${fmt(f.burst.p99, 2)} | ${fmt(f.single_post_ms.p50, 2)} | ${fmt(f.server_cpu_ms_per_task, 2)} (${fmt(f.server_idle_pct_of_core, 1)} %) | ${f.cpu.machine_busy_pct} % / ${f.cpu.other_processes_pct} % |`);
    L.push('');
    const lines = floorGaps(r).map((g) => `- ${g.runners} runners: single p50 ${fmt(g.single_p50, 2)}, single p99 ${fmt(g.single_p99, 2)}, burst p99 ${fmt(g.burst_p99, 2)}`);
    if (lines.length) L.push('What Forge adds to the machine\'s hops, Forge − floor (ms, runner agents many to a host process):', '', ...lines, '');
  }
  if (r.dispatch_own?.length) {
    L.push('One runner agent per host process (as `forge runner start` runs a runner):', '');
    dispatchTable(r.dispatch_own);
  }
  const allDispatch = [...(r.dispatch ?? []), ...(r.dispatch_own ?? [])];
  if (allDispatch.length) {
    L.push('Where a dispatch goes, p50 / p99 (ms): POST round trip; POST sent → the long-poll answer carrying the job reaches the agent\'s process (server: create, wake, claim, seal, answer); that → `started`, split into: answer\'s headers → its body\'s end, and body\'s end → `started` (JSON, sealed box opened, task set up). Any wait for the host\'s event loop or for a CPU falls in these.', '');
    L.push('| layout | idle runners | kind | POST round trip | POST sent → agent has answer | agent has answer → started | headers → body end | body end → started |', '|---|---:|---|---:|---:|---:|---:|---:|');
    const pp = (x: Summary) => `${fmt(x.p50, 2)} / ${fmt(x.p99, 2)}`;
    for (const d of allDispatch) {
      for (const kind of ['single', 'burst'] as const) {
        const b = d.breakdown[kind];
        L.push(`| ${d.layout} | ${d.runners} | ${kind} | ${pp(b.post_answer)} | ${pp(b.post_sent_to_agent_has_answer)} | ${pp(b.agent_has_answer_to_started)} | ${pp(b.answer_headers_to_body_end)} | ${pp(b.body_end_to_started)} |`);
      }
    }
    L.push('');
    L.push(`The server's garbage collector and event loop during each row (from its \`/metrics\`; a pause delays every dispatch in flight): ${allDispatch.map((d) => `${d.layout} ${d.runners}: ${fmt(d.server_gc.pauses, 0)} pauses, ${fmt(d.server_gc.total_ms, 0)} ms in all, ${fmt(d.server_gc.over_10ms, 0)} over 10 ms; loop held up to ${fmt(d.server_loop_lag_max_ms, 1)} ms`).join('; ')}.`, '');
  }
  const steady = (title: string, s: SteadyResult) => {
    L.push(`## ${title}`, '');
    L.push(`Window ${s.window_s} s after ${s.setup_s} s of set-up. Server: **${fmt(s.server_cpu_pct_of_core, 2)} % of a core**, RSS **${fmt(s.server_rss_mb, 0)} MB**. Redis: **${fmt(s.redis_commands_per_s.total, 0)} commands/s** (${kv(s.redis_commands_per_s.top)}), ${fmt(s.redis_cpu_pct_of_core, 2)} % of a core. Runner host processes: ${fmt(s.runner_hosts_cpu_pct_of_core, 1)} % of a core. Runner requests/s: ${kv(s.runner_requests_per_s)}. Long-poll answers in the window by status: ${JSON.stringify(s.long_poll_answers_in_window)}. Machine busy ${s.machine_cpu.machine_busy_pct} %, other processes ${s.machine_cpu.other_processes_pct} %.${s.statuses_before ? ` Task statuses when the window began: ${JSON.stringify(s.statuses_before)}; when it ended: ${JSON.stringify(s.statuses_after)} (an \`error\` here is a task failed as "runner lost").` : ''}`, '');
  };
  if (r.parked) {
    steady(`Steady state: ${r.parked.runners} parked runners`, r.parked);
    const p = r.parked;
    if (p.floor) {
      const w = (f: ParkedFloorWindow) => `${fmt(f.server_cpu_pct_of_core, 2)} % of a core, ${f.poll_answers_in_window} polls ran out, ${fmt(f.server_cpu_ms_per_answer, 2)} ms per poll, RSS ${fmt(f.server_rss_mb, 0)} MB`;
      L.push(`Parked floor (the dispatch floor's minimal server and runners, as many, the same window; bench/README.md): before Forge's window ${w(p.floor.before)}; after it ${w(p.floor.after)}. Forge: ${fmt(p.server_cpu_ms_per_answer ?? Number.NaN, 2)} ms of server CPU per poll that ran out; **Forge ÷ parked floor ${fmt(p.to_floor ?? Number.NaN, 2)}** (server CPU, against the mean of the two).`, '');
    }
  }
  if (r.running) steady(`Steady state: ${r.running.tasks_running} running \`sleep\` tasks on ${r.running.runners} runners`, r.running);
  if (r.scale) {
    L.push(`## Scale-out: ${r.scale.redis}, ${r.scale.runners} runners through a round-robin proxy`, '');
    L.push('| server replicas | tasks | tasks/s | lost | statuses | claims per replica | server CPU ms per task, per replica | Redis commands per master | machine busy / other |', '|---:|---:|---:|---:|---|---|---|---|---:|');
    for (const s of r.scale.runs) L.push(`| ${s.replicas} | ${s.tasks} | ${fmt(s.tasks_per_s, 1)} | ${s.lost} | ${JSON.stringify(s.statuses)} | ${s.claims_per_replica.join(' / ')} | ${s.server_cpu_ms_per_task.join(' / ')} | ${Object.values(s.redis_commands_per_master).join(' / ')} | ${s.machine_cpu.machine_busy_pct} % / ${s.machine_cpu.other_processes_pct} % |`);
    L.push('');
  }
  if (r.failures.length) L.push('## Failed phases', '', ...r.failures.map((f) => `- ${f}`), '');
  if (r.profiles?.length) L.push('## CPU profiles', '', ...r.profiles);
  L.push(`Total wall time: ${fmt(r.wall_seconds, 0)} s.`, '');
  return L.join('\n');
}

function printSummary(r: Report): void {
  const out: string[] = ['', `Forge benchmark — nproc ${r.machine.nproc}, node ${r.machine.node}, redis ${r.machine.redis}, task work folders on ${r.machine.task_work_dir.filesystem}${r.quick ? ' (quick)' : ''}`];
  if (r.floor) out.push(`  work floor ${fmt(r.floor.tasks_per_s_median, 1)} tasks/s${r.floor_sandboxed ? `; in the task sandbox ${fmt(r.floor_sandboxed.tasks_per_s_median, 1)} tasks/s` : ''}`);
  for (const { host_processes: hosts, forge: t, protocol_floor: fp, ratios } of r.throughput_layouts ?? []) {
    const layout = `${hosts} runner host process${hosts === 1 ? '' : 'es'}`;
    if (fp) {
      out.push(`  protocol floor, ${layout}: ${fmt(fp.tasks_per_s, 1)} tasks/s; ÷ sandboxed floor ${fmt(ratios.floor_protocol_to_floor_sandboxed ?? Number.NaN, 3)}`);
      out.push(`    CPU ms/task: server ${fmt(fp.cpu_ms_per_task.server, 2)}, runner hosts ${fmt(fp.cpu_ms_per_task.runner_agents, 2)}, git+app ${fmt(fp.cpu_ms_per_task.git_and_app, 1)}, redis ${fmt(fp.cpu_ms_per_task.redis, 2)}; Redis commands/task ${fmt(fp.redis_commands_per_task.total, 0)}; POST /tasks p50 ${fmt(fp.post_ms.p50, 2)} ms; machine busy ${fp.machine_cpu.machine_busy_pct} %`);
    }
    out.push(`  Forge, ${layout}: ${fmt(t.tasks_per_s, 1)} tasks/s; ÷ floor ${fmt(ratios.to_floor ?? Number.NaN, 3)}; ÷ sandboxed floor paired ${pairedText(ratios)} (at the start ${fmt(ratios.to_floor_sandboxed ?? Number.NaN, 3)}); ÷ protocol floor ${fmt(ratios.to_floor_protocol ?? Number.NaN, 3)}; ÷ bare BullMQ ${fmt(ratios.to_bare_bullmq ?? Number.NaN, 4)}`);
    out.push(`    CPU ms/task: server ${fmt(t.cpu_ms_per_task.forge_server, 2)}, runner agents ${fmt(t.cpu_ms_per_task.runner_agents, 2)}, git+app ${fmt(t.cpu_ms_per_task.git_and_app, 1)}, redis ${fmt(t.cpu_ms_per_task.redis, 2)}; Redis commands/task ${fmt(t.redis_commands_per_task.total, 0)}; POST /tasks p50 ${fmt(t.post_ms.p50, 2)} ms; machine busy ${t.machine_cpu.machine_busy_pct} %`);
  }
  if (r.procs) out.push(`  processes per task: Forge ${r.procs.forge_per_task.processes} (${kv(r.procs.forge_per_task.execs)}), floor ${r.procs.floor_per_task.processes}`);
  for (const f of r.dispatch_floor ?? []) out.push(`  dispatch floor ${String(f.runners).padStart(3)} runners: single p50 ${fmt(f.single.p50, 1)} p99 ${fmt(f.single.p99, 1)} ms; burst p99 ${fmt(f.burst.p99, 1)} ms; POST p50 ${fmt(f.single_post_ms.p50, 2)} ms; server CPU/task ${fmt(f.server_cpu_ms_per_task, 2)} ms`);
  for (const d of [...(r.dispatch ?? []), ...(r.dispatch_own ?? [])]) out.push(`  dispatch ${String(d.runners).padStart(3)} runners${d.layout === 'own' ? ' (one per process)' : ''}: single p50 ${fmt(d.single.p50, 1)} p99 ${fmt(d.single.p99, 1)} ms; burst p99 ${fmt(d.burst.p99, 1)} ms; POST p50 ${fmt(d.single_post_ms.p50, 2)} ms; server CPU/task ${fmt(d.server_cpu_ms_per_task, 2)} ms`);
  for (const [name, s] of [['parked', r.parked], ['running', r.running]] as const) {
    if (s) out.push(`  ${name}: ${s.runners} runners, ${s.tasks_running} tasks: server ${fmt(s.server_cpu_pct_of_core, 1)} % of a core, RSS ${fmt(s.server_rss_mb, 0)} MB, Redis ${fmt(s.redis_commands_per_s.total, 0)} cmd/s${s.floor ? `; parked floor ${fmt(s.floor.before.server_cpu_pct_of_core, 1)} / ${fmt(s.floor.after.server_cpu_pct_of_core, 1)} % before / after, Forge ÷ it ${fmt(s.to_floor ?? Number.NaN, 2)}` : ''}`);
  }
  for (const s of r.scale?.runs ?? []) out.push(`  scale ${s.replicas} replica(s): ${fmt(s.tasks_per_s, 1)} tasks/s, lost ${s.lost}, claims ${s.claims_per_replica.join('/')}`);
  process.stdout.write(out.join('\n') + '\n\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cfg = parseConfig(process.argv.slice(2));
  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const root = tempDir('forge-bench-');
  const floorTmp = taskWorkDir('floor-');
  const logDir = join(root, 'logs');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(resultsDir, { recursive: true });
  const profDir = cfg.cpuProf ? join(resultsDir, `profiles-${stamp}`) : undefined;
  const profArgs = (kind: string) => (profDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, kind)}`] : []);
  const watchdog = setTimeout(() => {
    log(`watchdog: the benchmark ran longer than ${WATCHDOG_MS / 60000} min; stopping`);
    void cleanup().finally(() => process.exit(2));
  }, WATCHDOG_MS);
  watchdog.unref();
  const has = (p: Parameters<typeof cfg.only.has>[0]) => cfg.only.has(p);
  const report: Report = {
    date: new Date().toISOString(), quick: cfg.quick, only: [...cfg.only], config: cfg, machine: await machineInfo(),
    server_node_args: process.env.BENCH_SERVER_NODE_ARGS ?? '', cpu_prof_dir: profDir, runner_rejections: [], failures: [], wall_seconds: 0,
  };

  /** Writes what has been measured so far (after each group of phases, so a later failure loses nothing). */
  const save = () => {
    report.wall_seconds = (Date.now() - started) / 1000;
    const md = markdown(report);
    for (const name of [`bench-${stamp}`, 'latest']) {
      writeFileSync(join(resultsDir, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
      writeFileSync(join(resultsDir, `${name}.md`), md);
    }
  };

  try {
    log(`temp folder ${root}; phases ${[...cfg.only].join(', ')}`);
    let ctx: Ctx | undefined;
    let base: BenchEnv | undefined;
    if (['floor', 'bare', 'throughput', 'procs', 'dispatch'].some((p) => has(p as never))) {
      base = await startEnv({
        root, logDir, name: 'base', hosts: cfg.hosts, redis: 'standalone', scripts: { 'run.sh': '# no-op task for the benchmark\nexit 0' },
        settings: { FORGE_LONG_POLL_SEC: String(cfg.longPollSec) }, serverNodeArgs: () => profArgs('base-server'), hostNodeArgs: profArgs('base-runner-hosts'),
      });
      const redis = base.redis as Redis;
      ctx = {
        cfg, env: base, api: base.api, redis, redisPid: base.redisPids[0]!, forge: base.servers[0]!, hosts: base.hosts,
        projectId: base.projectId, templateId: base.templates['run.sh']!, queueKey: '', tasksRun: 0,
      };
      log(`Forge server at ${ctx.forge.url} (pid ${ctx.forge.pid}), redis ${base.redisUrl}`);
      // The task queue's key prefix (its name), from a first task's record (also a smoke test).
      const [spec] = await base.addRunners(1, 1);
      const first = await createTask(ctx);
      await ctx.hosts.waitEvent(first.id, 'finished', 60_000);
      await base.removeRunners([spec!]);
      ctx.queueKey = first.queue;
    }
    const repo = join(root, 'base', 'bench.git');
    if (ctx && has('floor')) {
      report.floor = await floor(ctx, repo, floorTmp, logDir);
      log(`work floor: ${fmt(report.floor.tasks_per_s_median, 1)} tasks/s`);
      report.floor_sandboxed = await floor(ctx, repo, floorTmp, logDir, true);
      log(`work floor in the task sandbox: ${fmt(report.floor_sandboxed.tasks_per_s_median, 1)} tasks/s`);
    }
    const layouts: Array<{ host_processes: number; forge: ThroughputResult; protocol_floor?: ProtocolFloorResult }> = [];
    if (ctx && has('throughput')) {
      // With the floor phase, the sandboxed floor runs again between Forge's batches (see throughput).
      const paired = report.floor_sandboxed ? await PairedFloor.start(ctx, repo, floorTmp, logDir) : undefined;
      // Right after the work floors, each layout's protocol floor just before its Forge batch, so they see the machine alike.
      for (const hostCount of cfg.throughput.hostLayouts) {
        let protocol: ProtocolFloorResult | undefined;
        if (cfg.throughput.protocolFloor) {
          protocol = await protocolFloor(ctx, repo, logDir, hostCount);
          log(`protocol floor, ${hostCount} host process(es): ${fmt(protocol.tasks_per_s, 1)} tasks/s (${JSON.stringify(protocol.statuses)})`);
        }
        const forge = await throughput(ctx, hostCount, paired);
        log(`throughput, ${hostCount} host process(es): ${fmt(forge.tasks_per_s, 1)} tasks/s (${JSON.stringify(forge.statuses)})`);
        layouts.push({ host_processes: hostCount, forge, protocol_floor: protocol });
      }
      report.throughput = layouts[0]?.forge;
      report.floor_protocol = layouts[0]?.protocol_floor;
      await paired?.close();
    }
    if (ctx && has('bare')) {
      report.bare_bullmq = await bareBullmq(ctx, logDir);
      log(`bare BullMQ: ${fmt(report.bare_bullmq.jobs_per_s_median, 0)} jobs/s`);
    }
    if (layouts.length) {
      const ratiosOf = (forge: ThroughputResult, protocol?: ProtocolFloorResult): LayoutRatios => ({
        to_floor: ratio(forge.tasks_per_s, report.floor?.tasks_per_s_median),
        to_floor_sandboxed: ratio(forge.tasks_per_s, report.floor_sandboxed?.tasks_per_s_median),
        to_floor_protocol: ratio(forge.tasks_per_s, protocol?.tasks_per_s),
        to_bare_bullmq: ratio(forge.tasks_per_s, report.bare_bullmq?.jobs_per_s_median),
        floor_protocol_to_floor_sandboxed: ratio(protocol?.tasks_per_s, report.floor_sandboxed?.tasks_per_s_median),
        to_floor_sandboxed_paired: forge.paired && spread(forge.paired.map((p) => p.ratio)),
      });
      report.throughput_layouts = layouts.map((l) => ({ ...l, ratios: ratiosOf(l.forge, l.protocol_floor) }));
      report.ratios = report.throughput_layouts[0]!.ratios;
    }
    if (ctx && has('procs')) {
      const traceDir = join(resultsDir, `strace-${stamp}`);
      mkdirSync(traceDir, { recursive: true });
      report.procs = await processesPerTask(ctx, repo, floorTmp, traceDir);
      log(`processes per task: Forge ${report.procs.forge_per_task.processes}, floor ${report.procs.floor_per_task.processes}`);
    }
    if (ctx && has('dispatch')) {
      // The floor first, so its rows and Forge's see the machine in the same state.
      if (cfg.dispatch.floor) {
        log(`dispatch floor: ${cfg.dispatch.runners.join(', ')} idle runner(s), the same schedule without Forge`);
        report.dispatch_floor = await dispatchFloor(ctx, repo, logDir);
        for (const f of report.dispatch_floor) log(`  floor ${f.runners} runners: single p50 ${fmt(f.single.p50, 2)} ms, p99 ${fmt(f.single.p99, 2)} ms; burst p99 ${fmt(f.burst.p99, 2)} ms`);
      }
      report.dispatch = [];
      const online: Parameters<typeof dispatchConfig>[2] = [];
      for (const n of cfg.dispatch.runners) {
        log(`dispatch latency with ${n} idle runner(s)`);
        const d = await dispatchConfig(ctx, n, online);
        log(`  ${n} runners: single p50 ${fmt(d.single.p50, 2)} ms, p99 ${fmt(d.single.p99, 2)} ms; burst p99 ${fmt(d.burst.p99, 2)} ms`);
        report.dispatch.push(d);
      }
      if (cfg.dispatch.ownRunners.length) {
        log(`dispatch latency with one runner agent per host process: ${cfg.dispatch.ownRunners.join(', ')} runner(s)`);
        report.dispatch_own = await dispatchOwnHosts(ctx, cfg.dispatch.ownRunners, online, logDir, profArgs('dispatch-own-runner-hosts'));
        for (const d of report.dispatch_own) log(`  ${d.runners} runners, own processes: single p50 ${fmt(d.single.p50, 2)} ms, p99 ${fmt(d.single.p99, 2)} ms; burst p99 ${fmt(d.burst.p99, 2)} ms`);
      }
    }
    if (base) {
      report.runner_rejections.push(...base.hosts.rejections);
      await base.stop(); // writes the profiles of its server and hosts
    }
    save();
    // The fresh-environment phases: one failing is reported and the others still run.
    const fresh = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (err) {
        log(`${name} FAILED: ${(err as Error).stack ?? err}`);
        report.failures.push(`${name}: ${(err as Error).message}`);
        process.exitCode = 1;
        return undefined;
      }
    };
    if (has('parked')) report.parked = await fresh('parked', () => parkedRunners(cfg, root, logDir, profArgs('parked-runner-hosts'), profArgs('parked-server')));
    save();
    if (has('running')) report.running = await fresh('running', () => runningTasks(cfg, root, logDir, profArgs('running-runner-hosts'), profArgs('running-server')));
    save();
    if (has('sandbox')) report.sandbox_overhead = await fresh('sandbox', () => measureSandboxOverhead(log));
    save();
    if (has('scale')) report.scale = await fresh('scale', () => scaleOut(cfg, root, logDir, profArgs('scale-runner-hosts'), (i) => profArgs(`scale-server${i}`)));

    if (profDir) {
      report.profiles = [];
      const tasksBase = ctx?.tasksRun ?? 0;
      for (const kind of readdirSync(profDir).sort()) {
        const tasks = kind.startsWith('base-') ? tasksBase : 0;
        report.profiles.push(...profileMarkdown(`${kind}${tasks ? '' : ''}`, profilesIn(join(profDir, kind)).map((f) => summarizeProfile(f)), tasks));
      }
    }
    report.machine = await machineInfo();
    save();
    printSummary(report);
    // The servers' and runner hosts' logs are kept with every run: a task lost in a phase is
    // looked into from them.
    const logs = join(resultsDir, `logs-${stamp}`);
    mkdirSync(logs, { recursive: true });
    for (const file of readdirSync(logDir)) copyFileSync(join(logDir, file), join(logs, file));
    log(`results: bench/results/bench-${stamp}.{json,md} (and latest.{json,md}); logs in bench/results/logs-${stamp}/${profDir ? `; profiles in bench/results/profiles-${stamp}/` : ''}; wall time ${fmt(report.wall_seconds, 0)} s`);
  } catch (err) {
    const keep = join(resultsDir, `failed-${stamp}`);
    mkdirSync(keep, { recursive: true });
    for (const file of readdirSync(logDir)) copyFileSync(join(logDir, file), join(keep, file));
    log(`FAILED: ${(err as Error).stack ?? err}`);
    report.failures.push((err as Error).message);
    save();
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
