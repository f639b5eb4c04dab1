import test from 'ava';
import { cleanup, makeBareRepo, setupTemplate, startForge, startRedis, startTask, waitFor } from './helpers/index.js';

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

test('POST /tasks on one replica sees a runner registered on another in its waiting reason', async (t) => {
  const redis = await startRedis();
  const env = { ...remote, FORGE_REDIS_URL: redis.url, FORGE_ACCESS_KEY_ENCRYPTION: 'shared-key-for-both-replicas' };
  const [a, b] = await Promise.all([startForge({ env }), startForge({ env, login: false })]);
  await b.api.login('admin', 'admin-password-123');
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
