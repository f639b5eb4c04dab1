/** Inbound webhooks: a GitHub-signed delivery starts a task with extracted values, a wrongly signed one is refused and recorded. */
import { createHmac } from 'node:crypto';
import test from 'ava';
import { cleanup, makeBareRepo, outputText, setupTemplate, startForge, waitForTask, type Task } from './helpers/index.js';

test.after.always(cleanup);

const SECRET = 'webhook-shared-secret';
const sign = (body: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

test('integrations: GitHub signatures, matchers, extracted values, token auth and the delivery log', async (t) => {
  const forge = await startForge();
  const api = forge.api;
  const repo = await makeBareRepo({ 'run.sh': 'echo "ref=$GIT_REF"\necho "vars=$FORGE_EXTRA_VARS"\n' });
  const setup = await setupTemplate(api, { gitUrl: repo.path });
  const base = `/api/project/${setup.projectId}/integrations`;
  const key = await api.json('POST', `/api/project/${setup.projectId}/keys`, { name: 'hook secret', type: 'login_password', login_password: { login: 'hook', password: SECRET } });

  const missing = await api.post(base, { name: 'gh', template_id: setup.templateId, auth_method: 'github' });
  t.is(missing.status, 400);
  t.regex(missing.body.error, /^auth_secret_id: /);

  const integration = await api.json('POST', base, { name: 'GitHub push', template_id: setup.templateId, auth_method: 'github', auth_secret_id: key.id });
  await api.json('POST', `${base}/${integration.id}/matchers`, { name: 'push only', match_type: 'header', method: 'equals', key: 'X-GitHub-Event', value: 'push' });
  await api.json('POST', `${base}/${integration.id}/matchers`, { name: 'branches', match_type: 'body', method: 'contains', body_data_type: 'json', key: 'ref', value: 'refs/heads/' });
  await api.json('POST', `${base}/${integration.id}/values`, { name: 'ref', value_source: 'body', body_data_type: 'json', key: 'ref', variable: 'GIT_REF', variable_type: 'environment' });
  await api.json('POST', `${base}/${integration.id}/values`, { name: 'repo', value_source: 'body', body_data_type: 'json', key: 'repository.full_name', variable: 'repo_name', variable_type: 'task' });
  const alias = await api.json('POST', `${base}/${integration.id}/aliases`);
  t.regex(alias.url, /\/api\/integrations\/[\w-]{20,}$/);
  const hookUrl = `${forge.url}${new URL(alias.url).pathname}`;
  t.deepEqual((await api.json('GET', `${base}/${integration.id}/aliases`)).map((a: { id: number }) => a.id), [alias.id]);

  const body = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/site' } });
  const deliver = (headers: Record<string, string>, payload = body) => fetch(hookUrl, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: payload });

  const good = await deliver({ 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': sign(body) });
  t.is(good.status, 201);
  const { task_id } = (await good.json()) as { task_id: number };
  const task = await waitForTask(api, setup.projectId, task_id);
  const text = await outputText(api, setup.projectId, task_id);
  t.is(task.status, 'success', text);
  t.true(text.includes('ref=refs/heads/main'), text);
  t.true(text.includes('"repo_name":"acme/site"'), text);

  const forged = await deliver({ 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': sign(body, 'not-the-secret') });
  t.is(forged.status, 401);
  const unsigned = await deliver({ 'X-GitHub-Event': 'push' });
  t.is(unsigned.status, 401);
  const ping = JSON.stringify({ zen: 'hello' });
  const ignored = await deliver({ 'X-GitHub-Event': 'ping', 'X-Hub-Signature-256': sign(ping) }, ping);
  t.is(ignored.status, 200);
  t.is((await fetch(`${forge.url}/api/integrations/no-such-alias`, { method: 'POST', body: '{}' })).status, 404);

  const deliveries = await api.json('GET', `${base}/${integration.id}/deliveries`);
  t.deepEqual(deliveries.map((d: { status: string }) => d.status), ['rejected', 'rejected', 'rejected', 'accepted']);
  t.is(deliveries[3].task_id, task_id);
  t.regex(deliveries[0].reason, /matcher "push only" did not match/);
  t.regex(deliveries[1].reason, /missing X-Hub-Signature-256/);
  t.regex(deliveries[2].reason, /X-Hub-Signature-256 does not match/);
  const tasks = await api.json<Task[]>('GET', `/api/project/${setup.projectId}/tasks`);
  t.deepEqual(tasks.map((x) => x.id), [task_id], 'refused deliveries start nothing');

  // A token in a header (GitLab style), compared in constant time.
  const gitlab = await api.json('POST', base, { name: 'GitLab', template_id: setup.templateId, auth_method: 'token', auth_header: 'X-Gitlab-Token', auth_secret_id: key.id });
  const gitlabUrl = `${forge.url}${new URL((await api.json('POST', `${base}/${gitlab.id}/aliases`)).url).pathname}`;
  t.is((await fetch(gitlabUrl, { method: 'POST', headers: { 'X-Gitlab-Token': 'wrong' }, body: '{}' })).status, 401);
  const accepted = await fetch(gitlabUrl, { method: 'POST', headers: { 'X-Gitlab-Token': SECRET }, body: '{}' });
  t.is(accepted.status, 201);
  await waitForTask(api, setup.projectId, ((await accepted.json()) as { task_id: number }).task_id);

  // Removing the integration removes its alias.
  t.is((await api.delete(`${base}/${integration.id}`)).status, 204);
  t.is((await deliver({ 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': sign(body) })).status, 404);
});
