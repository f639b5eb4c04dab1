/**
 * Process bookkeeping for the benchmark: every child it starts (redis-server, the Forge server,
 * runner hosts, the bare BullMQ baseline) is tracked here and stopped by `cleanup()`, which runs
 * on normal exit, on failure, and on SIGINT/SIGTERM. Temp folders are removed too.
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redisPing } from '../../test/helpers/redis-ping.js';
import { launchersOf } from './stats.js';

export const projectRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

const children = new Set<ChildProcess>();
const extraPids = new Set<number>();
const tempDirs: string[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
let cleaning: Promise<void> | undefined;

export function tempDir(prefix: string, parent = tmpdir()): string {
  const dir = mkdtempSync(join(parent, prefix));
  tempDirs.push(dir);
  return dir;
}

/** statfs's f_type of tmpfs (linux/magic.h). */
const TMPFS_MAGIC = 0x01021994;
let taskRoot: { path: string; filesystem: string } | undefined;

/**
 * Where every phase's task work folders go (the runners' and the floors' checkouts): BENCH_TASK_DIR
 * when set, else /dev/shm when it is a writable tmpfs with 2 GB free, else the temp folder. One
 * place for all phases, so floors and Forge create and delete their checkouts on the same kind of
 * filesystem. Not the disk by default: on ext4 without a journal (this project's VMs) a new inode
 * is taken only after skipping every one deleted in the last minute (ext4's recently_deleted), so
 * with thousands of checkouts removed a minute, each phase paid for the deletions of the ones
 * before it (perf: a fifth of git's time in that scan).
 */
export function taskWorkRoot(): { path: string; filesystem: string } {
  if (taskRoot) return taskRoot;
  const chosen = process.env.BENCH_TASK_DIR;
  const shm = '/dev/shm';
  const usable = (dir: string) => {
    try {
      accessSync(dir, constants.W_OK);
      const fs = statfsSync(dir);
      return fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= 2 * 2 ** 30;
    } catch {
      return false;
    }
  };
  const parent = chosen || (usable(shm) ? shm : tmpdir());
  const fsType = statfsSync(parent).type;
  taskRoot = { path: tempDir('forge-bench-tasks-', parent), filesystem: fsType === TMPFS_MAGIC ? 'tmpfs' : `statfs type 0x${fsType.toString(16)}` };
  return taskRoot;
}

/** A folder for task work folders under taskWorkRoot(), removed at cleanup with it. */
export function taskWorkDir(prefix: string): string {
  return mkdtempSync(join(taskWorkRoot().path, prefix));
}

export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Spawns a tracked child; stdout/stderr go to `logFile` when given. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions & { logFile?: string } = {}): ChildProcess {
  const { logFile, ...rest } = options;
  let fd: number | undefined;
  if (logFile) fd = openSync(logFile, 'a');
  const stdio = rest.stdio ?? (fd !== undefined ? ['ignore', fd, fd] : 'ignore');
  const child = spawn(command, args, { ...rest, stdio });
  if (fd !== undefined) closeSync(fd);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function trackPid(pid: number): void {
  extraPids.add(pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = exitOf(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops everything this process started, in reverse order of registration. Safe to call twice. */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // keep cleaning
      }
    }
    await Promise.all([...children].map((child) => stopChild(child, 3000)));
    for (const pid of extraPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    if (process.env.BENCH_KEEP_TEMP !== '1') for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}

/** Runs a probe's main, then stops what it started; a failure is printed and sets the exit code. */
export function runProbe(main: () => Promise<void>): void {
  main().then(cleanup, async (err) => {
    console.error(err);
    await cleanup();
    process.exitCode = 1;
  });
}

let signalled = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    process.stderr.write(`\nbench: ${signal}: stopping every process it started…\n`);
    void cleanup().finally(() => process.exit(130));
  });
}
// Last resort when the event loop is already gone: SIGKILL what is left, synchronously.
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of extraPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs: number, what: string, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { ...options, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}


/** A private redis-server on a free loopback port, AOF on (as Forge's embedded one), no RDB. */
export async function startRedis(dir: string): Promise<{ url: string; port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawnTracked('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec',
    '--save', '', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'),
  ]);
  const exited = exitOf(child).then(({ code }) => {
    throw new Error(`redis-server exited (${code}) at start; see ${join(dir, 'redis.log')}`);
  });
  await Promise.race([waitFor(() => redisPing({ port }), 10_000, 'redis-server to answer PING'), exited]);
  exited.catch(() => {});
  return { url: `redis://127.0.0.1:${port}`, port, child };
}

/**
 * Ends the process groups led by children of `parents` or of their process launchers: tasks run in
 * their own groups, so a runner host stopped before its tasks would leave them behind. Only groups
 * whose leader is a direct child of one of those pids.
 */
export function killChildGroups(parents: number[]): number {
  const wanted = new Set([...parents, ...parents.flatMap(launchersOf)]);
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const [ppid, pgid] = [Number(fields[1]), Number(fields[2])];
      if (!wanted.has(ppid) || pgid !== Number(entry)) continue;
      process.kill(-pgid, 'SIGKILL');
      killed++;
    } catch {
      // gone already
    }
  }
  return killed;
}

/** Resident memory of a process in MB (VmRSS), NaN if it is gone. */
export function rssMb(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? +(Number(kb) / 1024).toFixed(1) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
