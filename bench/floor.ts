/**
 * The work floor: the same work a Forge task does on a runner, without Forge. For each of `n`
 * tasks, at most `parallel` at once: a private 0700 work folder, `git clone --depth 1 --branch B
 * --single-branch --template= URL` (the flags the executor gives git), then the app started the way the
 * executor starts it (`bash PLAYBOOK` in the checkout, its own process group, stdout and stderr
 * piped and read to the end), then the folder removed. Prints one JSON line per repetition:
 * tasks per second from the first clone to the last task done.
 *
 * FLOOR_SANDBOX=1: the clone and the app each start in the task sandbox exactly as the executor
 * starts them (bubblewrap through the executor's own runProcess; as root, as the task user), so
 * the ratio to it is what Forge itself costs beyond the isolated work.
 *
 * usage: tsx bench/floor.ts GIT_URL BRANCH PLAYBOOK TMP N PARALLEL REPS  (FLOOR_WAIT_GO=1: wait for a stdin line first)
 *
 * FLOOR_SERVE=1: after the REPS runs, one more run for every line read on stdin, until stdin ends,
 * so the throughput phase can measure the floor between Forge's batches with its driver warm.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { inPrivateDir, sandboxedTask, taskSandbox } from './lib/sandboxed-task.js';

const [url, branch, playbook, tmp, nArg, parallelArg, repsArg] = process.argv.slice(2);
const n = Number(nArg ?? 200);
const parallel = Number(parallelArg ?? 40);
const reps = Number(repsArg ?? 1);

function runToEnd(command: string, args: string[], options: { cwd: string; detached: boolean }): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: process.env, detached: options.detached, stdio: ['ignore', 'pipe', 'pipe'] });
    const drained = [child.stdout, child.stderr].map((stream) => new Promise<void>((done) => {
      stream.on('data', () => {});
      stream.on('end', done);
    }));
    child.once('error', reject);
    child.once('exit', (code) => void Promise.all(drained).then(() => resolve(code)));
  });
}

const sandbox = process.env.FLOOR_SANDBOX === '1' ? taskSandbox(tmp!) : undefined;

async function oneTask(id: string): Promise<void> {
  const workDir = join(tmp!, `floor_${id}`);
  const repoDir = join(workDir, 'repository');
  await inPrivateDir(workDir, async () => {
    if (sandbox) {
      const task = sandboxedTask(sandbox, { url: url!, branch: branch!, playbook: playbook! }, workDir);
      await task.clone();
      return await task.app();
    }
    const cloned = await runToEnd('git', ['clone', '--depth', '1', '--branch', branch!, '--single-branch', '--template=', url!, repoDir], { cwd: workDir, detached: false });
    if (cloned !== 0) throw new Error(`git clone exited with ${cloned}`);
    const code = await runToEnd('bash', [playbook!], { cwd: repoDir, detached: true });
    if (code !== 0) throw new Error(`bash ${playbook} exited with ${code}`);
  });
}

async function once(rep: number): Promise<{ tasks: number; seconds: number; tasks_per_s: number }> {
  let next = 0;
  const first = performance.now();
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < n) {
      const i = next++;
      await oneTask(`${rep}_${i}`);
    }
  }));
  const seconds = (performance.now() - first) / 1000;
  return { tasks: n, seconds, tasks_per_s: n / seconds };
}

mkdirSync(tmp!, { recursive: true });
// For the process-count probe: say ready, then wait for a line on stdin (strace attaches in between).
if (process.env.FLOOR_WAIT_GO === '1') {
  process.stderr.write('ready\n');
  await new Promise((resolve) => process.stdin.once('data', resolve));
}
for (let rep = 0; rep < reps; rep++) process.stdout.write(JSON.stringify(await once(rep)) + '\n');
if (process.env.FLOOR_SERVE === '1') {
  let rep = reps;
  for await (const _line of createInterface({ input: process.stdin })) process.stdout.write(JSON.stringify(await once(rep++)) + '\n');
}
process.exit(0);
