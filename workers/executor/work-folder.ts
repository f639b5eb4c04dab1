import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskUser } from './sandbox.js';

/** The task's HOME inside its work folder. */
export const HOME = 'home';

/**
 * Emptied work folders (each with its empty HOME) kept for the next tasks, by tmp_path. Making a
 * folder is the dearest file operation a task's agent does: on ext4, whose inode allocator scans
 * for recently deleted inodes in a folder that sees many removals, the two mkdirs per task (work
 * folder and HOME) were ~35 % of a runner agent's CPU (perf), and their removal waits for the
 * journal (and, mounted with discard, the device). A folder is renamed into place instead.
 */
const spares = new Map<string, string[]>();
/** More than this many idle folders are removed, not kept. */
const MAX_SPARES = 16;
let spareCount = 0;
const SPARE_PREFIX = '.spare-';

/**
 * Spares a process left behind (it was stopped or killed) are removed the first time this
 * process uses tmp_path: those named after a process that is gone.
 */
function sweepOldSpares(tmpPath: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(tmpPath);
  } catch {
    return; // no tmp_path yet: nothing left behind
  }
  for (const name of names) {
    if (!name.startsWith(SPARE_PREFIX)) continue;
    const pid = Number(name.slice(SPARE_PREFIX.length).split('-')[0]);
    if (pid === process.pid || alive(pid)) continue;
    try {
      rmSync(join(tmpPath, name), { recursive: true, force: true });
    } catch {
      // another process's, or already gone
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A new, empty work folder (0700) with an empty HOME in it, both owned by the task's user: a
 * spare one renamed into place when there is one, else made. A folder left behind at `workDir`
 * (an earlier run of this task id that was killed) is removed first.
 */
export function takeWorkFolder(workDir: string, tmpPath: string, user: TaskUser | undefined): void {
  let pool = spares.get(tmpPath);
  if (!pool) {
    sweepOldSpares(tmpPath);
    spares.set(tmpPath, (pool = []));
  }
  const spare = pool.pop();
  if (spare) {
    try {
      renameSync(spare, workDir);
      return;
    } catch (err) {
      // A leftover in the way (renaming onto a non-empty folder fails): removed, then a folder is made.
      rmSync(spare, { recursive: true, force: true });
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  makeWorkFolder(workDir, tmpPath);
  mkdirSync(join(workDir, HOME), { mode: 0o700 });
  if (user) for (const dir of [workDir, join(workDir, HOME)]) chownSync(dir, user.uid, user.gid);
}

/**
 * Made first and removed only when one was left behind: the common case costs one system call,
 * not a look for leftovers and a recursive make.
 */
function makeWorkFolder(workDir: string, tmpPath: string): void {
  try {
    mkdirSync(workDir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') rmSync(workDir, { recursive: true, force: true });
    else if (code === 'ENOENT') mkdirSync(tmpPath, { recursive: true, mode: 0o700 });
    else throw err;
    mkdirSync(workDir, { mode: 0o700 });
  }
}

/**
 * Removes a folder tree using the entry types the folder listing already gives: an unlink per
 * file, a listing and an rmdir per folder. Node's recursive rm first lstats every entry and tries
 * rmdir on each folder before listing it (about half again as many system calls), each a trip
 * through the thread pool: the removal of every task's checkout was ~7 % of a runner's samples.
 * Measured side by side (probe-agent-cpu), the same calls through the thread pool or on a worker
 * thread cost 1.5–3 ms more agent CPU per task than these synchronous ones; the price is that the
 * event loop waits for them (on a busy ext4 an rmdir may wait for the journal for milliseconds),
 * as it waits for every spawn's fork.
 */
function removeTree(dir: string): void {
  emptyFolder(dir);
  rmdirSync(dir);
}

function emptyFolder(dir: string, keep?: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name === keep && entry.isDirectory()) emptyFolder(path);
    else if (entry.isDirectory()) removeTree(path);
    else unlinkSync(path);
  }
}

/** The folder is a real folder, 0700 and the task user's again (the task owned it and may have changed that). */
function reset(dir: string, user: TaskUser | undefined): void {
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw new Error(`${dir} is no longer a folder`);
  const uid = user?.uid ?? process.getuid?.() ?? stat.uid;
  const gid = user?.gid ?? process.getgid?.() ?? stat.gid;
  if (stat.uid !== uid || stat.gid !== gid) chownSync(dir, uid, gid);
  if ((stat.mode & 0o7777) !== 0o700) chmodSync(dir, 0o700);
}

/**
 * Once the current turn of the event loop is over (the task's report goes out first), empties the
 * task's work folder down to an empty HOME and keeps it for a next task; or removes it, when
 * enough are kept or it cannot be emptied (a task may leave files its own user cannot remove: the
 * next run of this task id then starts by removing the folder again).
 */
export function releaseWorkFolderSoon(workDir: string, tmpPath: string, user: TaskUser | undefined): void {
  setImmediate(() => {
    const pool = spares.get(tmpPath);
    try {
      if (!pool || pool.length >= MAX_SPARES) throw new Error('enough spare work folders');
      emptyFolder(workDir, HOME);
      reset(workDir, user);
      reset(join(workDir, HOME), user);
      const spare = join(tmpPath, `${SPARE_PREFIX}${process.pid}-${++spareCount}`);
      renameSync(workDir, spare);
      pool.push(spare);
    } catch {
      try {
        removeTree(workDir);
      } catch {
        try {
          rmSync(workDir, { recursive: true, force: true, maxRetries: 2 });
        } catch {
          // left for the next run of this task id
        }
      }
    }
  });
}
