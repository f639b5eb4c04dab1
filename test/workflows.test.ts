/**
 * Workflows (Semaphore's task graphs with approvals), for real: bash templates in a real git
 * repository run as the nodes of a run through the normal task path; an approval node holds the
 * run until a member approves or rejects it through the API; a delay node holds it for its
 * delay_seconds; failure links are followed; the run's state is in Redis, so a restarted server finishes a run started before it.
 */
import test from 'ava';
import { ApiClient, cleanup, type Forge, makeBareRepo, setupTemplate, startForge, startRedis, waitFor } from './helpers/index.js';

test.after.always(cleanup);

interface Setup { forge: Forge; pid: number; templates: Record<'a' | 'b' | 'c' | 'fail', number> }

async function setup(forge: Forge): Promise<Setup> {
  const repo = await makeBareRepo({ 'a.sh': 'echo node A ran\n', 'b.sh': 'echo node B ran\n', 'c.sh': 'echo node C ran\n', 'fail.sh': 'echo failing on purpose\nexit 3\n' });
  const first = await setupTemplate(forge.api, { gitUrl: repo.path, app: 'bash', playbook: 'a.sh' });
  const pid = first.projectId;
  const template = async (name: string, playbook: string) =>
    (await forge.api.json('POST', `/api/project/${pid}/templates`, { name, app: 'bash', playbook, repository_id: first.repositoryId, environment_id: first.environmentId })).id as number;
  return { forge, pid, templates: { a: first.templateId, b: await template('B', 'b.sh'), c: await template('C', 'c.sh'), fail: await template('FAIL', 'fail.sh') } };
}

/** A → approval → B, as Semaphore's WorkflowTemplate body. */
const gated = (s: Setup) => ({
  name: 'gated deploy', description: 'A, then a human says yes, then B',
  nodes: [
    { id: 1, kind: 'task', template_id: s.templates.a },
    { id: 2, kind: 'approval', approval_message: 'Deploy B?' },
    { id: 3, kind: 'task', template_id: s.templates.b, task_params: { message: 'from the workflow' } },
  ],
  edges: [{ source_node_id: 1, destination_node_id: 2, condition: 'on_success' }, { source_node_id: 2, destination_node_id: 3, condition: 'on_success' }],
});

const runPath = (s: Setup, workflowId: number, runId: number) => `/api/project/${s.pid}/workflows/${workflowId}/runs/${runId}`;

async function waitForRun(api: ApiClient, path: string, statuses: string[], timeoutMs = 90_000) {
  return waitFor(async () => {
    const details = await api.json('GET', path);
    return statuses.includes(details.run.status) ? details : undefined;
  }, timeoutMs, { what: `run ${path} to reach ${statuses.join('/')}` });
}

const nodeOf = (details: { nodes: Array<{ node: { id: number } }> }, id: number) => details.nodes.find((n) => n.node.id === id) as
  { node: { id: number }; state: string; task: { id: number; status: string; message: string } | null; approval: { status: string; resolved_by_user_id: number | null } | null };

let forge: Forge;
let s: Setup;
test.before(async () => {
  forge = await startForge();
  s = await setup(forge);
});

