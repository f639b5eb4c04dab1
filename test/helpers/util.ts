/**
 * Small building blocks shared by every harness module: polling, free ports, temporary folders,
 * child processes and the cleanup registry that stops them when a test file ends.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository (the folder holding package.json and bin/run.js). */
export const projectRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

export interface WaitForOptions {
  /** Pause between attempts; small, since this replaces event waits. Default 25 ms. */
  intervalMs?: number;
  /** Shown in the timeout error: what was being waited for. */
  what?: string;
}

/**
 * Calls `fn` until it returns a truthy value (which is returned) or `timeoutMs` passes. A thrown
 * error counts as "not yet"; on timeout the last value or error is part of the message, so a
 * failing test says what it saw instead of only "timed out".
 */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, options: WaitForOptions = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  const interval = options.intervalMs ?? 25;
  let last: unknown;
  let lastError: unknown;
  for (;;) {
    try {
      last = await fn();
      lastError = undefined;
      if (last) return last as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  const seen = lastError ? `last error: ${(lastError as Error).message ?? String(lastError)}` : `last value: ${describe(last)}`;
  throw new Error(`waitFor${options.what ? ` (${options.what})` : ''} timed out after ${timeoutMs} ms; ${seen}`);
}

function describe(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 500 ? text.slice(0, 500) + '…' : text;
  } catch {
    return String(value);
  }
}

/** Resolves to true if something can listen on 127.0.0.1:port right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A free port `p` for which `p + offset` is free too (Redis Cluster's bus listens on port + 10000).
 * Ports are drawn from a range where `p + offset` stays below 65536.
 */
export async function freePortWithPartner(offset: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * (65_535 - offset - 20_000));
    if ((await portIsFree(port)) && (await portIsFree(port + offset))) return port;
  }
  throw new Error(`no free port pair (p, p+${offset}) found`);
}

// ---------------------------------------------------------------------------------------------
// Cleanup registry

const cleanups: Array<() => unknown> = [];
const children = new Set<ChildProcess>();
const keepTemp = process.env.FORGE_TEST_KEEP === '1';

/** Registers work for cleanup(); runs last-in first-out. */
export function onCleanup(fn: () => unknown): void {
  cleanups.push(fn);
}

/**
 * Stops every process and removes every folder the harness made in this test file. Call it from
 * `test.after.always(cleanup)` in each file. Set FORGE_TEST_KEEP=1 to keep the temp folders.
 */
export async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`cleanup step failed: ${(err as Error).message}\n`);
    }
  }
}

/** Tracks a child so it is SIGKILLed if the test process exits without cleanup (a crash). */
export function trackChild(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Extra process ids (not our direct children, e.g. Forge's embedded redis) to kill on exit. */
const strayPids = new Set<number>();
export function trackPid(pid: number): void {
  strayPids.add(pid);
}

process.once('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of strayPids) if (isProcessAlive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
});

/** A fresh folder under the OS temp dir, removed by cleanup() (unless FORGE_TEST_KEEP=1). */
export function tempDir(prefix = 'forge-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!keepTemp) onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * True if `pid` names a live process. A zombie (exited, not yet reaped — PID 1 in a container
 * does not always reap orphans) counts as dead: it runs nothing and holds no resources but its slot.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false; // vanished between the two checks
  }
}

export interface CommandResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs a command to completion and captures its output; never throws on a non-zero exit. */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
      if (e && typeof e.code === 'string') return reject(new Error(`${command}: ${e.message}`));
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout: String(stdout), stderr: String(stderr) });
    });
    trackChild(child);
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Like run(), but throws with the captured output unless the command exits 0. */
export async function runOk(command: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.code ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** Resolves when the child has exited, with its code and signal. */
export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Sends `signal`, waits up to `timeoutMs` for the exit, then SIGKILLs. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return exitOf(child);
  const exited = exitOf(child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}
