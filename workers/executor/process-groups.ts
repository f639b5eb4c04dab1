import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const statBuffer = Buffer.alloc(1024);

/** Start time of a process (clock ticks since boot, /proc/PID/stat field 22), to tell a pid from its reuse. */
function startTime(pid: number): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(`/proc/${pid}/stat`, 'r');
    const stat = statBuffer.toString('latin1', 0, readSync(fd, statBuffer, 0, statBuffer.length, 0));
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function readOwner(file: string): { pid: number; started: string } | undefined {
  try {
    const [pid, started] = readFileSync(file, 'utf8').trim().split(' ');
    return { pid: Number(pid), started: started ?? '' };
  } catch {
    return undefined;
  }
}

/** One record per line of the groups file, each this long: a slot is overwritten in place. */
const SLOT = 32;
const FREE = Buffer.from(`${' '.repeat(SLOT - 1)}\n`);
const GROUPS_FILE = 'groups';

/**
 * Records the process group of every running task step, so that after the executor itself was
 * killed (SIGKILL, power loss of the supervisor), the next start can end whatever its tasks left
 * running. Each record holds the group leader's start time, so a reused pid is never hit. A
 * sandboxed step's leader is bwrap: killing it ends the sandbox's PID namespace and all in it.
 * The records are fixed-size slots of one file, each written in place by one write: no file is
 * created or removed per process (on ext4, creating inodes in a folder that sees many removals
 * is slow), and a record is never half there.
 */
export class ProcessGroups {
  private file: string;
  private readonly slots = new Map<number, number>();
  private readonly free: number[] = [];
  private size = 0;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, GROUPS_FILE);
  }

  /** Writes one slot, opening the file by its path each time, so a broken records folder fails the write. */
  private writeSlot(slot: number, record: Buffer): void {
    const fd = openSync(this.file, constants.O_WRONLY | constants.O_CREAT, 0o600);
    try {
      writeSync(fd, record, 0, SLOT, slot * SLOT);
    } finally {
      closeSync(fd);
    }
  }

  add(pid: number): void {
    const record = Buffer.from(`${pid} ${startTime(pid) ?? ''}`.padEnd(SLOT - 1).slice(0, SLOT - 1) + '\n');
    const slot = this.free.pop() ?? this.size;
    try {
      this.writeSlot(slot, record);
    } catch (err) {
      if (slot < this.size) this.free.push(slot);
      throw err;
    }
    if (slot === this.size) this.size++;
    this.slots.set(pid, slot);
  }

  remove(pid: number): void {
    const slot = this.slots.get(pid);
    if (slot === undefined) return;
    this.slots.delete(pid);
    this.free.push(slot);
    try {
      this.writeSlot(slot, FREE);
    } catch {
      // the folder is broken: the group is gone all the same
    }
  }

  /**
   * Kills the groups a previous run left behind and takes the folder over; answers how many it
   * ended. If the recorded owner is still alive (the same runner started twice), nothing is touched.
   */
  reapLeftovers(): number {
    const ownerFile = join(this.dir, 'owner');
    const owner = readOwner(ownerFile);
    if (owner && owner.pid !== process.pid && startTime(owner.pid) === owner.started) {
      this.file = join(this.dir, `${GROUPS_FILE}-${process.pid}`); // its records stay its own
      return 0;
    }
    writeFileSync(ownerFile, `${process.pid} ${startTime(process.pid) ?? ''}`, { mode: 0o600 });
    const recorded: Array<[number, string]> = [];
    for (const name of readdirSync(this.dir)) {
      if (name === 'owner') continue;
      const text = readFileSync(join(this.dir, name), 'utf8');
      if (name.startsWith(GROUPS_FILE)) {
        for (const line of text.split('\n')) {
          const [pid, started] = line.trim().split(' ');
          if (pid && started) recorded.push([Number(pid), started]);
        }
      } else {
        // One file per group, named by its pid (what earlier versions wrote).
        recorded.push([Number(name), text.trim()]);
        rmSync(join(this.dir, name), { force: true });
      }
    }
    let reaped = 0;
    for (const [pid, started] of recorded) {
      if (Number.isInteger(pid) && pid > 1 && started && startTime(pid) === started) {
        try {
          process.kill(-pid, 'SIGKILL');
          reaped++;
        } catch {
          // already gone
        }
      }
    }
    for (const name of readdirSync(this.dir)) if (name.startsWith(`${GROUPS_FILE}-`)) rmSync(join(this.dir, name), { force: true });
    writeFileSync(this.file, '', { mode: 0o600 });
    return reaped;
  }
}