test.serial('saving checks the graph: unknown template, dangling link and cycle are 400s naming the field; roles as Semaphore means them', async (t) => {
  const base = `/api/project/${s.pid}/workflows`;
  const bad = async (body: unknown, field: RegExp) => {
    const res = await forge.api.post(base, body);
    t.is(res.status, 400, res.text);
    t.regex(res.body.error, field);
  };
  await bad({ ...gated(s), nodes: [{ id: 1, template_id: 99_999 }] }, /^nodes\.0\.template_id: no template 99999/);
  await bad({ ...gated(s), edges: [{ source_node_id: 7, destination_node_id: 2 }] }, /^edges\.0\.source_node_id: no node with id 7/);
  await bad({ ...gated(s), edges: [...gated(s).edges, { source_node_id: 3, destination_node_id: 1 }] }, /edges\.\d\.destination_node_id: the link \d → \d closes a cycle/);
  await bad({ ...gated(s), nodes: [{ id: 1, kind: 'task' }] }, /^nodes\.0\.template_id: a task node needs/);
  await bad({ ...gated(s), name: '' }, /^name:/);
  await bad({ ...gated(s), edges: [gated(s).edges[0]] }, /^nodes: a workflow starts at exactly one node, the one no link leads to; these have none: 1, 3/);

  const created = await forge.api.json('POST', base, { ...gated(s), id: 0, unknown_field: true });
  t.deepEqual(Object.keys(created).sort(), ['description', 'edges', 'id', 'name', 'nodes', 'project_id']);
  t.like(created.nodes[1], { id: 2, kind: 'approval', workflow_template_id: created.id, approval_message: 'Deploy B?' });
  t.like(created.edges[0], { source_node_id: 1, destination_node_id: 2, condition: 'on_success', workflow_template_id: created.id });

  const password = 'role-password-1';
  const member = async (name: string, role: string) => {
    const user = await forge.api.json('POST', '/api/users', { username: name, password });
    await forge.api.json('POST', `/api/project/${s.pid}/users`, { user_id: user.id, role });
    return new ApiClient(forge.url).login(name, password);
  };
  const guest = await member('wf-guest', 'guest');
  const runner = await member('wf-runner', 'task_runner');
  t.is((await guest.get(`${base}/${created.id}`)).status, 200, 'a guest reads');
  t.is((await guest.post(`${base}/${created.id}/run`)).status, 403, 'a guest cannot run');
  t.is((await runner.put(`${base}/${created.id}`, gated(s))).status, 403, 'a task_runner cannot edit');
  t.is((await forge.api.put(`${base}/${created.id}`, { ...gated(s), name: 'renamed' })).status, 204, 'an owner edits');
  t.is((await forge.api.json('GET', `${base}/${created.id}`)).name, 'renamed');
  const inUse = await forge.api.delete(`/api/project/${s.pid}/templates/${s.templates.b}`);
  t.is(inUse.status, 409, 'a template a workflow runs cannot be deleted');
  t.regex(inUse.body.error, /in use by workflow "renamed"/);
  const outsider = await new ApiClient(forge.url).login((await forge.api.json('POST', '/api/users', { username: 'wf-outsider', password })).username, password);
  t.is((await outsider.get(`${base}/${created.id}`)).status, 404, 'a non-member does not learn it exists');
  const events = await forge.api.json('GET', `/api/project/${s.pid}/events`);
  t.true(events.some((e: { object_type: string; description: string }) => e.object_type === 'workflow' && /renamed updated/.test(e.description)));
});

