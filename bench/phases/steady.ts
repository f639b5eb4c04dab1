/**
 * Steady state, each on a fresh server and Redis: what a server costs while (a) many runners sit
 * parked in their long-polls with nothing to do, and (b) many tasks run (`sleep`) on many runners,
 * every one heartbeating. Measured over a window once everything is in place: server CPU as % of
 * one core, server RSS, Redis commands/s and CPU, runner requests/s by endpoint.
 */
import { allCommandStats, commandsDelta, type BenchEnv, startEnv } from '../lib/env.js';
import { now, type RunnerSpec } from '../lib/hosts.js';
import { rssMb, sleep, waitFor } from '../lib/procs.js';
import { CpuWindow, cpuSeconds, hostCpuSeconds } from '../lib/stats.js';
import { type Config, log } from './context.js';
import { floorSite } from './dispatch-floor.js';
import { PARKED_SETTLE_MS, parkedFloor, type ParkedFloorWindow } from './parked-floor.js';

export interface SteadyResult {
  runners: number;
  tasks_running: number;
  window_s: number;
  server_cpu_pct_of_core: number;
  server_rss_mb: number;
  redis_cpu_pct_of_core: number;
  redis_commands_per_s: { total: number; top: Record<string, number> };
  runner_hosts_cpu_pct_of_core: number;
  runner_requests_per_s: Record<string, number>;
  long_poll_answers_in_window: Record<string, number>;
  /** Running phase: task statuses when the window began and when it ended (tasks lost show as error). */
  statuses_before?: Record<string, number>;
  /** Running phase: why tasks ended `error` (message → count); none is expected. */
  errors?: Record<string, number>;
  statuses_after?: Record<string, number>;
  /** Running phase: each runner host's longest event-loop block (ms) while the tasks were placed; no agent of a host heartbeats meanwhile. */
  host_loop_delay_placing?: Array<{ host: number; max_ms: number; p99_ms: number }>;
  machine_cpu: ReturnType<CpuWindow['end']>;
  setup_s: number;
  /** Parked phase: server CPU over the window ÷ the long-polls answered 204 in it. */
  server_cpu_ms_per_answer?: number;
  /** Parked phase: the parked floor (parked-floor.ts) measured right before and right after Forge's window. */
  floor?: { before: ParkedFloorWindow; after: ParkedFloorWindow };
  /** Parked phase: Forge's server CPU ÷ the mean of the floor's two windows. */
  to_floor?: number;
}

async function measureWindow(env: BenchEnv, windowSec: number, base: { runners: number; tasks_running: number; setup_s: number }): Promise<SteadyResult> {
  const server = env.servers[0]!;
  const hostCpu = () => env.hosts.pids().reduce((s, pid) => s + hostCpuSeconds(pid, true), 0);
  const window = new CpuWindow(() => cpuSeconds(server.pid) + env.redisCpu() + hostCpu());
  const s0 = cpuSeconds(server.pid);
  const r0 = env.redisCpu();
  const h0 = hostCpu();
  const c0 = await allCommandStats(env.redis);
  const q0 = await env.hosts.requestCounts();
  const t0 = now();
  await sleep(windowSec * 1000);
  const seconds = (now() - t0) / 1000;
  const c1 = await allCommandStats(env.redis);
  const q1 = await env.hosts.requestCounts();
  const pct = (cpu: number) => +((cpu / seconds) * 100).toFixed(2);
  const polls = (await env.hosts.polls(t0, now())).polls;
  const answers: Record<string, number> = {};
  for (const p of polls) answers[String(p.status)] = (answers[String(p.status)] ?? 0) + 1;
  return {
    ...base, window_s: +seconds.toFixed(1),
    server_cpu_pct_of_core: pct(cpuSeconds(server.pid) - s0), server_rss_mb: rssMb(server.pid),
    redis_cpu_pct_of_core: pct(env.redisCpu() - r0), redis_commands_per_s: commandsDelta(c0, c1, seconds),
    runner_hosts_cpu_pct_of_core: pct(hostCpu() - h0),
    runner_requests_per_s: Object.fromEntries(Object.entries(q1).map(([k, v]) => [k, +((v - (q0[k] ?? 0)) / seconds).toFixed(2)] as const).filter(([, v]) => v > 0)),
    long_poll_answers_in_window: answers, machine_cpu: window.end(),
  };
}

