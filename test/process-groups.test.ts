/**
 * The records of the task process groups a runner or local worker has running
 * (workers/executor/process-groups.ts): after the executor itself was killed, its next start
 * ends every group still recorded, from this version's slot file and from the one-file-per-group
 * records of earlier versions, and never a group whose record was removed.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessGroups } from '../workers/executor/process-groups.js';
import { cleanup, isProcessAlive, onCleanup, tempDir, waitFor } from './helpers/index.js';

test.after.always(cleanup);

/** A process leading a group of its own, as the executor starts every task step. */
function groupLeader(): ChildProcess {
  const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  onCleanup(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  return child;
}

const startTime = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
};

test('the groups recorded when the executor died are ended at its next start; a removed record and a reused pid are not', async (t) => {
  const dir = join(tempDir('forge-groups-'), 'runner-1');
  const running = groupLeader();
  const finished = groupLeader();
  const earlier = groupLeader();
  const groups = new ProcessGroups(dir);
  groups.add(running.pid!);
  groups.add(finished.pid!);
  groups.remove(finished.pid!);
  // An earlier version's record: a file named by the pid holding the leader's start time.
  writeFileSync(join(dir, String(earlier.pid)), startTime(earlier.pid!));
  // A record whose pid now belongs to another process (another start time) is left alone.
  const reused = groupLeader();
  writeFileSync(join(dir, String(reused.pid)), '1');

  // The next start of the executor (the owner file names this process: a previous run of it).
  t.is(new ProcessGroups(dir).reapLeftovers(), 2);
  await waitFor(() => !isProcessAlive(running.pid!) && !isProcessAlive(earlier.pid!), 10_000, { what: 'the recorded groups to end' });
  t.true(isProcessAlive(finished.pid!), 'a group whose record was removed is not touched');
  t.true(isProcessAlive(reused.pid!), 'a pid recorded with another start time is not touched');
  t.is(new ProcessGroups(dir).reapLeftovers(), 0, 'the records are cleared once reaped');
});
