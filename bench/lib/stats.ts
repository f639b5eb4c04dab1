import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when empty. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export function mean(samples: number[]): number {
  return samples.length ? samples.reduce((s, x) => s + x, 0) / samples.length : Number.NaN;
}

export function median(samples: number[]): number {
  return percentile(samples, 50);
}

export interface Summary { n: number; p50: number; p90: number; p99: number; max: number; mean: number; min: number }

export function summarize(samples: number[]): Summary {
  return {
    n: samples.length, min: Math.min(...samples), p50: percentile(samples, 50), p90: percentile(samples, 90),
    p99: percentile(samples, 99), max: Math.max(...samples), mean: mean(samples),
  };
}

const TICK = 100; // USER_HZ on Linux

/** CPU seconds a process used so far (user+system, plus its reaped children when `children`). */
export function cpuSeconds(pid: number, children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state=0, ..., utime=11, stime=12, cutime=13, cstime=14.
    const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
    return (utime! + stime! + (children ? cutime! + cstime! : 0)) / TICK;
  } catch {
    return Number.NaN;
  }
}

/**
 * Pids of a runner host's process launchers (workers/executor/launcher.ts, launcher.py): the small child that
 * starts its task processes. Its CPU is the agent's; its reaped children (git, the app) are the
 * host's children's.
 */
export function launchersOf(hostPid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== hostPid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('launcher.py')) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** CPU seconds of a runner host with its launchers: the agent's own, or with every task process (`children`). */
export function hostCpuSeconds(hostPid: number, children = false): number {
  return launchersOf(hostPid).reduce((sum, pid) => sum + cpuSeconds(pid, children), cpuSeconds(hostPid, children));
}

export const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

/** Whole-machine CPU jiffies from /proc/stat: busy (everything but idle and iowait) and total. */
export function machineCpu(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = v[3]! + v[4]!;
    return { busy: (total - idle) / TICK, total: total / TICK };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/** One process's CPU (user + system, seconds) and the wall time (seconds) since the window opened. */
export class ProcessCpuWindow {
  private readonly cpu0: number;
  private readonly t0 = performance.now();

  constructor(private readonly pid: number) {
    this.cpu0 = cpuSeconds(pid);
  }

  end(): { cpu_s: number; wall_s: number } {
    return { cpu_s: cpuSeconds(this.pid) - this.cpu0, wall_s: (performance.now() - this.t0) / 1000 };
  }
}

/** A process's CPU (seconds per second) over `ms` in which it has nothing to do but its timers (/proc counts 10 ms ticks). */
export async function idleCpuRate(pid: number, ms: number): Promise<number> {
  const window = new ProcessCpuWindow(pid);
  await delay(ms);
  const { cpu_s, wall_s } = window.end();
  return cpu_s / wall_s;
}

/**
 * A server's CPU per task over `schedule` while it is not saturated (each request then pays its
 * own wake-ups, unlike the throughput phase's batched figure), net of its idle rate (idleCpuRate:
 * its timers and parked long-polls).
 */
export async function serverCpuPerTask<T>(pid: number, idleRate: number, tasks: number, schedule: () => Promise<T>): Promise<{ result: T; ms_per_task: number }> {
  const busy = new ProcessCpuWindow(pid);
  const result = await schedule();
  const { cpu_s, wall_s } = busy.end();
  return { result, ms_per_task: ((cpu_s - idleRate * wall_s) / tasks) * 1000 };
}

/**
 * CPU use over a phase: the machine's busy share, and the share taken by processes this
 * benchmark did not start (other work on the machine makes every figure slower).
 */
export class CpuWindow {
  private readonly m0 = machineCpu();
  private readonly own0: number;

  constructor(private readonly own: () => number) {
    this.own0 = own();
  }

  end(): { machine_busy_pct: number; bench_processes_pct: number; other_processes_pct: number } {
    const m1 = machineCpu();
    const total = m1.total - this.m0.total;
    const busy = (m1.busy - this.m0.busy) / total;
    const ours = (this.own() - this.own0) / total;
    const pct = (x: number) => +(x * 100).toFixed(1);
    return { machine_busy_pct: pct(busy), bench_processes_pct: pct(ours), other_processes_pct: pct(Math.max(0, busy - ours)) };
  }
}
