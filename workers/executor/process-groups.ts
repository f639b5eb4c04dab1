import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Start time of a process (clock ticks since boot, /proc/PID/stat field 22), to tell a pid from its reuse. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
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

/**
 * Records the process group of every running task step in a folder, so that after the executor
 * itself was killed (SIGKILL, power loss of the supervisor), the next start can end whatever its
 * tasks left running. Each entry holds the group leader's start time, so a reused pid is never hit.
 * A sandboxed step's leader is bwrap: killing it ends the sandbox's PID namespace and all in it.
 */
export class ProcessGroups {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  add(pid: number): void {
    writeFileSync(join(this.dir, String(pid)), startTime(pid) ?? '', { mode: 0o600 });
  }

  remove(pid: number): void {
    rmSync(join(this.dir, String(pid)), { force: true });
  }

  /**
   * Kills the groups a previous run left behind and takes the folder over; answers how many it
   * ended. If the recorded owner is still alive (the same runner started twice), nothing is touched.
   */
  reapLeftovers(): number {
    const ownerFile = join(this.dir, 'owner');
    const owner = readOwner(ownerFile);
    if (owner && owner.pid !== process.pid && startTime(owner.pid) === owner.started) return 0;
    writeFileSync(ownerFile, `${process.pid} ${startTime(process.pid) ?? ''}`, { mode: 0o600 });
    let reaped = 0;
    for (const name of readdirSync(this.dir)) {
      if (name === 'owner') continue;
      const pid = Number(name);
      const recorded = readFileSync(join(this.dir, name), 'utf8').trim();
      if (Number.isInteger(pid) && pid > 1 && recorded && startTime(pid) === recorded) {
        try {
          process.kill(-pid, 'SIGKILL');
          reaped++;
        } catch {
          // already gone
        }
      }
      this.remove(pid);
    }
    return reaped;
  }
}
