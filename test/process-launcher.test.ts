/**
 * The process launcher (workers/executor/launcher.ts): a runner's task processes are started by a
 * small helper process, so the agent itself never forks. Output, exit codes and spawn errors come
 * back as from a direct spawn; a launcher that dies ends what it was running and is replaced; a
 * launcher never outlives its agent, nor keeps it running.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processLauncher } from '../workers/executor/launcher.js';
import { runProcess, type ProcessOutcome } from '../workers/executor/process.js';
import { cleanup, exitOf, isProcessAlive, tempDir, trackChild, waitFor } from './helpers/index.js';

test.after.always(cleanup);

async function run(script: string, onLine?: (line: string) => void): Promise<ProcessOutcome & { lines: string[] }> {
  const lines: string[] = [];
  const outcome = await runProcess('sh', ['-c', script], { cwd: tempDir('forge-launcher-'), env: { PATH: process.env.PATH }, onLine: (line) => void (lines.push(line), onLine?.(line)) });
  return { ...outcome, lines };
}

test.serial('a step runs in the launcher, not in the agent process; its output, exit code and spawn errors come back', async (t) => {
  const step = await run('echo "parent $PPID"; echo to-stderr >&2; exit 7');
  t.is(step.exitCode, 7);
  t.true(step.lines.includes('to-stderr'));
  const parent = Number(step.lines.find((line) => line.startsWith('parent '))?.split(' ')[1]);
  t.is(parent, processLauncher.helperPid ?? -1, 'the step is the launcher\'s child');
  t.not(parent, process.pid);

  // A step that writes nothing at all still ends (its pipes reach their end before anyone reads them).
  const quiet = await run('true');
  t.deepEqual([quiet.exitCode, quiet.lines], [0, []]);

  const missing = await runProcess('forge-no-such-command', [], { cwd: tempDir('forge-launcher-'), env: { PATH: process.env.PATH }, onLine: () => {} });
  t.is(missing.exitCode, null);
  t.regex(missing.spawnError ?? '', /forge-no-such-command is not installed on this machine/);
});

test.serial('a launcher that dies ends the step it ran (its process group too), and the next step gets a new launcher', async (t) => {
  let sleeper = 0;
  const step = run('echo "pid $$"; exec sleep 300', (line) => {
    if (line.startsWith('pid ')) sleeper = Number(line.slice(4));
  });
  await waitFor(() => sleeper > 0, 30_000, { what: 'the step to start' });
  const first = processLauncher.helperPid!;
  process.kill(first, 'SIGKILL');
  const ended = await step;
  t.is(ended.exitCode, null);
  await waitFor(() => !isProcessAlive(sleeper), 30_000, { what: 'the step\'s process to be ended' });

  const next = await run('echo "parent $PPID"');
  t.is(next.exitCode, 0);
  const parent = Number(next.lines[0]?.split(' ')[1]);
  t.is(parent, processLauncher.helperPid ?? -1);
  t.not(parent, first);
});

test.serial('the launcher neither keeps its agent running nor outlives it', async (t) => {
  const dir = tempDir('forge-launcher-agent-');
  const script = join(dir, 'agent.mts');
  const processModule = fileURLToPath(new URL('../workers/executor/process.ts', import.meta.url));
  const launcherModule = fileURLToPath(new URL('../workers/executor/launcher.ts', import.meta.url));
  // Runs one step, says its launcher's pid, and then has nothing left to do: it must exit by itself.
  writeFileSync(script, [
    `import { runProcess } from ${JSON.stringify(processModule)};`,
    `import { processLauncher } from ${JSON.stringify(launcherModule)};`,
    `const outcome = await runProcess('true', [], { cwd: ${JSON.stringify(dir)}, env: { PATH: process.env.PATH }, onLine: () => {} });`,
    'console.log(JSON.stringify({ code: outcome.exitCode, launcher: processLauncher.helperPid }));',
  ].join('\n'));
  const child = trackChild(spawn(process.execPath, ['--import=tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  child.stderr!.on('data', (chunk) => (err += chunk));
  const { code } = await exitOf(child);
  t.is(code, 0, `the agent exited by itself: ${err}`);
  const said = JSON.parse(out) as { code: number; launcher: number };
  t.is(said.code, 0);
  t.true(said.launcher > 0);
  await waitFor(() => !isProcessAlive(said.launcher), 30_000, { what: 'the launcher to exit with its agent' });
  t.pass();
});