test.serial('A → approval → B: B runs only after a task_runner approves; the run, approvals and artifacts show it', async (t) => {
  const api = forge.api;
  const workflow = await api.json('POST', `/api/project/${s.pid}/workflows`, gated(s));
  const run = await api.json('POST', `/api/project/${s.pid}/workflows/${workflow.id}/run`);
  t.deepEqual(Object.keys(run).sort(), ['end', 'id', 'project_id', 'root_task_id', 'start', 'status', 'user_id', 'workflow_template_id']);
  t.is(run.status, 'running');
  t.truthy(run.root_task_id, 'the start node\'s task was created');

  const waiting = await waitForRun(api, runPath(s, workflow.id, run.id), ['approval']);
  t.is(nodeOf(waiting, 1).task!.status, 'success');
  t.is(nodeOf(waiting, 1).task!.id, run.root_task_id);
  t.is(nodeOf(waiting, 2).state, 'waiting');
  t.is(nodeOf(waiting, 3).task, null, 'B has not started');
  t.is(nodeOf(waiting, 3).state, 'pending');
  const bTasks = (await api.json('GET', `/api/project/${s.pid}/templates/${s.templates.b}/tasks`)).length;
  const [pending] = await api.json('GET', `${runPath(s, workflow.id, run.id)}/approvals`);
  t.like(pending, { workflow_run_id: run.id, workflow_node_id: 2, status: 'pending', resolved: null, project_id: s.pid });

  const password = 'approver-password-1';
  const user = await api.json('POST', '/api/users', { username: 'approver', password });
  await api.json('POST', `/api/project/${s.pid}/users`, { user_id: user.id, role: 'task_runner' });
  const approver = await new ApiClient(forge.url).login('approver', password);
  t.is((await approver.post(`${runPath(s, workflow.id, run.id)}/approvals/2`, { status: 'maybe' })).status, 400);
  const approved = await approver.json('POST', `${runPath(s, workflow.id, run.id)}/approvals/2`, { status: 'approved' });
  t.like(approved, { status: 'approved', resolved_by_user_id: user.id, workflow_node_id: 2 });
  t.is((await approver.post(`${runPath(s, workflow.id, run.id)}/approvals/2`, { status: 'rejected' })).status, 409, 'an approval is resolved once');

  const done = await waitForRun(api, runPath(s, workflow.id, run.id), ['success', 'failed', 'rejected']);
  t.is(done.run.status, 'success');
  t.truthy(done.run.end);
  const b = nodeOf(done, 3).task!;
  t.is(b.status, 'success');
  t.is(b.message, 'from the workflow', 'the node\'s task_params reach the task');
  t.is((await api.json('GET', `/api/project/${s.pid}/templates/${s.templates.b}/tasks`)).length, bTasks + 1, 'B ran exactly once');
  t.regex(await (await fetch(`${forge.url}/api/project/${s.pid}/tasks/${b.id}/raw_output`, { headers: api.authHeaders() })).text(), /node B ran/);

  const artifacts = await api.json('GET', `${runPath(s, workflow.id, run.id)}/artifacts`);
  t.deepEqual(Object.keys(artifacts).sort(), ['1', '3']);
  t.like(artifacts['3'], { task_id: b.id, status: 'success', template_id: s.templates.b, raw_output: `/api/project/${s.pid}/tasks/${b.id}/raw_output` });
  t.is((await api.get(artifacts['1'].output)).status, 200, 'the output link works');
  const runs = await api.json('GET', `/api/project/${s.pid}/workflows/${workflow.id}/runs`);
  t.is(runs[0].id, run.id);
  t.is(runs[0].status, 'success');
  const events = await api.json('GET', `/api/project/${s.pid}/events`);
  t.true(events.some((e: { description: string }) => e.description === `workflow run ${run.id}: node 2 approved`));
  t.true(events.some((e: { description: string }) => e.description === `workflow run ${run.id} ended: success`));
});

test.serial('rejecting the approval ends the run as rejected and B never starts', async (t) => {
  const api = forge.api;
  const workflow = await api.json('POST', `/api/project/${s.pid}/workflows`, gated(s));
  const run = await api.json('POST', `/api/project/${s.pid}/workflows/${workflow.id}/run`);
  await waitForRun(api, runPath(s, workflow.id, run.id), ['approval']);
  t.is((await api.json('POST', `${runPath(s, workflow.id, run.id)}/approvals/2`, { status: 'rejected' })).status, 'rejected');
  const done = await api.json('GET', runPath(s, workflow.id, run.id));
  t.is(done.run.status, 'rejected');
  t.is(nodeOf(done, 3).state, 'skipped');
  t.is(nodeOf(done, 3).task, null);
  t.is((await api.delete(`/api/project/${s.pid}/workflows/${workflow.id}`)).status, 204, 'a finished workflow can be deleted');
  t.is((await api.get(runPath(s, workflow.id, run.id))).status, 404);
});

