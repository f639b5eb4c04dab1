/**
 * Probe (not part of `npm run bench`): the runner agent's own CPU per task (its Node process;
 * its git and app children excluded), from /proc/<pid>/stat of a runner host running one agent
 * with `max_parallel_tasks` SLOTS, while no-op tasks (`git clone` + `bash run.sh`, `exit 0`) keep
 * every slot busy. Steadier than the throughput phase: one agent per host, nothing else in it.
 *
 * With BASE (a folder holding another build's dist/, e.g. `git archive <commit> | tar -x -C DIR`,
 * node_modules linked, `npx tsc -p tsconfig.json` there) a second host runs that build's agent
 * beside this checkout's, on the same server at the same time: both see the same machine load,
 * so their figures compare even on a busy shared machine.
 *
 * usage: npx tsx bench/probe-agent-cpu.ts [--tasks=200] [--rounds=3] [--slots=4] [--warmup=100] [--base=DIR] [--cpu-prof]
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt } from '../test/helpers/build.js';
import { createTask } from './lib/forge.js';
import { startEnv } from './lib/env.js';
import { cleanup, projectRoot, sleep, tempDir, waitFor } from './lib/procs.js';
import { hostCpuSeconds, median } from './lib/stats.js';

const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const tasks = Number(flag('tasks') ?? 200);
const rounds = Number(flag('rounds') ?? 3);
const slots = Number(flag('slots') ?? 4);
/** Tasks run before measuring: V8 keeps optimising the agent's code for a few hundred tasks (its compiler threads count). */
const warmup = Number(flag('warmup') ?? 100);
const base = flag('base');
const profile = process.argv.includes('--cpu-prof');

const root = tempDir('forge-probe-agent-');
const logDir = join(root, 'logs');
mkdirSync(logDir);
const builds = base ? [{ name: 'base', root: base }, { name: 'this', root: undefined }] : [{ name: 'this', root: undefined }];
const profileDir = join(projectRoot, 'bench', 'results', `probe-agent-profiles-${new Date().toISOString().replace(/[:.]/g, '-')}`);
try {
  await ensureBuilt();
  const env = await startEnv({
    root, logDir, name: 'probe', hosts: builds.length, redis: 'standalone', scripts: { 'run.sh': 'exit 0' },
    hostBuildRoots: builds.map((b) => b.root ?? ''),
    hostNodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  });
  const specs = await env.addRunners(builds.length, slots);
  await sleep(1500);
  const templateId = env.templates['run.sh']!;
  const pids = env.hosts.pids();
  // Every task's work folder is gone (removed in the background after the result): its CPU is counted.
  const folders = specs.map((s) => s.work_dir);
  const quiet = () => folders.every((dir) => readdirSync(dir).every((name) => !name.startsWith('task_')));
  const runBatch = async (n: number) => {
    let next = 0;
    const ids: number[] = [];
    await Promise.all(Array.from({ length: 2 * slots * builds.length }, async () => {
      while (next < n) {
        next++;
        ids.push((await createTask(env.api, env.projectId, templateId)).id);
      }
    }));
    for (const id of ids) await env.hosts.waitEvent(id, 'finished', 300_000);
    await waitFor(quiet, 60_000, 'work folders removed');
    return ids;
  };
  await runBatch(warmup); // JIT, connections, first clone
  const perBuild = builds.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    await env.hosts.loopDelays(); // from here on
    const before = pids.map((pid) => hostCpuSeconds(pid));
    const ids = await runBatch(tasks);
    const after = pids.map((pid) => hostCpuSeconds(pid));
    // How long each host's event loop was held at a time meanwhile (forks, synchronous file calls).
    const delays = await env.hosts.loopDelays();
    const line = builds.map((build, i) => {
      const ran = ids.filter((id) => env.hosts.events.get(id)?.runner === specs[i]!.id).length;
      const ms = ((after[i]! - before[i]!) * 1000) / ran;
      perBuild[i]!.push(ms);
      return `${build.name} ${ms.toFixed(2)} ms (${ran} tasks; event loop held p99 ${delays[i]!.p99_ms.toFixed(0)} ms, max ${delays[i]!.max_ms.toFixed(0)} ms)`;
    });
    process.stdout.write(`round ${round + 1}: agent CPU per task: ${line.join(', ')}\n`);
  }
  process.stdout.write(`median over ${rounds} rounds: ${builds.map((b, i) => `${b.name} ${median(perBuild[i]!).toFixed(2)} ms`).join(', ')}\n`);
  await env.stop();
  if (profile) process.stdout.write(`profiles (host order: ${builds.map((b) => b.name).join(', ')}): ${profileDir}\n`);
} finally {
  await cleanup();
}
process.exit(0);
