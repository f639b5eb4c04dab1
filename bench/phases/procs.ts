/**
 * Processes started per task, counted with strace attached to every process of the phase (Forge:
 * the server, the runner hosts and their launchers; the floor: its driver): new processes (forks/clones that are
 * not threads) and programs executed, by name. Tasks run one at a time on one runner.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { exitOf, projectRoot } from '../lib/procs.js';
import { perTask, SpawnTrace, type SpawnCount } from '../lib/spawns.js';
import { launchersOf } from '../lib/stats.js';
import { addRunners, type Ctx, log, removeRunners } from './context.js';
import { oneTask } from './dispatch.js';

export interface ProcsResult { tasks: number; forge_per_task: SpawnCount; floor_per_task: SpawnCount }

export async function processesPerTask(ctx: Ctx, repo: string, tmp: string, traceDir: string): Promise<ProcsResult> {
  const n = ctx.cfg.procs.tasks;
  log(`processes per task: ${n} tasks on 1 runner under strace, then the floor's ${n}`);
  const specs = await addRunners(ctx, 1, 1);
  for (let i = 0; i < 2; i++) await oneTask(ctx);
  // A host's task processes are started by its launcher, which runs before strace attaches.
  const hostPids = ctx.hosts.pids().flatMap((pid) => [pid, ...launchersOf(pid)]);
  const trace = await SpawnTrace.attach([ctx.forge.pid, ...hostPids], join(traceDir, 'strace-forge.txt'));
  const traced = (async () => {
    for (let i = 0; i < n; i++) await oneTask(ctx);
  })();
  await traced.catch(() => {});
  const forge = await trace.stop();
  await traced;
  await removeRunners(ctx, specs);

  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench', 'floor.ts'), repo, 'main', 'run.sh', tmp, String(n), '1', '1'], {
    cwd: projectRoot, stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, FLOOR_WAIT_GO: '1' },
  });
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the floor exited (${code}) before it was ready`)));
  });
  const floorTrace = await SpawnTrace.attach([child.pid!], join(traceDir, 'strace-floor.txt'));
  child.stdin!.write('go\n');
  const { code } = await exitOf(child);
  const floor = await floorTrace.stop();
  if (code !== 0) throw new Error(`the floor exited with ${code} under strace`);
  return { tasks: n, forge_per_task: perTask(forge, n), floor_per_task: perTask(floor, n) };
}