test.serial('a failing node follows its failure link (not its success link); with no failure link the run fails', async (t) => {
  const api = forge.api;
  const workflow = await api.json('POST', `/api/project/${s.pid}/workflows`, {
    name: 'recover',
    nodes: [{ id: 10, template_id: s.templates.fail }, { id: 20, template_id: s.templates.b }, { id: 30, template_id: s.templates.c }],
    edges: [{ source_node_id: 10, destination_node_id: 20, condition: 'on_success' }, { source_node_id: 10, destination_node_id: 30, condition: 'on_failure' }],
  });
  const run = await api.json('POST', `/api/project/${s.pid}/workflows/${workflow.id}/run`);
  const done = await waitForRun(api, runPath(s, workflow.id, run.id), ['success', 'failed', 'rejected']);
  t.is(nodeOf(done, 10).task!.status, 'error');
  t.is(nodeOf(done, 10).state, 'failed');
  t.is(nodeOf(done, 30).task!.status, 'success', 'the failure link was followed');
  t.is(nodeOf(done, 20).state, 'skipped', 'the success link was not');
  t.is(nodeOf(done, 20).task, null);
  t.is(done.run.status, 'success', 'a handled failure does not fail the run');

  const bare = await api.json('POST', `/api/project/${s.pid}/workflows`, { name: 'just fail', nodes: [{ id: 1, template_id: s.templates.fail }, { id: 2, template_id: s.templates.b }], edges: [{ source_node_id: 1, destination_node_id: 2 }] });
  const failed = await api.json('POST', `/api/project/${s.pid}/workflows/${bare.id}/run`);
  const failedDone = await waitForRun(api, runPath(s, bare.id, failed.id), ['success', 'failed', 'rejected']);
  t.is(failedDone.run.status, 'failed');
  t.regex(nodeOf(failedDone, 1).state, /failed/);
});

test.serial('server restarts mid-run: a node task started before a restart ends on the new server and the run moves on; a pending approval survives another', async (t) => {
  // No worker at first: A's task waits, in Redis, while the server goes away.
  const own = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'true' } });
  const mine = await setup(own);
  const workflow = await own.api.json('POST', `/api/project/${mine.pid}/workflows`, gated(mine));
  const run = await own.api.json('POST', `/api/project/${mine.pid}/workflows/${workflow.id}/run`);
  t.is((await own.api.json('GET', `/api/project/${mine.pid}/tasks/${run.root_task_id}`)).status, 'waiting');
  t.is((await own.stop()).code, 0);

  // Restarted with its local worker: A runs there, and its end moves the run to the approval.
  const second = await startForge({ dirs: own.dirs });
  const waiting = await waitForRun(second.api, runPath(mine, workflow.id, run.id), ['approval', 'success', 'failed', 'rejected']);
  t.is(waiting.run.status, 'approval');
  t.is(nodeOf(waiting, 1).task!.status, 'success');
  t.is((await second.stop()).code, 0);

  const third = await startForge({ dirs: own.dirs });
  t.is((await third.api.json('GET', runPath(mine, workflow.id, run.id))).run.status, 'approval', 'the pending approval survived');
  await third.api.json('POST', `${runPath(mine, workflow.id, run.id)}/approvals/2`, { status: 'approved' });
  const done = await waitForRun(third.api, runPath(mine, workflow.id, run.id), ['success', 'failed', 'rejected']);
  t.is(done.run.status, 'success');
  t.is(nodeOf(done, 3).task!.status, 'success');
});

test.serial('an approval not resolved within its approval_timeout (seconds) is rejected, and the run ends rejected', async (t) => {
  const workflow = await forge.api.json('POST', `/api/project/${s.pid}/workflows`, {
    name: 'short gate', nodes: [{ id: 1, kind: 'approval', approval_timeout: 1 }, { id: 2, template_id: s.templates.b }], edges: [{ source_node_id: 1, destination_node_id: 2 }],
  });
  const run = await forge.api.json('POST', `/api/project/${s.pid}/workflows/${workflow.id}/run`);
  t.is(run.status, 'approval');
  const done = await waitForRun(forge.api, runPath(s, workflow.id, run.id), ['success', 'failed', 'rejected'], 60_000);
  t.is(done.run.status, 'rejected');
  t.like(nodeOf(done, 1).approval, { status: 'rejected', resolved_by_user_id: null });
  t.is(nodeOf(done, 2).task, null);
});

