import test from 'ava';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'jsonc-parser';
import { cleanup, FINAL, makeBareRepo, setupTemplate, startForge, startTask, tempDir, waitForTask, type Forge } from './helpers/index.js';
import { startRunner } from './helpers/runner.js';

test.after.always(cleanup);

const REGISTRATION_TOKEN = 'registration-token-for-tests-0123456789';
const readConfig = (path: string) => parse(readFileSync(path, 'utf8')) as { web_host: string; tmp_path: string; runner: Record<string, any> };

let forge: Forge;
test.before(async () => {
  // Loopback is a trusted proxy here, so the rate-limit test can spend the limit of another address (X-Forwarded-For).
  forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_RUNNER_REGISTRATION_TOKEN: REGISTRATION_TOKEN, FORGE_TRUSTED_PROXIES: 'loopback' } });
});

const hello = (token: string) => fetch(`${forge.url}/api/internal/runners/heartbeat`, {
  method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': token }, body: JSON.stringify({ active: [] }),
});

test('setup non-interactively writes the seed\'s config file from flags', async (t) => {
  const path = join(tempDir(), 'runner.json');
  const result = await forge.cli(['runner', 'setup', '--config', path, '--non-interactive', '--web-host', forge.url, '--name', 'ci-1', '--tags', 'linux,gpu', '--max-parallel-tasks', '3', '--webhook', 'http://127.0.0.1:9/hook', '--one-off']);
  t.is(result.code, 0, result.stderr);
  const config = readConfig(path);
  t.is(config.web_host, forge.url);
  t.is(config.tmp_path, '/tmp/forge');
  t.deepEqual(config.runner.tags, ['linux', 'gpu']);
  t.is(config.runner.max_parallel_tasks, 3);
  t.is(config.runner.name, 'ci-1');
  t.is(config.runner.one_off, true);
  t.is(config.runner.webhook, 'http://127.0.0.1:9/hook');
  t.regex(result.stdout, /forge runner register --config/);
  // Refuses to clobber an existing file without --force.
  const again = await forge.cli(['runner', 'setup', '--config', path, '--non-interactive', '--web-host', forge.url]);
  t.not(again.code, 0);
  t.regex(again.stderr, /exists already/);
  // Bad answers are named and nothing is written.
  const badPath = join(tempDir(), 'bad.json');
  const bad = await forge.cli(['runner', 'setup', '--config', badPath, '--non-interactive', '--web-host', 'not a url']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /web_host/);
  t.false(existsSync(badPath));
});

test('setup interactively: answers fed to the prompts; then register from the prompt; start runs a task', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'runner.json');
  const answers = [forge.url, 'n', '', join(dir, 'keys', 'runner.key'), 'asked-runner', 'linux', '2'].join('\n') + '\n';
  const result = await forge.cli(['runner', 'setup', '--config', path], { input: answers });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /Forge server address/);
  t.regex(result.stdout, /Do you have a runner token/);
  const config = readConfig(path);
  t.is(config.web_host, forge.url);
  t.is(config.runner.name, 'asked-runner');
  t.deepEqual(config.runner.tags, ['linux']);
  t.is(config.runner.max_parallel_tasks, 2);
  t.is(config.runner.token, '');

  const registered = await forge.cli(['runner', 'register', '--config', path], { input: `${REGISTRATION_TOKEN}\n`, env: { FORGE_RUNNER_REGISTRATION_TOKEN: '' } });
  t.is(registered.code, 0, registered.stderr);
  t.regex(registered.stdout, /Registration token/);
  const token = readConfig(path).runner.token as string;
  t.true(token.length > 20);
  t.is((statSync(join(dir, 'keys', 'runner.key')).mode & 0o777), 0o600);
  const [view] = (await forge.api.json('GET', '/api/runners')).filter((r: any) => r.name === 'asked-runner');
  t.deepEqual(view.tags, ['linux']);
  t.truthy(view.public_key);
  t.false(JSON.stringify(view).includes(token));
  // The public key on the server is the one in the runner's key file; the private half never left.
  const keyFile = JSON.parse(readFileSync(join(dir, 'keys', 'runner.key'), 'utf8'));
  t.is(view.public_key, keyFile.public_key);

  const repo = await makeBareRepo({ 'run.sh': 'echo ran\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, template: { runner_tag: 'linux' } });
  const runner = await startRunner(forge, { token, name: 'asked-runner', runnerConfig: { private_key_file: join(dir, 'keys', 'runner.key') } });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  t.is((await waitForTask(forge.api, setup.projectId, task.id, FINAL, 20_000)).status, 'success');
  await runner.stop('SIGKILL');
});

