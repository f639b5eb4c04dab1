/**
 * Two server replicas on one Redis: every record change made through replica B is what replica A
 * uses for the very next task it creates and hands to its runner, with no waiting. Before each
 * change A has already run a task reading the same records, so a per-process record cache on A
 * would be warm and any stale copy would show in the next task's output.
 */
import test from 'ava';
import {
  cleanup, FINAL, getTask, makeBareRepo, outputText, setupTemplate, startForge, startRedis, startTask, waitFor, waitForTask,
} from './helpers/index.js';
import { startRunner } from './helpers/runner.js';
import { startGate } from './helpers/sandbox.js';

test.after.always(cleanup);

const TIMEOUT = 60_000;
/** Says which repository and script ran, with which arguments and environment (the secret by its length: output masks its value). */
const script = (repo: string) => `echo "repo=${repo} script=\${0##*/} args=[$*] plain=$PLAIN secret_length=\${#SECRET}"\n`;

test('record changes made through one replica are used by the other replica for its very next task', async (t) => {
  const redis = await startRedis();
  const env = { FORGE_REDIS_URL: redis.url, FORGE_USE_REMOTE_RUNNER: 'True', FORGE_ACCESS_KEY_ENCRYPTION: 'shared-key-for-both-replicas' };
  const [a, b] = await Promise.all([startForge({ env }), startForge({ env, login: false })]);
  await b.api.login('admin', 'admin-password-123');
  // Two slots, so only the project's own limit (last step) keeps a second task from starting (step 4).
  await startRunner(a, { name: 'on-a', maxParallel: 2 });

  const first = await makeBareRepo({ 'run.sh': script('first'), 'other.sh': script('first') });
  const second = await makeBareRepo({ 'run.sh': script('second'), 'other.sh': script('second') }, { branch: 'release' });
  const setup = await setupTemplate(b.api, {
    gitUrl: first.path, env: { PLAIN: 'old-plain' }, secrets: [{ name: 'SECRET', secret: 'old-secret' }],
  });
  const base = `/api/project/${setup.projectId}`;

  /** Creates a task through replica A (A reads the records for POST /tasks and for its runner's claim) and answers its output. */
  async function runOnA(): Promise<{ text: string; commit: string }> {
    const task = await startTask(a.api, setup.projectId, setup.templateId);
    const done = await waitForTask(a.api, setup.projectId, task.id, FINAL, TIMEOUT);
    t.is(done.status, 'success', done.error);
    t.is(done.runner_name, 'on-a');
    return { text: await outputText(a.api, setup.projectId, task.id), commit: done.commit_hash };
  }
  const template = (fields: Record<string, unknown>) => ({
    name: 'template', app: 'bash', playbook: 'run.sh', repository_id: setup.repositoryId, environment_id: setup.environmentId,
    inventory_id: null, arguments: null, ...fields,
  });

  // Warm: A reads every record once.
  t.regex((await runOnA()).text, /repo=first script=run\.sh args=\[\] plain=old-plain secret_length=10/);

  // 1. Template edited on B: another script of the repository, with arguments.
  await b.api.json('PUT', `${base}/templates/${setup.templateId}`, template({ playbook: 'other.sh', arguments: ['--new-arg'] }));
  t.regex((await runOnA()).text, /repo=first script=other\.sh args=\[--new-arg\] plain=old-plain/, 'A ran the template as edited on B');

  // 2. Environment edited on B: a plain variable and a secret (its new value is longer).
  const stored = await b.api.json('GET', `${base}/environment/${setup.environmentId}`);
  const secretId = (stored.secrets as Array<{ id: number; name: string }>).find((s) => s.name === 'SECRET')!.id;
  await b.api.json('PUT', `${base}/environment/${setup.environmentId}`, {
    name: 'env', json: '{}', env: JSON.stringify({ PLAIN: 'new-plain' }),
    secrets: [{ id: secretId, name: 'SECRET', type: 'env', secret: 'a-much-longer-new-secret', operation: 'update' }],
  });
  t.regex((await runOnA()).text, /plain=new-plain secret_length=24/, 'A used the environment as edited on B');

  // 3. Repository edited on B: another bare repository and branch.
  await b.api.json('PUT', `${base}/repositories/${setup.repositoryId}`, { name: 'repo', git_url: second.path, git_branch: 'release', ssh_key_id: null });
  const moved = await runOnA();
  t.regex(moved.text, /repo=second script=other\.sh/, 'A cloned the repository as edited on B');
  t.is(moved.commit, second.commit);

  // 4. Project edited on B: at most one task at once. A's second task waits while its first one runs
  // (today the claim script reads the limit from Redis itself; this guards a cached project on that path).
  const gate = await startGate();
  const holder = await makeBareRepo({ 'run.sh': `echo holding\n${gate.wait}\n` });
  const held = await setupTemplate(b.api, { gitUrl: holder.path, projectId: setup.projectId });
  await b.api.json('PUT', base, { name: 'test project', max_parallel_tasks: 1 });
  const running = await startTask(a.api, setup.projectId, held.templateId);
  await waitForTask(a.api, setup.projectId, running.id, ['running'], TIMEOUT);
  const queued = await startTask(a.api, setup.projectId, held.templateId);
  // Ends as soon as the task either gives the project limit as its reason or leaves 'waiting' (a stale limit of 0 on A).
  const blocked = await waitFor(async () => {
    const task = await getTask(a.api, setup.projectId, queued.id);
    return task.status !== 'waiting' || /maximum of 1 tasks/.test(task.waiting_reason) ? task : undefined;
  }, TIMEOUT, { what: 'the second task to wait for the project limit' });
  t.is(blocked.status, 'waiting', 'the second task started although the project now allows one at a time');
  gate.open();
  const [ended, next] = [await waitForTask(a.api, setup.projectId, running.id, FINAL, TIMEOUT), await waitForTask(a.api, setup.projectId, queued.id, FINAL, TIMEOUT)];
  t.is(ended.status, 'success', ended.error);
  t.is(next.status, 'success', next.error);
  t.true(Date.parse(next.start!) >= Date.parse(ended.end!), 'the second task started only after the first ended');

  // 5. Template deleted on B: A refuses a task for it.
  t.is((await b.api.delete(`${base}/templates/${setup.templateId}`)).status, 204);
  const refused = await a.api.post(`${base}/tasks`, { template_id: setup.templateId });
  t.is(refused.status, 400, refused.text);
  t.regex(refused.text, /template_id/);
});
