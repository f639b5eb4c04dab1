import test from 'ava';
import { ApiClient, cleanup, makeBareRepo, setupTemplate, startForge, startRedis, startTask, waitFor } from './helpers/index.js';

test.after.always(cleanup);

const remote = { FORGE_USE_REMOTE_RUNNER: 'True' };

test('POST /tasks: a logged-out session and a deleted API token are refused at once', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo hi\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const path = `/api/project/${setup.projectId}/tasks`;
  const body = { template_id: setup.templateId };

  const session = forge.api.anonymous();
  await session.login('admin', 'admin-password-123');
  t.is((await session.post(path, body)).status, 201);
  t.is((await session.post('/api/auth/logout', {})).status, 204);
  // The client still sends the same cookie: refused on the very next request.
  const replayed = await session.post(path, body);
  t.is(replayed.status, 401);
  t.regex(replayed.body.error, /not logged in/);

  const { id: token } = await forge.api.json('POST', '/api/user/tokens', {});
  const bearer = forge.api.withToken(token);
  const created = await bearer.post(path, body);
  t.is(created.status, 201);
  t.is(created.body.status, 'waiting');
  t.is((await forge.api.delete(`/api/user/tokens/${token}`)).status, 204);
  t.is((await bearer.post(path, body)).status, 401);
});

/** Two servers on one Redis (remote runners, one encryption key), both logged in as the admin. */
async function twoReplicas() {
  const redis = await startRedis();
  const env = { ...remote, FORGE_REDIS_URL: redis.url, FORGE_ACCESS_KEY_ENCRYPTION: 'shared-key-for-both-replicas' };
  const [a, b] = await Promise.all([startForge({ env }), startForge({ env, login: false })]);
  await b.api.login('admin', 'admin-password-123');
  return [a, b] as const;
}

test('two replicas: a session logged out, an API token deleted, a user demoted or deleted on one are refused by the other at once, though it just accepted them', async (t) => {
  // Each server keeps credentials that resolved (services/store/users.ts): this is what may not go stale.
  const [a, b] = await twoReplicas();
  const repo = await makeBareRepo({ 'run.sh': 'echo hi\n' });
  const setup = await setupTemplate(a.api, { gitUrl: repo.path });
  const path = `/api/project/${setup.projectId}/tasks`;
  const body = { template_id: setup.templateId };

  const onA = await a.api.anonymous().login('admin', 'admin-password-123');
  const sameSessionOnB = new ApiClient(b.url, { cookie: onA.sessionCookie });
  t.is((await onA.post(path, body)).status, 201);
  t.is((await sameSessionOnB.post('/api/auth/logout', {})).status, 204);
  t.is((await onA.post(path, body)).status, 401, 'the session logged out on B still worked on A');

  const { id: token } = await a.api.json('POST', '/api/user/tokens', {});
  t.is((await a.api.withToken(token).post(path, body)).status, 201);
  t.is((await b.api.delete(`/api/user/tokens/${token}`)).status, 204);
  t.is((await a.api.withToken(token).post(path, body)).status, 401, 'the token deleted on B still worked on A');

  // A second admin, used on A, then demoted on B: A's next admin-only request is refused.
  const other = await a.api.json('POST', '/api/users', { username: 'ops2', name: 'ops2', email: 'ops2@example.test', password: 'ops2-password-1', admin: true });
  const asOther = await a.api.anonymous().login('ops2', 'ops2-password-1');
  t.is((await asOther.get('/api/runner_tags')).status, 200);
  t.is((await b.api.put(`/api/users/${other.id}`, { username: 'ops2', name: 'ops2', email: 'ops2@example.test', admin: false })).status, 204);
  t.is((await asOther.get('/api/runner_tags')).status, 403, 'the admin demoted on B was still an admin on A');
  t.is((await b.api.delete(`/api/users/${other.id}`)).status, 204);
  t.is((await asOther.get('/api/user')).status, 401, 'the user deleted on B still worked on A');
});

test('POST /tasks on one replica sees a runner registered on another in its waiting reason', async (t) => {
  const [a, b] = await twoReplicas();
  const repo = await makeBareRepo({ 'run.sh': 'echo hi\n' });
  const setup = await setupTemplate(b.api, { gitUrl: repo.path, template: { runner_tag: 'db' } });
  // B reads (and keeps) the runner records while there are none.
  t.regex((await startTask(b.api, setup.projectId, setup.templateId)).waiting_reason, /no runner has tag "db"/);
  await a.api.json('POST', '/api/runners', { name: 'db-runner', tags: ['db'] }); // registered on A, never started
  // A's runner event reaches B by pub/sub: B's next tasks say the runner is offline, not missing.
  const reason = await waitFor(async () => {
    const task = await startTask(b.api, setup.projectId, setup.templateId);
    return /no online runner has tag "db"/.test(task.waiting_reason) ? task.waiting_reason : undefined;
  }, 20_000);
  t.regex(reason, /no online runner/);
});
