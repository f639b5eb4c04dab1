/**
 * Probe (not part of `npm run bench`): system calls the server makes per task, by kind, with
 * `strace -c` attached to the server while tasks run on 10 runners × 4 slots (8 POSTs in flight).
 * Counts, not time: strace slows the server, but how many writes a task costs does not change.
 * Used to measure server-side cost cuts before/after (e.g. Redis auto-pipelining).
 *
 * With ONE_AT_A_TIME=1 each task is created once the previous one has finished and the server had
 * 50 ms to settle: a server that is not saturated, where every request and reply is its own wake-up.
 *
 * usage: [ONE_AT_A_TIME=1] npx tsx bench/probe-syscalls.ts [TASKS]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTask } from './lib/forge.js';
import { startEnv } from './lib/env.js';
import { cleanup, exitOf, sleep, tempDir } from './lib/procs.js';

const tasks = Number(process.argv[2] ?? 200);
const root = tempDir('forge-probe-');
const logDir = join(root, 'logs');
mkdirSync(logDir);
try {
  const env = await startEnv({ root, logDir, name: 'probe', hosts: 2, redis: 'standalone', scripts: { 'run.sh': 'exit 0' } });
  await env.addRunners(10, 4);
  await sleep(1500);
  const templateId = env.templates['run.sh']!;
  const oneAtATime = process.env.ONE_AT_A_TIME === '1';
  const runBatch = async (n: number) => {
    if (oneAtATime) {
      for (let i = 0; i < n; i++) {
        await env.hosts.waitEvent((await createTask(env.api, env.projectId, templateId)).id, 'finished', 300_000);
        await sleep(50);
      }
      await sleep(1000);
      return;
    }
    let next = 0;
    const ids: number[] = [];
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < n) {
        next++;
        ids.push((await createTask(env.api, env.projectId, templateId)).id);
      }
    }));
    for (const id of ids) await env.hosts.waitEvent(id, 'finished', 300_000);
    await sleep(1000); // the reconciler finalises the last ones
  };
  await runBatch(20);
  const out = join(root, 'strace-c.txt');
  const strace = spawn('strace', ['-c', '-f', '-o', out, '-p', String(env.servers[0]!.pid)], { stdio: 'ignore' });
  await sleep(500);
  await runBatch(tasks);
  strace.kill('SIGINT');
  await exitOf(strace);
  const rows = readFileSync(out, 'utf8').split('\n').map((l) => l.trim().split(/\s+/)).filter((c) => c.length >= 5 && /^\d/.test(c[0]!) && c.at(-1) !== 'total');
  const perTask = rows.map((c) => [c.at(-1)!, Number(c[3]) / tasks] as const).sort((a, b) => b[1] - a[1]).slice(0, 12);
  process.stdout.write(`server system calls per task (${tasks} tasks${oneAtATime ? ', one at a time' : ''}): ${perTask.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}\n`);
} finally {
  await cleanup();
}
process.exit(0);
