/**
 * POST …/runners/{id}/registration-token (Semaphore's operation, in Forge's terms): a new one-time
 * registration token for that runner; its old token stops working at once, and a real runner
 * process registers with the new one through `forge runner register` (as seed-runners.md
 * describes), keeps its record (id, project, tags), and runs tasks. The token works once.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parse } from 'jsonc-parser';
import { cleanup, makeBareRepo, runTask, setupTemplate, startForge, tempDir } from './helpers/index.js';
import { spawnRunner, startRunner } from './helpers/runner.js';

test.after.always(cleanup);

/** Every string, hash, list, set and sorted set value in a Redis, as one text. */
async function everythingInRedis(socket: string): Promise<string> {
  const redis = new Redis({ path: socket });
  try {
    const parts: string[] = [];
    for (const key of await redis.keys('*')) {
      const type = await redis.type(key);
      if (type === 'string') parts.push(String(await redis.get(key)));
      else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') parts.push(...(await redis.lrange(key, 0, -1)));
      else if (type === 'set') parts.push(...(await redis.smembers(key)));
      else if (type === 'zset') parts.push(...(await redis.zrange(key, '0', '-1')));
    }
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

test('a runner re-registers with its one-time registration token and runs tasks; the old token and a reused one are refused', async (t) => {
  // No server-wide registration token: the one-time token alone must be enough.
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True' } });
  const api = forge.api;
  const setup = await setupTemplate(api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo "ran on a runner"\n' })).path, app: 'bash', playbook: 'run.sh' });
  const runners = `/api/project/${setup.projectId}/runners`;
  const heartbeat = (token: string) => fetch(`${forge.url}/api/internal/runners/heartbeat`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': token }, body: JSON.stringify({ active: [] }),
  });

  const first = await startRunner(forge, { projectId: setup.projectId, name: 'rotated', tags: ['linux'] });
  t.is((await runTask(api, setup, {}, 60_000)).runner_id, first.id);

  const issued = await api.post(`${runners}/${first.id}/registration-token`, {});
  t.is(issued.status, 200);
  t.like(issued.body, { runner_id: first.id, project_id: setup.projectId });
  const registrationToken = issued.body.registration_token as string;
  t.true(registrationToken.length >= 32);
  t.is((await heartbeat(first.token)).status, 401, 'the old token stops working at once');
  t.false((await api.json('GET', `${runners}/${first.id}`)).registered);
  await first.stop('SIGKILL');
  t.true((await api.json('GET', `/api/project/${setup.projectId}/events`)).some((e: { description: string }) => /rotated given a new registration token/.test(e.description)));

  // The runner's side, as seed-runners.md has it: a config file, then register with the token on stdin.
  const dir = tempDir();
  const configPath = join(dir, 'runner.json');
  writeFileSync(configPath, JSON.stringify({
    tmp_path: join(dir, 'work'), web_host: forge.url,
    runner: { token: first.token, private_key_file: join(dir, 'runner.key'), name: 'rotated', max_parallel_tasks: 1 },
  }, null, 2));
  const registered = await forge.cli(['runner', 'register', '--stdin-registration-token', '--config', configPath], { input: registrationToken });
  t.is(registered.code, 0, registered.stderr);
  t.regex(registered.stdout, new RegExp(`\\(id ${first.id}\\)`), 'the same runner record, not a new one');
  const newToken = (parse(readFileSync(configPath, 'utf8')) as { runner: { token: string } }).runner.token;
  t.not(newToken, first.token);
  const view = await api.json('GET', `${runners}/${first.id}`);
  t.like(view, { registered: true, name: 'rotated', project_id: setup.projectId, tags: ['linux'] });
  t.is((await api.json('GET', runners)).length, 1);

  // The re-registered runner process runs the project's tasks.
  const second = await spawnRunner(configPath, { inherit: forge.env });
  const task = await runTask(api, setup, {}, 60_000);
  t.is(task.status, 'success');
  t.is(task.runner_id, first.id);
  t.regex(second.logs(), new RegExp(`task started \\{"task_id":${task.id}`));

  // One time only.
  const reuse = await fetch(`${forge.url}/api/internal/runners`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ registration_token: registrationToken, name: 'x', public_key: Buffer.alloc(32, 7).toString('base64') }),
  });
  t.is(reuse.status, 403, 'a used one-time token is just an unknown token (and this server has no server-wide one)');
  t.is((await heartbeat(newToken)).status, 200);

  // Tokens are kept as hashes only: neither appears anywhere in Redis.
  const stored = await everythingInRedis(join(forge.dirs.data, 'redis', 'redis.sock'));
  t.true(stored.length > 1000, 'read the records');
  t.false(stored.includes(registrationToken), 'the registration token is not stored');
  t.false(stored.includes(newToken), 'the runner token is not stored');

  // A guest may not issue one.
  await api.json('POST', '/api/users', { username: 'guest2', password: 'guest-password-2' });
  const guestId = (await api.json('GET', '/api/users')).find((u: { username: string }) => u.username === 'guest2').id;
  await api.json('POST', `/api/project/${setup.projectId}/users`, { user_id: guestId, role: 'guest' });
  const guest = await api.anonymous().login('guest2', 'guest-password-2');
  t.is((await guest.post(`${runners}/${first.id}/registration-token`, {})).status, 403);
});
