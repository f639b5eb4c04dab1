/**
 * Probe: what starting one process costs the process that starts it, on this machine. A runner
 * agent starts two per task (the clone and the app). Node's `child_process.spawn` forks (libuv
 * 1.46 in Node 20): the kernel copies the parent's page tables, and every page the parent writes
 * afterwards faults once, copy-on-write, which on a VM whose page faults are dear is most of the
 * cost. `posix_spawn` (vfork semantics: the parent's memory is shared, not copied, until the exec)
 * avoids both; Node does not offer it, Python's `os.posix_spawn` does. Printed: CPU per spawn of
 * `/bin/true` in the parent (user + system, from the process's own usage), for a Node process with
 * 0 / 50 / 200 MB of touched heap added, and for python3's posix_spawn when python3 is installed.
 *
 *   npx tsx bench/probe-spawn-cost.ts [spawns per row, default 200]
 */
import { spawn, spawnSync } from 'node:child_process';
import { runProbe } from './lib/procs.js';

/** Spawns `/bin/true` one after another; answers the parent's CPU per spawn in ms. */
async function nodeSpawns(count: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) => spawn('/bin/true', [], { stdio: 'ignore' }).once('exit', () => resolve()).once('error', reject));
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / count;
}

const PYTHON = `
import os, resource, sys
n = int(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF)
for _ in range(n):
    os.waitpid(os.posix_spawn('/bin/true', ['/bin/true'], os.environ, setsid=True), 0)
after = resource.getrusage(resource.RUSAGE_SELF)
print((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000 / n)
`;

runProbe(async () => {
  const count = Number(process.argv[2] ?? 200);
  const kept: Buffer[] = [];
  process.stdout.write(`CPU per spawn of /bin/true in the parent, ${count} spawns per row (median of 3 rows)\n`);
  for (const extraMb of [0, 50, 200]) {
    while (kept.length < extraMb) kept.push(Buffer.alloc(1 << 20, 1)); // touched, so mapped and resident
    const rows = [await nodeSpawns(count), await nodeSpawns(count), await nodeSpawns(count)].sort((a, b) => a - b);
    const rssMb = process.memoryUsage().rss / 2 ** 20;
    process.stdout.write(`  node child_process.spawn (fork), RSS ${rssMb.toFixed(0)} MB: ${rows[1]!.toFixed(2)} ms\n`);
  }
  const python = spawnSync('python3', ['-c', PYTHON, String(count)], { encoding: 'utf8' });
  if (python.status === 0) process.stdout.write(`  python3 os.posix_spawn (vfork semantics): ${Number(python.stdout).toFixed(2)} ms\n`);
  else process.stdout.write(`  python3 os.posix_spawn: not measured (${python.error?.message ?? python.stderr.trim()})\n`);
});