/**
 * Forge's parked runners, between two windows of the parked floor on the same redis-server (the
 * first before any of Forge's runners starts, the second once they are stopped), so the machine's
 * drift over minutes shows in the floor as in Forge.
 */
export async function parkedRunners(cfg: Config, root: string, logDir: string, hostNodeArgs: string[], serverNodeArgs: string[]): Promise<SteadyResult> {
  const n = cfg.parked.runners;
  const env = await startEnv({
    root, logDir, name: 'parked', hosts: cfg.hosts, redis: 'standalone', scripts: { 'run.sh': 'exit 0' },
    settings: { FORGE_LONG_POLL_SEC: String(cfg.longPollSec) }, hostNodeArgs, serverNodeArgs: () => serverNodeArgs,
  });
  try {
    const site = floorSite(env, cfg);
    const floorBefore = await parkedFloor(site, n, cfg.parked.windowSec, logDir, 'parked-floor-before');
    const t0 = now();
    log(`parked: starting ${n} runners on ${cfg.hosts} host processes`);
    const specs: RunnerSpec[] = [];
    for (let added = 0; added < n; added += 100) specs.push(...(await env.addRunners(Math.min(100, n - added), 1)));
    // Every runner has parked at least once and the start-up burst (hellos, key uploads) is over.
    await sleep(PARKED_SETTLE_MS);
    const setup = (now() - t0) / 1000;
    log(`parked: ${n} runners up after ${setup.toFixed(0)} s; measuring ${cfg.parked.windowSec} s`);
    const result = await measureWindow(env, cfg.parked.windowSec, { runners: n, tasks_running: 0, setup_s: +setup.toFixed(1) });
    await env.hosts.stop(specs.map((spec) => spec.id));
    const floorAfter = await parkedFloor(site, n, cfg.parked.windowSec, logDir, 'parked-floor-after');
    const answers = result.long_poll_answers_in_window['204'] ?? 0;
    const floorPct = (floorBefore.server_cpu_pct_of_core + floorAfter.server_cpu_pct_of_core) / 2;
    return {
      ...result,
      server_cpu_ms_per_answer: answers ? +((result.server_cpu_pct_of_core * 10 * result.window_s) / answers).toFixed(3) : 0,
      floor: { before: floorBefore, after: floorAfter },
      to_floor: floorPct ? +(result.server_cpu_pct_of_core / floorPct).toFixed(2) : 0,
    };
  } finally {
    await env.stop();
  }
}

