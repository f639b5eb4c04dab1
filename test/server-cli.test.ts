/**
 * The CLI around the server: config validation stops `forge server` with a message naming the
 * bad setting; `forge user add` and `forge token create` write straight into the server's Redis,
 * both with the server stopped (they start the embedded redis for the command) and running
 * (they adopt its redis), and what they create works over the API.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient, cleanup, forgeDirs, forgeEnv, runForgeCli, startForge, tempDir } from './helpers/index.js';

test.after.always(cleanup);

const badConfigs: Array<{ what: string; env?: Record<string, string>; file?: unknown; names: RegExp }> = [
  { what: 'FORGE_PORT=notanumber', env: { FORGE_PORT: 'notanumber' }, names: /port/ },
  { what: 'FORGE_USE_REMOTE_RUNNER=maybe', env: { FORGE_USE_REMOTE_RUNNER: 'maybe' }, names: /use_remote_runner/ },
  // Out of range says the range, not that the number is not a whole number.
  { what: 'FORGE_RUNNER_LEASE_SEC=61', env: { FORGE_RUNNER_LEASE_SEC: '61' }, names: /runner_lease_sec[\s\S]*at\s+most\s+60/ },
  { what: 'an unknown key and a wrong type in the config file', file: { prot: 8080, max_parallel_tasks: 'four' }, names: /prot[\s\S]*max_parallel_tasks|max_parallel_tasks[\s\S]*prot/ },
];

for (const bad of badConfigs) {
  test(`forge server refuses ${bad.what}, naming the setting`, async (t) => {
    const dirs = forgeDirs();
    const args = ['server'];
    if (bad.file) {
      const file = join(tempDir(), 'config.json');
      writeFileSync(file, JSON.stringify(bad.file));
      args.push('--config', file);
    }
    const result = await runForgeCli(args, { env: forgeEnv(dirs, bad.env), timeoutMs: 30_000 });
    t.not(result.code, 0, `exited ${result.code}: ${result.stdout}${result.stderr}`);
    t.is(result.signal, null, 'it exits by itself rather than hanging until the timeout');
    const message = result.stdout + result.stderr;
    t.regex(message, bad.names, message);
    t.false(/is running at/.test(message), 'the server did not start');
  });
}

test('forge user add and forge token create work with the server stopped and running', async (t) => {
  const dirs = forgeDirs();
  const env = forgeEnv(dirs);

  // Server not running: the command starts the embedded redis for its own duration.
  const added = await runForgeCli(['user', 'add', '--login', 'ops', '--password', 'ops-password-1', '--admin'], { env });
  t.is(added.code, 0, added.stdout + added.stderr);
  t.regex(added.stdout, /user "ops" added \(id \d+, admin\)/);

  const forge = await startForge({ dirs });
  const ops = await new ApiClient(forge.url).login('ops', 'ops-password-1');
  const me = await ops.json('GET', '/api/user');
  t.is(me.username, 'ops');
  t.true(me.admin);
  t.is((await ops.get('/api/users')).status, 200, 'an --admin user may list users');

  // Server running: the commands adopt its redis.
  const plain = await forge.cli(['user', 'add', '--login', 'x', '--password', 'x-password-123', '--email', 'x@example.com']);
  t.is(plain.code, 0, plain.stdout + plain.stderr);
  const x = await new ApiClient(forge.url).login('x', 'x-password-123');
  t.false((await x.json('GET', '/api/user')).admin);
  t.is((await x.post('/api/users', { username: 'y', password: 'y-password-123' })).status, 403, 'a user added without --admin is not an admin');
  await new ApiClient(forge.url).login('x@example.com', 'x-password-123'); // login by e-mail too

  const token = await forge.cli(['token', 'create', '--login', 'x']);
  t.is(token.code, 0, token.stdout + token.stderr);
  const bearer = token.stdout.trim();
  t.regex(bearer, /^\S{20,}$/, 'the token is printed alone on stdout');
  const viaToken = forge.api.withToken(bearer);
  t.is((await viaToken.json('GET', '/api/user')).username, 'x');
  t.is((await viaToken.post('/api/projects', { name: 'made with a CLI token' })).status, 201);

  // Refusals are clear and change nothing.
  const duplicate = await forge.cli(['user', 'add', '--login', 'X', '--password', 'another-password']);
  t.not(duplicate.code, 0);
  t.regex(duplicate.stderr, /exists already/);
  const nobody = await forge.cli(['token', 'create', '--login', 'nobody']);
  t.not(nobody.code, 0);
  t.regex(nobody.stderr, /no user with login "nobody"/);
  t.is((await forge.api.json('GET', '/api/users')).length, 3, 'admin, ops and x');
});
