/**
 * Probe: what Forge's executor adds to a task's work, without a server, HTTP or Redis. The same
 * tasks (a clone of a small bare repository, then `bash run.sh`), `parallel` at once in this one
 * process, either as the sandboxed work floor runs them (bench/lib/sandboxed-task.ts) or through
 * the executor a runner uses (`executeTask`: its work folders, mounts, environment, output lines
 * and masking, process-group records, head read). The two alternate, `rounds` times each, so both
 * see the machine as it is; printed per batch and as medians: tasks/s, the whole machine's busy
 * time per task (/proc/stat: the sandboxed processes' time, mostly the kernel's, rolls up into no
 * process), this process's CPU and its launcher's per task. Round 17 found the locale with it.
 *
 *   npx tsx bench/probe-executor.ts [tasks per batch, default 500] [parallel, default 40] [rounds, default 4]
 */
import { join } from 'node:path';
import type { JobPayload } from '../protocol/wire.js';
import { executeTask } from '../workers/executor/index.js';
import { ProcessGroups } from '../workers/executor/process-groups.js';
import { makeRepo } from './lib/forge.js';
import { runProbe, taskWorkDir, tempDir } from './lib/procs.js';
import { inPrivateDir, sandboxedTask, taskSandbox } from './lib/sandboxed-task.js';
import { cpuSeconds, fmt, launchersOf, machineCpu, median } from './lib/stats.js';

const [tasks = 500, parallel = 40, rounds = 4] = process.argv.slice(2).map(Number);
type Way = 'floor' | 'executor';

/** A payload as the server builds it for a bash template on a local repository, with nothing secret. */
function payloadFor(id: number, repo: string): JobPayload {
  return {
    task: { id, attempt: 1, project_id: 1, debug: false, dry_run: false, diff: false, limit: '', tags: '', skip_tags: '', message: '' },
    app: 'bash', playbook: 'run.sh', arguments: [], auto_approve: false,
    repository: { git_url: repo, git_branch: 'main', auth: { type: 'none' } },
    inventory: null, extra_vars: {}, env: {}, secret_env: {}, vault_password: '', max_duration_sec: 0, mask: [],
  };
}

runProbe(async () => {
  const repo = await makeRepo(tempDir('forge-probe-executor-'), { 'run.sh': 'true' });
  const work = taskWorkDir('probe-executor-');
  const sandbox = taskSandbox(work);
  const groups = new ProcessGroups(join(work, '.process-groups', 'probe'));
  let next = 0;
  const one: Record<Way, () => Promise<void>> = {
    floor: async () => {
      const dir = join(work, `floor_${next++}`);
      await inPrivateDir(dir, async () => {
        const task = sandboxedTask(sandbox, { url: repo, branch: 'main', playbook: 'run.sh' }, dir);
        await task.clone();
        await task.app();
      });
    },
    executor: async () => {
      const result = await executeTask(payloadFor(next++, repo), {
        tmpPath: work, sshConfigPath: '', signal: new AbortController().signal, groups, sandbox, onLine: () => {}, onRunning: async () => {},
      });
      if (result.status !== 'success') throw new Error(`a task through the executor ended ${result.status}: ${result.error}`);
    },
  };
  const batch = async (way: Way, count: number) => {
    let left = count;
    await Promise.all(Array.from({ length: parallel }, async () => {
      while (left-- > 0) await one[way]();
    }));
  };
  for (const way of ['floor', 'executor'] as const) await batch(way, 200); // warm-up: JIT, the launcher, caches
  const launchers = launchersOf(process.pid); // its task processes are the launcher's children, reaped by bwrap
  const launcherCpu = () => launchers.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const rows: Record<Way, Array<{ tasksPerS: number; machineMs: number; selfMs: number; launcherMs: number }>> = { floor: [], executor: [] };
  process.stdout.write(`${tasks} tasks per batch, ${parallel} at once, ${rounds} rounds, each way alternately (task folders in ${work})\n`);
  process.stdout.write('way        tasks/s   machine ms/task   this process ms/task   launcher ms/task\n');
  for (let round = 0; round < rounds; round++) {
    for (const way of round % 2 ? (['executor', 'floor'] as const) : (['floor', 'executor'] as const)) {
      const machine0 = machineCpu();
      const self0 = process.cpuUsage();
      const launcher0 = launcherCpu();
      const start = performance.now();
      await batch(way, tasks);
      const seconds = (performance.now() - start) / 1000;
      const self = process.cpuUsage(self0);
      const row = {
        tasksPerS: tasks / seconds,
        machineMs: ((machineCpu().busy - machine0.busy) * 1000) / tasks,
        selfMs: (self.user + self.system) / 1000 / tasks,
        launcherMs: ((launcherCpu() - launcher0) * 1000) / tasks,
      };
      rows[way].push(row);
      process.stdout.write(`${way.padEnd(9)} ${fmt(row.tasksPerS).padStart(8)} ${fmt(row.machineMs, 2).padStart(17)} ${fmt(row.selfMs, 2).padStart(22)} ${fmt(row.launcherMs, 2).padStart(18)}\n`);
    }
  }
  const med = (way: Way, key: 'tasksPerS' | 'machineMs' | 'selfMs' | 'launcherMs') => median(rows[way].map((r) => r[key]));
  process.stdout.write(`\nmedians: floor ${fmt(med('floor', 'tasksPerS'))} tasks/s, ${fmt(med('floor', 'machineMs'), 2)} ms of the machine per task; `
    + `executor ${fmt(med('executor', 'tasksPerS'))} tasks/s, ${fmt(med('executor', 'machineMs'), 2)} ms\n`);
  process.stdout.write(`the executor adds ${fmt(med('executor', 'machineMs') - med('floor', 'machineMs'), 2)} ms of the machine per task, `
    + `${fmt(med('executor', 'selfMs') - med('floor', 'selfMs'), 2)} ms of it in this process and ${fmt(med('executor', 'launcherMs') - med('floor', 'launcherMs'), 2)} ms in its launcher\n`);
});
