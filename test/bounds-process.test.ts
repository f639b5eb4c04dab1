/**
 * Process-level bounds (#12): a server whose stdout/stderr go away keeps serving and, on SIGTERM
 * or SIGHUP, still stops its embedded redis-server; a stop with Redis unreachable ends after
 * stop_timeout_sec; runner commands warn plainly when web_host is plain HTTP to another machine.
 */
import test from 'ava';
import { join } from 'node:path';
import { cleanup, isProcessAlive, makeBareRepo, runForgeCli, runTask, setupTemplate, startForge, tempDir, waitFor } from './helpers/index.js';

test.after.always(cleanup);

for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  test(`a server whose stdout and stderr close keeps serving, and on ${signal} stops its embedded redis-server`, async (t) => {
    const forge = await startForge();
    const redisPid = forge.redisPid!;
    t.true(isProcessAlive(redisPid));
    // The terminal or log reader goes away: every later write of the server hits a closed pipe.
    forge.process.stdout!.destroy();
    forge.process.stderr!.destroy();
    const repo = await makeBareRepo({ 'run.sh': 'echo still working\n' });
    const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
    const task = await runTask(forge.api, setup); // the server logs task start and end meanwhile
    t.is(task.status, 'success');
    t.is(await (await fetch(`${forge.url}/api/ping`)).text(), 'pong');
    t.true(isProcessAlive(forge.process.pid!), 'the server survived writing to closed pipes');

    forge.process.kill(signal);
    const exit = await forge.exited;
    t.is(exit.code, 0, `the server exited cleanly (${exit.code ?? exit.signal})`);
    await waitFor(() => !isProcessAlive(redisPid), 15_000, { what: 'the embedded redis-server to stop' });
    t.pass();
  });
}

test('a stop does not wait for an unreachable Redis: past stop_timeout_sec the server exits and its embedded redis-server is ended', async (t) => {
  const forge = await startForge({ env: { FORGE_STOP_TIMEOUT_SEC: '2' } });
  const redisPid = forge.redisPid!;
  // Redis takes no more commands (as one that is down or cut off): every queue and connection
  // waits on it while closing. SIGTERM to it stays pending too.
  process.kill(redisPid, 'SIGSTOP');
  t.teardown(() => {
    if (isProcessAlive(redisPid)) process.kill(redisPid, 'SIGKILL');
  });
  forge.process.kill('SIGTERM');
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void forge.exited.then((e) => (exit = e));
  const exited = await waitFor(() => exit, 60_000, { what: 'the server to exit although its Redis does not answer' });
  t.is(exited.code, 0, `the server exited by itself (${exited.code ?? exited.signal})`);
  t.regex(forge.logs(), /stopping took longer than stop_timeout_sec/);
  await waitFor(() => !isProcessAlive(redisPid), 30_000, { what: 'the stopped embedded redis-server to be killed' });
  t.pass();
});

test('runner setup, register and start warn when web_host is plain HTTP to another machine, not for loopback or HTTPS', async (t) => {
  const dir = tempDir();
  const warning = /plain HTTP to another machine.*https:\/\//s;
  // oclif wraps warnings to the terminal width with a " ›" margin.
  const unwrapped = (text: string) => text.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ');
  const setup = (webHost: string, name: string) =>
    runForgeCli(['runner', 'setup', '--config', join(dir, `${name}.json`), '--non-interactive', '--web-host', webHost, '--token', 'some-token']);

  const remote = await setup('http://forge.invalid:3000', 'remote');
  t.is(remote.code, 0, remote.stderr);
  t.regex(unwrapped(remote.stderr), warning);
  for (const [webHost, name] of [['http://127.0.0.1:3000', 'loop4'], ['http://localhost:3000', 'loopname'], ['http://[::1]:3000', 'loop6'], ['https://forge.invalid', 'tls']]) {
    const quiet = await setup(webHost!, name!);
    t.is(quiet.code, 0, quiet.stderr);
    t.notRegex(quiet.stderr + quiet.stdout, /plain HTTP/, webHost);
  }

  const start = await runForgeCli(['runner', 'start', '--config', join(dir, 'remote.json')], { timeoutMs: 60_000 });
  t.not(start.code, 0);
  t.regex(unwrapped(start.stderr), warning);
  const register = await runForgeCli(['runner', 'register', '--config', join(dir, 'remote.json')], { input: 'registration-token\n', timeoutMs: 60_000 });
  t.not(register.code, 0);
  t.regex(unwrapped(register.stderr), warning);
});
