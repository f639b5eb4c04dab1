/**
 * The process launcher (workers/executor/launcher.ts, launcher.py): a runner's task processes are
 * started by a small Python process, so the agent itself never forks. Output, exit codes and spawn
 * errors come back as from a direct spawn; a launcher that dies ends what it was running and is
 * replaced; a launcher never outlives its agent, nor keeps it running; without python3 the agent
 * starts its processes itself. (The sandboxed steps of isolation-*.test.ts go through it too.)
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processLauncher } from '../workers/executor/launcher.js';
import { runProcess, type ProcessOutcome } from '../workers/executor/process.js';
import { prepareSandbox } from '../workers/executor/sandbox.js';
import { cleanup, exitOf, isProcessAlive, tempDir, trackChild, waitFor } from './helpers/index.js';
import { processesWith, uniqueMarker } from './helpers/sandbox.js';

test.after.always(cleanup);

async function run(script: string, onLine?: (line: string) => void): Promise<ProcessOutcome & { lines: string[] }> {
  const lines: string[] = [];
  const outcome = await runProcess('sh', ['-c', script], { cwd: tempDir('forge-launcher-'), env: { PATH: process.env.PATH }, onLine: (line) => void (lines.push(line), onLine?.(line)) });
  return { ...outcome, lines };
}

test.serial('a step runs in the launcher, not in the agent process; its output, exit code and spawn errors come back', async (t) => {
  const lines: string[] = [];
  const step = await run('echo "parent $PPID"; echo to-stderr >&2; exit 7');
  t.is(step.exitCode, 7);
  t.true(step.lines.includes('to-stderr'));
  const parent = Number(step.lines.find((line) => line.startsWith('parent '))?.split(' ')[1]);
  t.is(parent, processLauncher.helperPid ?? -1, 'the step is the launcher\'s child');
  t.not(parent, process.pid);

  // As Node's spawn leaves it: no signal ignored (Python ignores SIGPIPE), a session of its own, its
  // working folder and nothing on stdin.
  const cwd = tempDir('forge-launcher-');
  const state = await runProcess('sh', ['-c', 'sed -n "s/^SigIgn:\\t//p" /proc/$$/status; echo $$ $(cut -d" " -f6 /proc/$$/stat); pwd; cat; echo end'], { cwd, env: { PATH: process.env.PATH }, onLine: (line) => void lines.push(line) });
  t.is(state.exitCode, 0);
  const [pid, session] = lines[1]!.split(' ');
  t.is(session, pid, 'the step leads its own session');
  t.deepEqual([lines[0], lines[2], lines[3]], ['0000000000000000', cwd, 'end']);

  // A step that writes nothing at all still ends (its pipes reach their end before anyone reads them).
  const quiet = await run('true');
  t.deepEqual([quiet.exitCode, quiet.lines], [0, []]);

  const missing = await runProcess('forge-no-such-command', [], { cwd: tempDir('forge-launcher-'), env: { PATH: process.env.PATH }, onLine: () => {} });
  t.is(missing.exitCode, null);
  t.regex(missing.spawnError ?? '', /forge-no-such-command is not installed on this machine/);
});

test.serial('stdout and stderr reach the log in the order the step wrote them, as on a terminal', async (t) => {
  // Two pipes read side by side would hand these over in batches, one stream's lines before the other's.
  const step = await run('i=0; while [ $i -lt 300 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done');
  t.is(step.exitCode, 0);
  const expected = Array.from({ length: 300 }, (_, i) => [`out ${i}`, `err ${i}`]).flat();
  t.deepEqual(step.lines, expected);
});

test.serial('a step run as another user (root only) has that user\'s ids and no supplementary groups', async (t) => {
  const lines: string[] = [];
  const nobody = { name: 'nobody', uid: 65534, gid: 65534 };
  const step = await runProcess('sh', ['-c', 'id -u; id -G'], { cwd: '/', env: { PATH: process.env.PATH }, onLine: (line) => void lines.push(line), sandbox: { settings: { mode: 'none', hidden: [], user: nobody }, mounts: [] } });
  if (process.getuid?.() === 0) {
    t.is(step.exitCode, 0);
    t.deepEqual(lines, ['65534', '65534']);
  } else {
    t.regex(step.spawnError ?? '', /EPERM/, 'only root may start a process as another user');
  }
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

test.serial('a launcher that dies ends a sandboxed step it ran: bwrap and every process in its sandbox', async (t) => {
  const marker = `300.${uniqueMarker()}`;
  const settings = prepareSandbox({ mode: 'bwrap', taskUser: process.getuid?.() === 0 ? 'forge-task' : '', hidden: [], tmpPath: tempDir('forge-launcher-') });
  const lines: string[] = [];
  const step = runProcess('sh', ['-c', `echo started; exec sleep ${marker}`], {
    cwd: '/', env: { PATH: process.env.PATH }, onLine: (line) => void lines.push(line), sandbox: { settings, mounts: [] },
  });
  // bwrap, its init and the step's sleep, all named by the marker on their command lines.
  await waitFor(() => lines.includes('started') && processesWith(marker).length >= 3, 30_000, { what: 'the sandboxed step to start' });
  process.kill(processLauncher.helperPid!, 'SIGKILL');
  const ended = await step;
  t.is(ended.exitCode, null, 'no exit status: the launcher was lost');
  await waitFor(() => processesWith(marker).length === 0, 30_000, { what: 'every process of the sandboxed step to be ended' });
  t.deepEqual(processesWith(marker), []);
});

/**
 * Runs one step in a separate agent process (`env` is its environment) that has nothing else to
 * do: it must exit by itself. Answers what it said: the step's exit code and first line, and the
 * launcher's pid.
 */
