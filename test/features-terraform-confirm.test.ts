/**
 * Terraform plan → confirm → apply (issue #11): a template without auto_approve plans into the
 * task's own folder, waits in `waiting_confirmation` (the plan in its output), and applies
 * exactly that plan on confirm, or ends `rejected` with nothing applied. Real terraform on a
 * `terraform_data` resource (no provider download), real git, on the local worker and on a
 * remote runner (the one Peer path); stop works while waiting, and a waiting task outlives many
 * leases on a runner that keeps heartbeating.
 */
import test from 'ava';
import { setTimeout as delay } from 'node:timers/promises';
import { ApiClient, cleanup, FINAL, type Forge, getTask, makeBareRepo, outputText, taskOutput, setupTemplate, startForge, startTask, waitForTask } from './helpers/index.js';
import { startRunner } from './helpers/runner.js';

const LEASE_SEC = 2;
/** Terraform colours its output (the task page renders it); the checks read the plain text. */
const plain = async (text: Promise<string>) => (await text).replace(/\x1b\[[0-9;]*m/g, '');
const TF = {
  'main.tf': [
    'variable "greeting" {\n  type    = string\n  default = "hello"\n}',
    'resource "terraform_data" "demo" {\n  input = "forge-${var.greeting}"\n}',
    'output "demo" {\n  value = terraform_data.demo.output\n}',
  ].join('\n') + '\n',
};

let local: Forge;
let remote: Forge;
test.before(async () => {
  [local, remote] = await Promise.all([
    startForge(),
    startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_RUNNER_LEASE_SEC: String(LEASE_SEC) } }),
  ]);
  await startRunner(remote, { tags: ['tf'], maxParallel: 4 });
});
test.after.always(cleanup);

const where = [
  { name: 'local worker', forge: () => local, template: {} },
  { name: 'remote runner', forge: () => remote, template: { runner_tag: 'tf' } },
];

async function planTask(forge: Forge, template: Record<string, unknown>) {
  const repo = await makeBareRepo(TF);
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, app: 'terraform', playbook: '', template: { auto_approve: false, ...template } });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const waiting = await waitForTask(forge.api, setup.projectId, task.id, ['waiting_confirmation', ...FINAL], 180_000);
  const base = `/api/project/${setup.projectId}/tasks/${task.id}`;
  return { setup, task: waiting, base, text: () => plain(outputText(forge.api, setup.projectId, task.id)) };
}

