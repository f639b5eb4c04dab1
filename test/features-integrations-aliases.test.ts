/**
 * Semaphore's project-level integration aliases: one URL for a project that reaches each of its
 * searchable integrations; those whose authentication and matchers pass start their templates
 * (a real HTTP call that starts real tasks), the others are recorded as rejected deliveries.
 */
import test from 'ava';
import { cleanup, makeBareRepo, outputText, setupTemplate, startForge, waitForTask, type Task } from './helpers/index.js';

test.after.always(cleanup);

test('a project alias starts the templates of the searchable integrations whose matchers match', async (t) => {
  const forge = await startForge();
  const api = forge.api;
  const repo = await makeBareRepo({ 'run.sh': 'echo "deployed $SERVICE"\n' });
  const setup = await setupTemplate(api, { gitUrl: repo.path, app: 'bash', playbook: 'run.sh' });
  const base = `/api/project/${setup.projectId}/integrations`;
  const integration = async (name: string, service: string, searchable: boolean) => {
    const created = await api.json('POST', base, { name, template_id: setup.templateId, searchable });
    t.is((await api.post(`${base}/${created.id}/matchers`, { name: 'service', match_type: 'body', method: 'equals', body_data_type: 'json', key: 'service', value: service })).status, 200);
    await api.json('POST', `${base}/${created.id}/values`, { name: 'service', value_source: 'body', body_data_type: 'json', key: 'service', variable: 'SERVICE', variable_type: 'environment' });
    return created;
  };
  const web = await integration('web', 'web', true);
  const db = await integration('db', 'db', true);
  const hidden = await integration('not searchable', 'web', false);

  const created = await api.post(`${base}/aliases`, {});
  t.is(created.status, 200);
  t.regex(created.body.url, /\/api\/integrations\/[\w-]{20,}$/);
  t.deepEqual((await api.json('GET', `${base}/aliases`)).map((a: { id: number }) => a.id), [created.body.id]);
  t.deepEqual(await api.json('GET', `${base}/${web.id}/aliases`), [], 'a project alias is not an integration\'s');
  const hookUrl = `${forge.url}${new URL(created.body.url).pathname}`;

  const call = await fetch(hookUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ service: 'web' }) });
  t.is(call.status, 201);
  const answer = (await call.json()) as { started: Array<{ integration_id: number; task_id: number }>; rejected: Array<{ integration_id: number; error: string }> };
  t.deepEqual(answer.started.map((s) => s.integration_id), [web.id], 'only the searchable integration whose matcher matches');
  t.deepEqual(answer.rejected.map((r) => r.integration_id), [db.id]);
  t.regex(answer.rejected[0]!.error, /matcher "service" did not match/);
  const task = await waitForTask(api, setup.projectId, answer.started[0]!.task_id);
  const text = await outputText(api, setup.projectId, task.id);
  t.is(task.status, 'success', text);
  t.true(text.includes('deployed web'), text);
  t.deepEqual((await api.json('GET', `${base}/${hidden.id}/deliveries`)), [], 'a non-searchable integration is never reached');
  t.is((await api.json('GET', `${base}/${db.id}/deliveries`))[0].status, 'rejected');

  // Nothing matches: 200 with the reasons, and no task.
  const none = await fetch(hookUrl, { method: 'POST', body: JSON.stringify({ service: 'cache' }) });
  t.is(none.status, 200);
  t.is(((await none.json()) as { rejected: unknown[] }).rejected.length, 2);
  t.deepEqual((await api.json<Task[]>('GET', `/api/project/${setup.projectId}/tasks`)).map((x) => x.id), [task.id]);

  // Changes are audited; a guest cannot add one; a deleted alias stops working.
  t.true((await api.json('GET', `/api/project/${setup.projectId}/events`)).some((e: { description: string }) => /alias \d+ added to the project/.test(e.description)));
  await api.json('POST', '/api/users', { username: 'guest1', password: 'guest-password-1' });
  const users = await api.json('GET', '/api/users');
  await api.json('POST', `/api/project/${setup.projectId}/users`, { user_id: users.find((u: { username: string }) => u.username === 'guest1').id, role: 'guest' });
  const guest = await api.anonymous().login('guest1', 'guest-password-1');
  t.is((await guest.post(`${base}/aliases`, {})).status, 403);
  t.is((await guest.get(`${base}/aliases`)).status, 200);
  t.is((await api.delete(`${base}/aliases/${created.body.id}`)).status, 204);
  t.is((await fetch(hookUrl, { method: 'POST', body: JSON.stringify({ service: 'web' }) })).status, 404);
});
