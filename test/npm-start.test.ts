/**
 * `npm start` as a process manager runs it: npm passes SIGTERM on to its script's shell, so the
 * script must hand that shell over to Forge (exec) or Forge never hears it and runs on, orphaned,
 * with its embedded redis-server and the port.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, ensureBuilt, exitOf, forgeDirs, forgeEnv, isProcessAlive, onCleanup, projectRoot, trackChild, trackPid, waitFor } from './helpers/index.js';

test.after.always(cleanup);

/** The pids of a process's direct children (Linux). */
const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

test('SIGTERM to the shell of `npm start` stops Forge gracefully, its embedded redis-server with it', async (t) => {
  await ensureBuilt();
  const start = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const install = 'bash infra/bootstrap.sh && ';
  t.true(start.startsWith(install), `the start script installs first: ${start}`);
  // The install step ran before the suite; the rest of the script runs as npm runs it: sh -c.
  const shell = trackChild(spawn('sh', ['-c', `true && ${start.slice(install.length)}`], { cwd: projectRoot, env: forgeEnv(forgeDirs()), stdio: ['ignore', 'pipe', 'pipe'] }));
  const exited = exitOf(shell);
  let log = '';
  shell.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  shell.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const url = await waitFor(() => /Forge is listening \{"url":"([^"]+)"/.exec(log)?.[1], 60_000, { what: 'Forge to listen' });
  const redisPid = Number(/embedded redis-server started .*"pid":(\d+)/.exec(log)![1]);
  trackPid(redisPid);
  // A Forge left running under the shell (a script that does not hand over) is ended here, and its
  // copies of our pipes with it, so a failure does not keep the test process waiting.
  const underShell = childrenOf(shell.pid!);
  onCleanup(() => {
    for (const pid of underShell) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    shell.stdout!.destroy();
    shell.stderr!.destroy();
  });
  t.is(await (await fetch(`${url}/api/ping`)).text(), 'pong');

  shell.kill('SIGTERM');
  const exit = await exited;
  t.deepEqual(exit, { code: 0, signal: null }, `Forge itself heard the SIGTERM and exited cleanly; its log:\n${log}`);
  t.regex(log, /SIGTERM: stopping Forge/);
  await waitFor(() => !isProcessAlive(redisPid), 15_000, { what: 'the embedded redis-server to stop' });
  await t.throwsAsync(fetch(`${url}/api/ping`), undefined, 'nothing answers on the port any more');
});