test.serial('a node whose start was claimed by a replica that died before creating its task is started by another', async (t) => {
  const redis = await startRedis();
  const own = await startForge({ env: { FORGE_REDIS_URL: redis.url } });
  const mine = await setup(own);
  const workflow = await own.api.json('POST', `/api/project/${mine.pid}/workflows`, gated(mine));
  const run = await own.api.json('POST', `/api/project/${mine.pid}/workflows/${workflow.id}/run`);
  await waitForRun(own.api, runPath(mine, workflow.id, run.id), ['approval']);
  await own.stop();
  // What a replica leaves behind when it dies between claiming node 3 and creating its task.
  const key = `{forge}:wf-run:${run.id}`;
  const record = JSON.parse(await redis.cli(['GET', key]));
  record.nodes['2'] = { ...record.nodes['2'], state: 'success', approval: { ...record.nodes['2'].approval, status: 'approved', resolved: new Date().toISOString() } };
  for (const edge of record.graph.edges) if (edge.source_node_id === 2) record.edges[edge.id] = true;
  record.nodes['3'] = { ...record.nodes['3'], state: 'starting', claimed_at: new Date(Date.now() - 120_000).toISOString() };
  record.status = 'running';
  record.version += 1;
  await redis.cli(['SET', key, JSON.stringify(record)]);

  const again = await startForge({ env: { FORGE_REDIS_URL: redis.url }, dirs: own.dirs });
  const done = await waitForRun(again.api, runPath(mine, workflow.id, run.id), ['success', 'failed', 'rejected']);
  t.is(done.run.status, 'success');
  t.is(nodeOf(done, 3).task!.status, 'success');
  t.is((await again.api.json('GET', `/api/project/${mine.pid}/templates/${mine.templates.b}/tasks`)).length, 1, 'started once');
  t.regex(again.logs(), /workflow node claim was lost; starting it again/);
});

test.serial('two replicas on one Redis: concurrent approvals resolve once, parallel branches join, and every node runs exactly once', async (t) => {
  const redis = await startRedis();
  const env = { FORGE_REDIS_URL: redis.url, FORGE_ACCESS_KEY_ENCRYPTION: 'shared-key-for-both-replicas' };
  const [one, two] = await Promise.all([startForge({ env }), startForge({ env, login: false })]);
  await two.api.login('admin', 'admin-password-123');
  const mine = await setup(one);
  // approval → (B and C in parallel) → A once both succeeded.
  const workflow = await one.api.json('POST', `/api/project/${mine.pid}/workflows`, {
    name: 'fan out and join',
    nodes: [
      { id: 1, kind: 'approval' }, { id: 2, template_id: mine.templates.b }, { id: 3, template_id: mine.templates.c },
      { id: 4, template_id: mine.templates.a, convergence_mode: 'all' }, { id: 5, kind: 'note', approval_message: 'a note is never run' },
    ],
    edges: [
      { source_node_id: 1, destination_node_id: 2 }, { source_node_id: 1, destination_node_id: 3 },
      { source_node_id: 2, destination_node_id: 4 }, { source_node_id: 3, destination_node_id: 4 },
    ],
  });
  const runs = await Promise.all([1, 2, 3].map(() => two.api.json('POST', `/api/project/${mine.pid}/workflows/${workflow.id}/run`)));
  t.true(runs.every((run) => run.status === 'approval' && run.root_task_id === null));
  for (const run of runs) {
    const path = `${runPath(mine, workflow.id, run.id)}/approvals/1`;
    const answers = await Promise.all([one.api.post(path, { status: 'approved' }), two.api.post(path, { status: 'approved' })]);
    t.deepEqual(answers.map((a) => a.status).sort(), [200, 409], 'one replica resolves it, the other answers 409');
  }
  for (const run of runs) {
    const done = await waitForRun(one.api, runPath(mine, workflow.id, run.id), ['success', 'failed', 'rejected']);
    t.is(done.run.status, 'success');
    t.is(nodeOf(done, 4).task!.status, 'success');
    t.is(nodeOf(done, 5).state, 'skipped');
  }
  const count = async (templateId: number) => (await one.api.json('GET', `/api/project/${mine.pid}/templates/${templateId}/tasks`)).length;
  t.deepEqual([await count(mine.templates.b), await count(mine.templates.c), await count(mine.templates.a)], [3, 3, 3], 'each node of each run ran exactly once');
});

/** A → delay → B, as Semaphore's WorkflowTemplate body. */
const delayed = (s: Setup, seconds: number) => ({
  name: `B ${seconds} s after A`,
  nodes: [{ id: 1, kind: 'task', template_id: s.templates.a }, { id: 2, kind: 'delay', delay_seconds: seconds }, { id: 3, kind: 'task', template_id: s.templates.b }],
  edges: [{ source_node_id: 1, destination_node_id: 2 }, { source_node_id: 2, destination_node_id: 3 }],
});