export async function runningTasks(cfg: Config, root: string, logDir: string, hostNodeArgs: string[], serverNodeArgs: string[]): Promise<SteadyResult> {
  const { tasks, runners } = cfg.running;
  const slots = Math.ceil(tasks / runners);
  const t0 = now();
  const env = await startEnv({
    root, logDir, name: 'running', hosts: cfg.hosts, redis: 'standalone',
    // exec: the app is the sleep itself; it is stopped through the API once measured.
    scripts: { 'sleep.sh': `exec sleep ${cfg.running.sleepSec}` },
    settings: { FORGE_LONG_POLL_SEC: String(cfg.longPollSec) }, hostNodeArgs, serverNodeArgs: () => serverNodeArgs,
  });
  try {
    log(`running: ${runners} runners × max_parallel_tasks ${slots}, ${tasks} sleep tasks`);
    for (let added = 0; added < runners; added += 100) await env.addRunners(Math.min(100, runners - added), slots);
    await sleep(1500);
    await env.hosts.loopDelays(); // from here on: the placing, not the runners' start
    const templateId = env.templates['sleep.sh']!;
    const ids: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < tasks) {
        next++;
        ids.push((await env.api.json<{ id: number }>('POST', `/api/project/${env.projectId}/tasks`, { template_id: templateId })).id);
      }
    }));
    const statusesOf = async () => {
      const counts: Record<string, number> = {};
      for (let i = 0; i < ids.length; i += 500) {
        for (const raw of await env.redis.mget(...ids.slice(i, i + 500).map((id) => `{forge}:task:${id}`))) {
          const status = raw ? (JSON.parse(raw) as { status: string }).status : 'missing';
          counts[status] = (counts[status] ?? 0) + 1;
        }
      }
      return counts;
    };
    // Every task placed: running, or already ended (a runner judged lost under load is reported).
    // Tasks still waiting after a minute without progress never get a slot (e.g. slots held by
    // tasks the server already judged lost): they are stopped and counted as not placed.
    let last = '';
    let lastChange = now();
    await waitFor(async () => {
      const counts = await statusesOf();
      const text = JSON.stringify(counts);
      if (text !== last) {
        log(`running: ${text}`);
        lastChange = now();
      }
      last = text;
      return (!counts.waiting && !counts.starting) || now() - lastChange > 60_000;
    }, 30 * 60_000, `all ${tasks} tasks placed`, 1000);
    const stopTasks = async (which: number[]) => {
      let i = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        // 409: the task already ended (e.g. failed as runner lost), nothing to stop.
        while (i < which.length) await env.api.request('POST', `/api/project/${env.projectId}/tasks/${which[i++]}/stop`, {});
      }));
    };
    const unplaced: number[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const raws = await env.redis.mget(...ids.slice(i, i + 500).map((id) => `{forge}:task:${id}`));
      raws.forEach((raw, j) => raw && (JSON.parse(raw) as { status: string }).status === 'waiting' && unplaced.push(ids[i + j]!));
    }
    if (unplaced.length) {
      log(`running: ${unplaced.length} tasks found no free slot in a minute; stopping them`);
      await stopTasks(unplaced);
    }
    // Steady state of long-running tasks: the window opens once the last placed task is past a
    // runner's young-task heartbeat cadence (YOUNG_TASK_MS, 10 s, in protocol/wire.ts).
    await sleep(12_000);
    const setup = (now() - t0) / 1000;
    const loopDelays = await env.hosts.loopDelays();
    log(`running: runner hosts' longest event-loop block while placing: ${loopDelays.map((d) => `${d.max_ms.toFixed(0)} ms`).join(', ')} (p99 ${loopDelays.map((d) => d.p99_ms.toFixed(0)).join(', ')} ms)`);
    const before = await statusesOf();
    log(`running: ${before.running ?? 0} tasks running after ${setup.toFixed(0)} s (${JSON.stringify(before)}); measuring ${cfg.running.windowSec} s`);
    const errors = before.error ? await errorsOf(env, ids) : {};
    if (before.error) log(`running: why tasks ended error: ${JSON.stringify(errors)}`);
    const result = await measureWindow(env, cfg.running.windowSec, { runners, tasks_running: before.running ?? 0, setup_s: +setup.toFixed(1) });
    result.statuses_before = { ...before, not_placed_in_time: unplaced.length };
    result.errors = errors;
    result.host_loop_delay_placing = loopDelays;
    result.statuses_after = await statusesOf();
    log('running: stopping every task through the API');
    await stopTasks(ids);
    await waitFor(async () => {
      const counts = await statusesOf();
      return !counts.running && !counts.stopping && !counts.waiting && !counts.starting;
    }, 5 * 60_000, 'every task stopped', 1000).catch((err: Error) => log(`running: ${err.message}`));
    return result;
  } finally {
    await env.stop();
  }
}

/** The tasks that ended `error`, counted by their error message (a task should never end so here). */
async function errorsOf(env: { redis: { mget(...keys: string[]): Promise<(string | null)[]> } }, ids: number[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < ids.length; i += 500) {
    for (const raw of await env.redis.mget(...ids.slice(i, i + 500).map((id) => `{forge}:task:${id}`))) {
      const task = raw ? (JSON.parse(raw) as { status: string; error?: string }) : undefined;
      if (task?.status !== 'error') continue;
      const why = (task.error ?? '(no message)').slice(0, 160);
      counts[why] = (counts[why] ?? 0) + 1;
    }
  }
  return counts;
}
