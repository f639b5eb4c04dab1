import { spawn } from 'node:child_process';
import { readLines } from './output-reader.js';
import type { ProcessGroups } from './process-groups.js';

export interface ProcessOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  onLine: (line: string) => void;
  signal?: AbortSignal;
  /** Absolute time (ms) after which the process group is ended as over time. */
  deadline?: number;
  graceMs?: number;
  /** Where the running group is recorded, so a restarted executor can end it if we die. */
  groups?: ProcessGroups;
}

export interface ProcessOutcome { exitCode: number | null; ended: 'exit' | 'stopped' | 'timeout'; spawnError?: string }

/**
 * Runs one command in its own process group and streams its stdout and stderr line by line.
 * Stop and the duration limit end the whole group: SIGTERM, then SIGKILL after the grace period,
 * so nothing a task spawned outlives it.
 */
export function runProcess(command: string, args: string[], options: ProcessOptions): Promise<ProcessOutcome> {
  return new Promise((resolve) => {
    let ended: ProcessOutcome['ended'] = 'exit';
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      if (child.pid) options.groups?.add(child.pid);
    } catch (err) {
      // Untracked, it could outlive a crash of ours: end it before it does anything.
      signalGroup(child.pid!, 'SIGKILL');
      resolve({ exitCode: null, ended: 'exit', spawnError: `cannot record the task's processes: ${(err as Error).message}` });
      return;
    }
    let killTimer: NodeJS.Timeout | undefined;
    let deadlineTimer: NodeJS.Timeout | undefined;

    const killGroup = (why: 'stopped' | 'timeout') => {
      if (ended !== 'exit' || child.exitCode !== null || !child.pid) return;
      ended = why;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), options.graceMs ?? 5000);
    };
    const onAbort = () => killGroup('stopped');
    if (options.signal?.aborted) queueMicrotask(onAbort);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.deadline) deadlineTimer = setTimeout(() => killGroup('timeout'), Math.max(0, options.deadline - Date.now()));

    const streams = [child.stdout, child.stderr].map((stream) => readLines(stream, options.onLine));

    let spawnError: string | undefined;
    child.once('error', (err) => {
      if (!child.pid) {
        for (const stream of [child.stdout, child.stderr]) stream?.destroy();
        resolve({ exitCode: null, ended: 'exit', spawnError: describeSpawnError(command, err) });
      }
      spawnError = describeSpawnError(command, err);
    });
    child.once('exit', async (code) => {
      // The leader is gone: end what it left running in its group, which also closes their copies of the pipes.
      if (child.pid) {
        signalGroup(child.pid, 'SIGKILL');
        options.groups?.remove(child.pid);
      }
      await Promise.all(streams);
      clearTimeout(killTimer);
      clearTimeout(deadlineTimer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode: code, ended, spawnError });
    });
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

function describeSpawnError(command: string, err: Error): string {
  return (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${command} is not installed on this machine (not found on PATH)` : err.message;
}