type Details = Awaited<ReturnType<typeof waitForRun>>;
/** When A ended, when the delay was due, when B's task was created: all recorded by the server. */
const delayTimes = (details: Details) => ({
  aEnd: Date.parse(String((nodeOf(details, 1).task as unknown as { end: string }).end)),
  due: Date.parse(String(details.nodes.find((n: { node: { id: number } }) => n.node.id === 2).due_at)),
  bCreated: Date.parse(String((nodeOf(details, 3).task as unknown as { created: string }).created)),
});

test.serial('A → delay 2 s → B: B starts only after the delay; a delay node needs delay_seconds', async (t) => {
  const base = `/api/project/${s.pid}/workflows`;
  const bad = await forge.api.post(base, { ...delayed(s, 2), nodes: [delayed(s, 2).nodes[0], { id: 2, kind: 'delay' }, delayed(s, 2).nodes[2]] });
  t.is(bad.status, 400);
  t.regex(bad.body.error, /^nodes\.1\.delay_seconds: a delay node needs delay_seconds/);

  const workflow = await forge.api.json('POST', base, delayed(s, 2));
  const run = await forge.api.json('POST', `${base}/${workflow.id}/run`);
  const waiting = await waitFor(async () => {
    const details = await forge.api.json('GET', runPath(s, workflow.id, run.id));
    return nodeOf(details, 2).state === 'running' ? details : undefined;
  }, 90_000, { what: 'the delay node to begin' });
  t.is(waiting.run.status, 'running', 'a run in a delay is running, not waiting for an approval');
  t.is(nodeOf(waiting, 3).state, 'pending');

  const done = await waitForRun(forge.api, runPath(s, workflow.id, run.id), ['success', 'failed', 'rejected']);
  t.is(done.run.status, 'success');
  t.like(nodeOf(done, 2), { state: 'success', task: null });
  t.is(nodeOf(done, 3).task!.status, 'success');
  const { aEnd, due, bCreated } = delayTimes(done);
  t.true(due - aEnd >= 2000, `the delay is due 2 s after A ended (A ended ${new Date(aEnd).toISOString()}, due ${new Date(due).toISOString()})`);
  t.true(bCreated >= due, `B's task was created after the delay was due (created ${new Date(bCreated).toISOString()})`);
  const bTasks = (await forge.api.json('GET', `/api/project/${s.pid}/templates/${s.templates.b}/tasks`)) as Array<{ message: string }>;
  t.is(bTasks.filter((task) => task.message === `workflow run ${run.id}, node 3`).length, 1, 'B ran once');
});

test.serial('two replicas, one stopped mid-delay: the other ends the delay once, not before it is due', async (t) => {
  const redis = await startRedis();
  const env = { FORGE_REDIS_URL: redis.url, FORGE_ACCESS_KEY_ENCRYPTION: 'shared-key-for-both-replicas' };
  const [one, two] = await Promise.all([startForge({ env }), startForge({ env, login: false })]);
  await two.api.login('admin', 'admin-password-123');
  const mine = await setup(one);
  const workflow = await one.api.json('POST', `/api/project/${mine.pid}/workflows`, delayed(mine, 3));
  const run = await one.api.json('POST', `/api/project/${mine.pid}/workflows/${workflow.id}/run`);
  const path = runPath(mine, workflow.id, run.id);
  await waitFor(async () => nodeOf(await two.api.json('GET', path), 2).state === 'running' || undefined, 90_000, { what: 'the delay node to begin' });
  await one.stop(); // if `one` began the delay (and armed its timer), `two` must end it from the run record

  const done = await waitForRun(two.api, path, ['success', 'failed', 'rejected']);
  t.is(done.run.status, 'success');
  const { aEnd, due, bCreated } = delayTimes(done);
  t.true(due - aEnd >= 3000);
  t.true(bCreated >= due, 'B started only after the delay was due');
  t.is((await two.api.json('GET', `/api/project/${mine.pid}/templates/${mine.templates.b}/tasks`)).length, 1, 'B ran exactly once');
});