test('register from stdin; registering again replaces the token; a wrong registration token is refused', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'runner.json');
  writeFileSync(path, `{
  "tmp_path": "${join(dir, 'work')}",
  "web_host": "${forge.url}",
  // Runner specific options
  "runner": {
    "token": "",
    "name": "stdin-runner",
    "tags": ["arm"]
  }
}
`);
  const first = await forge.cli(['runner', 'register', '--stdin-registration-token', '--config', path], { input: REGISTRATION_TOKEN });
  t.is(first.code, 0, first.stderr);
  const text = readFileSync(path, 'utf8');
  t.true(text.includes('// Runner specific options'), 'the user\'s comments are kept');
  const firstToken = readConfig(path).runner.token as string;
  t.is((await hello(firstToken)).status, 200);

  const second = await forge.cli(['runner', 'register', '--stdin-registration-token', '--config', path], { input: REGISTRATION_TOKEN });
  t.is(second.code, 0, second.stderr);
  const secondToken = readConfig(path).runner.token as string;
  t.not(secondToken, firstToken);
  t.is((await hello(secondToken)).status, 200);
  t.is((await hello(firstToken)).status, 401);
  t.is((await forge.api.json('GET', '/api/runners')).filter((r: any) => r.name === 'stdin-runner').length, 1);

  const wrong = await forge.cli(['runner', 'register', '--stdin-registration-token', '--config', path], { input: 'wrong-token' });
  t.not(wrong.code, 0);
  t.regex(wrong.stderr, /wrong registration token/);
  t.is(readConfig(path).runner.token, secondToken, 'a failed registration keeps the token');
});

test('token_file: register writes the token there; unregister removes it and the token stops working', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'runner.json');
  const setup = await forge.cli(['runner', 'setup', '--config', path, '--non-interactive', '--web-host', forge.url, '--token-file', join(dir, 'token'), '--name', 'file-runner']);
  t.is(setup.code, 0, setup.stderr);
  const reg = await forge.cli(['runner', 'register', '--stdin-registration-token', '--config', path], { input: REGISTRATION_TOKEN });
  t.is(reg.code, 0, reg.stderr);
  const token = readFileSync(join(dir, 'token'), 'utf8').trim();
  t.true(token.length > 20);
  t.is(readConfig(path).runner.token, undefined);
  t.is((await hello(token)).status, 200);

  const un = await forge.cli(['runner', 'unregister', '--config', path]);
  t.is(un.code, 0, un.stderr);
  t.is(readFileSync(join(dir, 'token'), 'utf8').trim(), '');
  t.is((await hello(token)).status, 401);
  t.is((await forge.api.json('GET', '/api/runners')).filter((r: any) => r.name === 'file-runner').length, 0);
});

test('unregister after the runner was deleted through the API still clears the local token', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'runner.json');
  await forge.cli(['runner', 'setup', '--config', path, '--non-interactive', '--web-host', forge.url, '--name', 'api-deleted']);
  await forge.cli(['runner', 'register', '--stdin-registration-token', '--config', path], { input: REGISTRATION_TOKEN });
  const token = readConfig(path).runner.token as string;
  const [view] = (await forge.api.json('GET', '/api/runners')).filter((r: any) => r.name === 'api-deleted');
  await forge.api.json('DELETE', `/api/runners/${view.id}`);
  t.is((await hello(token)).status, 401);
  const un = await forge.cli(['runner', 'unregister', '--config', path]);
  t.is(un.code, 0, un.stderr);
  t.regex(un.stdout, /already deleted/);
  t.is(readConfig(path).runner.token, undefined);
});

test('a runner added through the API starts with its token and uploads its public key on first contact', async (t) => {
  const created = await forge.api.json('POST', '/api/runners', { name: 'ui-runner', tags: ['x'], max_parallel_tasks: 2 });
  t.truthy(created.token);
  t.is(created.public_key, '');
  const listed = await forge.api.json('GET', `/api/runners/${created.id}`);
  t.is(listed.token, undefined, 'the token is shown once only');
  const runner = await startRunner(forge, { token: created.token, name: 'ui-runner' });
  const after = await forge.api.json('GET', `/api/runners/${created.id}`);
  const keyFile = JSON.parse(readFileSync(join(runner.dir, 'runner.key'), 'utf8'));
  t.is(after.public_key, keyFile.public_key);
  t.is(after.status, 'online');
  t.true(after.capabilities.includes('bash'));
  t.is(after.version.length > 0, true);
  await runner.stop('SIGKILL');
});

test('registration is rate limited', async (t) => {
  let limited = 0;
  for (let i = 0; i < 25; i++) {
    const answer = await fetch(`${forge.url}/api/internal/runners`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.0.0.1' },
      body: JSON.stringify({ registration_token: 'guess-' + i, public_key: Buffer.alloc(32).toString('base64') }),
    });
    if (answer.status === 429) limited++;
    else t.is(answer.status, 401);
  }
  t.true(limited > 0, 'some attempts were refused with 429');
});
