/**
 * Deleting a project removes everything it owns from Redis: one record of each per-project key
 * family (services/redis/keys.ts) is made for real — tasks with output, a workflow run, a
 * schedule on its BullMQ scheduler, a notification channel and its results, an integration with
 * matchers, values, deliveries and aliases, a host config — then the project is deleted and a
 * SCAN of the server's Redis finds no key of it left, and no entry of it in the shared indexes.
 */
import test from 'ava';
import { cleanup, makeBareRepo, runTask, setupTemplate, startForge, startRedis, waitFor, waitForTask, type Task } from './helpers/index.js';

test.after.always(cleanup);

async function allKeys(cli: (args: string[]) => Promise<string>): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, ...batch] = (await cli(['SCAN', cursor, 'COUNT', '1000'])).split('\n').map((line) => line.trim()).filter(Boolean);
    cursor = next!;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}

test('deleting a project leaves no key of it in Redis, and its project alias answers 404', async (t) => {
  const redis = await startRedis();
  const ask = async (args: string[]) => (await redis.cli(args)).trim();
  const forge = await startForge({ env: { FORGE_REDIS_URL: redis.url, FORGE_NOTIFICATION_ATTEMPTS: '1' } });
  const api = forge.api;
  const repo = await makeBareRepo({ 'run.sh': 'echo "ran for $SERVICE"\n' });
  const setup = await setupTemplate(api, { gitUrl: repo.path, app: 'bash', playbook: 'run.sh', inventory: 'localhost' });
  const other = await setupTemplate(api, { gitUrl: repo.path, app: 'bash', playbook: 'run.sh' });
  const pid = setup.projectId;
  const base = `/api/project/${pid}`;

  const key = await api.json('POST', `${base}/keys`, { name: 'git host', type: 'ssh', ssh: { private_key: '-----BEGIN OPENSSH PRIVATE KEY-----\nnot used\n-----END OPENSSH PRIVATE KEY-----\n' } });
  await api.json('POST', `${base}/host_configs`, { type: 'host', host: 'git.example.com', ssh_key_id: key.id });
  await api.json('POST', `${base}/views`, { title: 'Deploys', position: 1 });
  const runner = await api.json('POST', `${base}/runners`, { name: 'project runner' });
  // Once a year: the scheduler exists in BullMQ, and no tick fires during the test.
  const schedule = await api.json('POST', `${base}/schedules`, { template_id: setup.templateId, name: 'yearly', cron_format: '0 0 1 1 *', timezone: 'UTC', active: true });
  await api.json('POST', `${base}/notifications`, { name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/unreachable', on_success: true, on_failure: true });

  const integration = await api.json('POST', `${base}/integrations`, { name: 'deploy hook', template_id: setup.templateId, searchable: true });
  await api.post(`${base}/integrations/${integration.id}/matchers`, { name: 'service', match_type: 'body', method: 'equals', body_data_type: 'json', key: 'service', value: 'web' });
  await api.json('POST', `${base}/integrations/${integration.id}/values`, { name: 'service', value_source: 'body', body_data_type: 'json', key: 'service', variable: 'SERVICE', variable_type: 'environment' });
  const aliasOf = (view: { url: string }) => new URL(view.url).pathname.split('/').pop()!;
  const integrationAlias = aliasOf((await api.post(`${base}/integrations/${integration.id}/aliases`, {})).body);
  const projectAliasView = (await api.post(`${base}/integrations/aliases`, {})).body;
  const projectAlias = aliasOf(projectAliasView);
  const hookUrl = `${forge.url}${new URL(projectAliasView.url).pathname}`;
  const call = await fetch(hookUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ service: 'web' }) });
  t.is(call.status, 201);
  const hookTask = ((await call.json()) as { started: Array<{ task_id: number }> }).started[0]!.task_id;

  const workflow = await api.json('POST', `${base}/workflows`, { name: 'one step', nodes: [{ id: 1, kind: 'task', template_id: setup.templateId }], edges: [] });
  const run = await api.json('POST', `${base}/workflows/${workflow.id}/run`);
  await waitFor(async () => ['success', 'failed'].includes((await api.json('GET', `${base}/workflows/${workflow.id}/runs/${run.id}`)).run.status) || undefined, 90_000, { what: 'the workflow run to end' });
  t.is((await runTask(api, setup)).status, 'success');
  await waitForTask(api, pid, hookTask);
  const tasks = await api.json<Task[]>('GET', `${base}/tasks`);
  t.is(tasks.length, 3);
  // The channel's result for each task is kept per task (it fails: nothing listens on port 9).
  for (const task of tasks) await waitFor(async () => (await api.json<unknown[]>('GET', `${base}/tasks/${task.id}/notifications`)).length > 0 || undefined, 60_000, { what: `task ${task.id}'s notification result` });

  const taskIds = tasks.map((task) => task.id).join('|');
  // Every key family holding this project's data, by what its name carries (the project, its templates, workflows, integrations, tasks, runs, schedules).
  const families: Record<string, RegExp> = {
    'per-project records and indexes': new RegExp(`:p${pid}$`),
    'template task index': new RegExp(`^\\{forge\\}:tasks:t${setup.templateId}$`),
    'task records': new RegExp(`^\\{forge\\}:task:(${taskIds})$`),
    'task output': new RegExp(`^\\{out-(${taskIds})\\}:`),
    'task notification results': new RegExp(`^\\{forge\\}:task-notifications:(${taskIds})$`),
    'task extras': new RegExp(`^\\{forge\\}:task-extras:(${taskIds})$`),
    'workflow task links': new RegExp(`^\\{forge\\}:wf-task:(${taskIds})$`),
    'workflow runs': new RegExp(`^\\{forge\\}:wf-run:${run.id}$`),
    "a workflow's run index": new RegExp(`^\\{forge\\}:wf-runs:w${workflow.id}$`),
    'integration matchers and values': new RegExp(`^\\{forge\\}:rec:integration-(matchers|values):i${integration.id}$`),
    'integration deliveries': new RegExp(`^\\{forge\\}:integration-deliveries:${integration.id}$`),
    "the schedule's BullMQ scheduler": new RegExp(`:repeat:schedule-${schedule.id}(:|$)`),
    // Empty queues have no key in Redis: present only while one of its tasks waits or is claimed.
    'task queues': new RegExp(`^\\{tasks-p${pid}-`),
  };
  const optional = new Set(['task extras', 'task queues']); // only while a task with extras runs / a task waits
  const before = await allKeys(redis.cli);
  for (const [family, pattern] of Object.entries(families)) {
    if (!optional.has(family)) t.true(before.some((k) => pattern.test(k)), `before the delete, a key of ${family} exists`);
  }
  t.is(await ask(['HEXISTS', '{forge}:integration-aliases', projectAlias]), '1');
  t.is(await ask(['HEXISTS', '{forge}:queues', `{tasks-p${pid}-_}`]), '1', 'its task queue is registered');
  t.is(await ask(['HEXISTS', '{forge}:integration-aliases', integrationAlias]), '1');
  const otherKeys = before.filter((k) => k.endsWith(`:p${other.projectId}`));
  t.true(otherKeys.length >= 3);

  t.is((await api.delete(base)).status, 204);

  const after = await allKeys(redis.cli);
  for (const [family, pattern] of Object.entries(families)) t.deepEqual(after.filter((k) => pattern.test(k)), [], `no key of ${family} is left`);
  t.is(await ask(['HEXISTS', '{forge}:integration-aliases', projectAlias]), '0', 'the project alias left the alias index');
  t.is(await ask(['HEXISTS', '{forge}:integration-aliases', integrationAlias]), '0', "the integration's alias left the alias index");
  t.is(await ask(['SISMEMBER', '{forge}:wf-runs:active', String(run.id)]), '0');
  t.is(await ask(['HEXISTS', '{forge}:queues', `{tasks-p${pid}-_}`]), '0', 'its task queue left the queue registry');
  for (const task of tasks) {
    t.is(await ask(['ZSCORE', '{forge}:tasks:finished', String(task.id)]), '', `task ${task.id} left the finished index`);
    t.is(await ask(['SISMEMBER', '{forge}:tasks:active', String(task.id)]), '0');
  }
  t.deepEqual(otherKeys.filter((k) => !after.includes(k)), [], "the other project's keys stay");
  t.false((await api.json<Array<{ id: number }>>('GET', '/api/runners-all')).some((r) => r.id === runner.id), 'its project runner is gone');

  const late = await fetch(hookUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ service: 'web' }) });
  t.is(late.status, 404);
  t.is((await api.get(`${base}/tasks`)).status, 404);
  t.deepEqual((await allKeys(redis.cli)).filter((k) => Object.values(families).some((pattern) => pattern.test(k))), [], 'the late call left nothing');
});