for (const target of where) {
  test(`${target.name}: plan → confirm applies exactly the saved plan`, async (t) => {
    const forge = target.forge();
    const run = await planTask(forge, target.template);
    t.is(run.task.status, 'waiting_confirmation', await run.text());
    const planned = await run.text();
    t.regex(planned, /terraform_data\.demo will be created/);
    t.regex(planned, /plan -input=false -out=\S+forge\.tfplan/);
    t.notRegex(planned, /Apply complete/);
    // The list and the dashboard-facing filter show it too.
    const listed = await forge.api.get(`/api/project/${run.setup.projectId}/tasks?status=waiting_confirmation`);
    t.deepEqual((listed.body as Array<{ id: number }>).map((x) => x.id), [run.task.id]);
    const dashboard = await forge.api.json<{ running: Array<{ id: number; status: string }> }>('GET', '/api/dashboard');
    t.true(dashboard.running.some((x) => x.id === run.task.id && x.status === 'waiting_confirmation'), 'the dashboard lists the waiting task');
    if (target.name === 'remote runner') {
      // Several leases pass while it waits: the runner's heartbeats keep it; it is not lost.
      await delay(LEASE_SEC * 3 * 1000);
      t.is((await getTask(forge.api, run.setup.projectId, run.task.id)).status, 'waiting_confirmation');
    }

    const confirmedAt = Date.now();
    t.is((await forge.api.post(`${run.base}/confirm`, {})).status, 204);
    const done = await waitForTask(forge.api, run.setup.projectId, run.task.id, FINAL, 180_000);
    // How long the executing side took to hear the decision (informational; timing goals belong in bench/).
    const heard = (await taskOutput(forge.api, run.setup.projectId, run.task.id)).find((l) => l.output.includes('the plan was confirmed'));
    if (heard) t.log(`confirm → executing side applying: ${Date.parse(heard.time) - confirmedAt} ms`);
    const text = await run.text();
    t.is(done.status, 'success', text);
    t.regex(text, /the plan was confirmed/);
    t.regex(text, /apply -input=false \S+forge\.tfplan/);
    t.regex(text, /Apply complete! Resources: 1 added/);
    t.regex(text, /demo = "forge-hello"/);

    const again = await forge.api.post(`${run.base}/confirm`, {});
    t.is(again.status, 409);
    t.regex(again.text, /is success/);
    const events = await forge.api.json<Array<{ object_id: number; description: string }>>('GET', `/api/project/${run.setup.projectId}/events`);
    t.true(events.some((e) => e.object_id === run.task.id && /confirmed/.test(e.description)));
  });

  test(`${target.name}: plan → reject ends the task rejected, nothing applied`, async (t) => {
    const forge = target.forge();
    const run = await planTask(forge, target.template);
    t.is(run.task.status, 'waiting_confirmation', await run.text());
    if (target.name === 'local worker') {
      // A guest reads the task but may not decide; a task_runner may.
      const member = async (role: string) => {
        const name = `${role.replace('_', '-')}-${run.task.id}`;
        const user = await forge.api.json('POST', '/api/users', { username: name, password: 'password-1234' });
        await forge.api.json('POST', `/api/project/${run.setup.projectId}/users`, { user_id: user.id, role });
        return new ApiClient(forge.url).login(name, 'password-1234');
      };
      const guest = await (await member('guest')).post(`${run.base}/reject`, {});
      t.is(guest.status, 403, guest.text);
      t.is((await getTask(forge.api, run.setup.projectId, run.task.id)).status, 'waiting_confirmation');
      t.is((await (await member('task_runner')).post(`${run.base}/reject`, {})).status, 204);
    } else {
      t.is((await forge.api.post(`${run.base}/reject`, {})).status, 204);
    }
    const done = await waitForTask(forge.api, run.setup.projectId, run.task.id, FINAL, 120_000);
    const text = await run.text();
    t.is(done.status, 'rejected', text);
    t.regex(text, /the plan was rejected: nothing was applied/);
    t.notRegex(text, /Apply complete|\$ terraform .*apply/);
    const late = await forge.api.post(`${run.base}/confirm`, {});
    t.is(late.status, 409);
    t.regex(late.text, /rejected/);
    const events = await forge.api.json<Array<{ object_id: number; description: string }>>('GET', `/api/project/${run.setup.projectId}/events`);
    t.true(events.some((e) => e.object_id === run.task.id && /rejected/.test(e.description)));
  });

  test(`${target.name}: stop while waiting for confirmation`, async (t) => {
    const forge = target.forge();
    const run = await planTask(forge, target.template);
    t.is(run.task.status, 'waiting_confirmation', await run.text());
    t.is((await forge.api.post(`${run.base}/stop`, {})).status, 204);
    const done = await waitForTask(forge.api, run.setup.projectId, run.task.id, FINAL, 60_000);
    const text = await run.text();
    t.is(done.status, 'stopped', text);
    t.regex(text, /stopped while waiting for confirmation/);
    t.notRegex(text, /Apply complete/);
  });
}

test('auto_approve per run (Semaphore\'s params) applies at once; confirm of a task not waiting is 409 naming its status', async (t) => {
  const repo = await makeBareRepo(TF);
  const setup = await setupTemplate(local.api, { gitUrl: repo.path, app: 'terraform', playbook: '', template: { auto_approve: false } });
  const task = await startTask(local.api, setup.projectId, setup.templateId, { params: { auto_approve: true } });
  const done = await waitForTask(local.api, setup.projectId, task.id, FINAL, 180_000);
  const text = await plain(outputText(local.api, setup.projectId, task.id));
  t.is(done.status, 'success', text);
  t.regex(text, /apply -input=false -auto-approve/);
  t.regex(text, /Apply complete! Resources: 1 added/);
  const refused = await local.api.post(`/api/project/${setup.projectId}/tasks/${task.id}/reject`, {});
  t.is(refused.status, 409);
  t.regex(refused.text, /not waiting for confirmation: it is success/);
});

test('the wait counts toward the task duration limit', async (t) => {
  const repo = await makeBareRepo(TF);
  const setup = await setupTemplate(local.api, { gitUrl: repo.path, app: 'terraform', playbook: '', template: { auto_approve: false, max_task_duration_sec: 45 } });
  const task = await startTask(local.api, setup.projectId, setup.templateId);
  const done = await waitForTask(local.api, setup.projectId, task.id, FINAL, 180_000);
  const text = await plain(outputText(local.api, setup.projectId, task.id));
  t.is(done.status, 'error', text);
  t.regex(text, /terraform_data\.demo will be created/);
  t.regex(text, /duration limit of 45 s .*while waiting for confirmation/);
});
