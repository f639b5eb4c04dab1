/**
 * Counts the processes a set of running processes (and everything they start) create, with
 * `strace -f` attached by pid for the length of a probe: every fork/vfork/clone that is not a
 * thread is a new process, every successful execve a program started (by name). strace slows the
 * traced processes down, so probes that use it measure counts, never time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { exitOf, sleep } from './procs.js';

export interface SpawnCount { processes: number; execs: Record<string, number>; exec_total: number }

export class SpawnTrace {
  private constructor(private readonly child: ChildProcess, private readonly file: string) {}

  /** Attaches to `pids` (and their future children); resolves once strace is attached. */
  static async attach(pids: number[], file: string): Promise<SpawnTrace> {
    const args = ['-f', '-qq', '-e', 'trace=execve,clone,clone3,fork,vfork', '-e', 'signal=none', '-o', file, ...pids.flatMap((p) => ['-p', String(p)])];
    const child = spawn('strace', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    // strace writes nothing when attached; give it a moment, and fail if it exited.
    await sleep(500);
    if (child.exitCode !== null) throw new Error(`strace could not attach to ${pids.join(',')}: ${err.trim()}`);
    return new SpawnTrace(child, file);
  }

  /** Detaches (SIGINT) and counts what it saw. */
  async stop(): Promise<SpawnCount> {
    const exited = exitOf(this.child);
    this.child.kill('SIGINT');
    await exited;
    return countSpawns(readFileSync(this.file, 'utf8'));
  }
}

/** Parses `strace -f` output: new processes (clones without CLONE_THREAD, forks, vforks) and execve by program. */
export function countSpawns(text: string): SpawnCount {
  let processes = 0;
  const execs: Record<string, number> = {};
  const pendingIsThread = new Map<string, boolean>();
  const pendingExec = new Map<string, string>();
  const countExec = (path: string) => (execs[basename(path)] = (execs[basename(path)] ?? 0) + 1);
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pid, rest] = m as unknown as [string, string, string];
    const call = /^(clone3?|v?fork)\((.*)/.exec(rest);
    const resumed = /^<\.\.\. (clone3?|v?fork) resumed>(.*)/.exec(rest);
    if (call) {
      const isThread = call[2]!.includes('CLONE_THREAD');
      if (rest.endsWith('<unfinished ...>')) pendingIsThread.set(pid, isThread);
      else if (!isThread && /= \d+$/.test(rest)) processes++;
    } else if (resumed) {
      const isThread = pendingIsThread.get(pid) ?? resumed[2]!.includes('CLONE_THREAD');
      pendingIsThread.delete(pid);
      if (!isThread && /= \d+$/.test(rest)) processes++;
    } else if (rest.startsWith('execve(')) {
      const path = /^execve\("([^"]+)"/.exec(rest)?.[1] ?? '?';
      if (rest.endsWith('<unfinished ...>')) pendingExec.set(pid, path);
      else if (/= 0$/.test(rest)) countExec(path);
    } else if (rest.startsWith('<... execve resumed>')) {
      const path = pendingExec.get(pid);
      pendingExec.delete(pid);
      if (path && /= 0$/.test(rest)) countExec(path);
    }
  }
  const exec_total = Object.values(execs).reduce((a, b) => a + b, 0);
  return { processes, execs, exec_total };
}

/** Per task, rounded: processes and execs by program. */
export function perTask(count: SpawnCount, tasks: number): SpawnCount {
  const r = (x: number) => +(x / tasks).toFixed(2);
  return { processes: r(count.processes), exec_total: r(count.exec_total), execs: Object.fromEntries(Object.entries(count.execs).map(([k, v]) => [k, r(v)])) };
}