async function agentProcess(t: ExecutionContext, env: NodeJS.ProcessEnv): Promise<{ code: number; line: string; launcher?: number; agent: number; stderr: string }> {
  const dir = tempDir('forge-launcher-agent-');
  const script = join(dir, 'agent.mts');
  const processModule = fileURLToPath(new URL('../workers/executor/process.ts', import.meta.url));
  const launcherModule = fileURLToPath(new URL('../workers/executor/launcher.ts', import.meta.url));
  writeFileSync(script, [
    `import { runProcess } from ${JSON.stringify(processModule)};`,
    `import { processLauncher } from ${JSON.stringify(launcherModule)};`,
    'const lines = [];',
    `const outcome = await runProcess('sh', ['-c', 'echo "parent $PPID"'], { cwd: ${JSON.stringify(dir)}, env: { PATH: process.env.PATH }, onLine: (line) => void lines.push(line) });`,
    'console.log(JSON.stringify({ code: outcome.exitCode, line: lines[0], launcher: processLauncher.helperPid, agent: process.pid }));',
  ].join('\n'));
  const child = trackChild(spawn(process.execPath, ['--import=tsx', script], { stdio: ['ignore', 'pipe', 'pipe'], env }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  child.stderr!.on('data', (chunk) => (err += chunk));
  const { code } = await exitOf(child);
  t.is(code, 0, `the agent exited by itself: ${err}`);
  return { ...JSON.parse(out), stderr: err };
}

test.serial('the launcher neither keeps its agent running nor outlives it', async (t) => {
  const said = await agentProcess(t, process.env);
  t.is(said.code, 0);
  t.is(said.line, `parent ${said.launcher}`);
  t.true(said.launcher! > 0);
  await waitFor(() => !isProcessAlive(said.launcher!), 30_000, { what: 'the launcher to exit with its agent' });
  t.pass();
});

test.serial('without python3 on PATH, or with FORGE_LAUNCHER=direct, the agent starts its processes itself', async (t) => {
  // A PATH with sh and node but no python3: the launcher cannot start.
  const bin = tempDir('forge-launcher-bin-');
  symlinkSync('/bin/sh', join(bin, 'sh'));
  symlinkSync(process.execPath, join(bin, 'node'));
  const noPython = await agentProcess(t, { ...process.env, PATH: bin });
  t.is(noPython.code, 0);
  t.is(noPython.line, `parent ${noPython.agent}`, 'the step is the agent\'s own child');
  t.is(noPython.launcher, undefined);
  t.regex(noPython.stderr, /needs python3 3\.9 or later on PATH/);

  const direct = await agentProcess(t, { ...process.env, FORGE_LAUNCHER: 'direct' });
  t.is(direct.line, `parent ${direct.agent}`);
  t.is(direct.launcher, undefined);
});
