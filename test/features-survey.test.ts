/**
 * Survey variables (checked on the server, passed to ansible / terraform / bash, secrets masked and
 * never stored in clear), the per-template timeout and per-run task parameters.
 */
import test from 'ava';
import {
  cleanup, makeBareRepo, outputText, runOk, runTask, setupTemplate, startForge, startRedis, type ApiClient,
} from './helpers/index.js';
import { startRunner } from './helpers/runner.js';

test.after.always(cleanup);

const SECRET = 'sUrVeY-s3cret-VALUE';

const surveyVars = [
  { name: 'who', title: 'Who', type: '', required: true, description: 'a name' },
  { name: 'count', title: 'Count', type: 'int', required: true },
  { name: 'token', title: 'Token', type: 'secret', required: true },
  { name: 'level', title: 'Level', type: 'enum', values: [{ name: 'Development', value: 'dev' }, { name: 'Production', value: 'prod' }] },
  { name: 'region', type: '', default_value: 'eu-west' },
  { name: 'MODE', type: '', target: 'env', default_value: 'fast' },
];
const answers = { who: 'alice', count: '41', token: SECRET, level: 'prod' };

/** Every value Redis holds (strings, hashes, lists, streams), to prove a secret is not among them in clear. */
async function everythingInRedis(cli: (args: string[]) => Promise<string>): Promise<string> {
  const script = `local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local t = redis.call('TYPE', k).ok
  if t == 'string' then table.insert(out, redis.call('GET', k))
  elseif t == 'hash' then for _, v in ipairs(redis.call('HGETALL', k)) do table.insert(out, v) end
  elseif t == 'list' then for _, v in ipairs(redis.call('LRANGE', k, 0, -1)) do table.insert(out, v) end
  elseif t == 'stream' then for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do for _, v in ipairs(e[2]) do table.insert(out, v) end end end
end
return out`;
  return cli(['eval', script, '0']);
}

async function surveyTemplate(api: ApiClient, files: Record<string, string>, template: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const repo = await makeBareRepo(files);
  return setupTemplate(api, { gitUrl: repo.path, ...extra, template: { survey_vars: surveyVars, ...template } });
}

test('survey variables of each type reach a bash script, an ansible playbook and a terraform configuration; the secret is masked and never stored in clear', async (t) => {
  const redis = await startRedis();
  const forge = await startForge({ env: { FORGE_REDIS_URL: redis.url } });
  const api = forge.api;

  const bash = await surveyTemplate(api, {
    'run.sh': 'echo "who=$who count=$count level=$level region=$region mode=$MODE token=$token"\necho "vars=$FORGE_EXTRA_VARS"\n',
  }, { app: 'bash', playbook: 'run.sh' });
  const bashTask = await runTask(api, bash, { environment: JSON.stringify(answers) });
  const bashOut = await outputText(api, bash.projectId, bashTask.id);
  t.is(bashTask.status, 'success', bashOut);
  t.true(bashOut.includes('who=alice count=41 level=prod region=eu-west mode=fast token=********'), bashOut);
  t.false(bashOut.includes(SECRET));
  t.false(String(bashTask.environment).includes(SECRET), 'the task record has no secret answer');
  t.deepEqual(JSON.parse(String(bashTask.environment)), { who: 'alice', count: 41, level: 'prod', region: 'eu-west' });

  const ansible = await surveyTemplate(api, {
    'site.yml': [
      '- hosts: all', '  gather_facts: false', '  tasks:',
      '    - ansible.builtin.debug:', '        msg: "who={{ who }} next={{ count + 1 }} level={{ level }} region={{ region }} token={{ token }}"', '',
    ].join('\n'),
  }, { app: 'ansible', playbook: 'site.yml' }, { inventory: 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' });
  const ansibleTask = await runTask(api, ansible, { environment: JSON.stringify(answers) }, 90_000);
  const ansibleOut = await outputText(api, ansible.projectId, ansibleTask.id);
  t.is(ansibleTask.status, 'success', ansibleOut);
  t.true(ansibleOut.includes('who=alice next=42 level=prod region=eu-west token=********'), ansibleOut);
  t.false(ansibleOut.includes(SECRET));

  const terraform = await surveyTemplate(api, {
    'infra/main.tf': [
      'variable "who" {}', 'variable "count_of" { default = 0 }', 'variable "level" {}', 'variable "token" {}',
      'resource "terraform_data" "survey" { input = "${var.who}-${var.level}" }',
      'output "summary" { value = "who=${terraform_data.survey.output} token=${var.token}" }', '',
    ].join('\n'),
  }, { app: 'terraform', playbook: 'infra' });
  const tfTask = await runTask(api, terraform, { environment: JSON.stringify(answers) }, 120_000);
  const tfOut = await outputText(api, terraform.projectId, tfTask.id);
  t.is(tfTask.status, 'success', tfOut);
  t.true(tfOut.includes('who=alice-prod token=********'), tfOut);
  t.false(tfOut.includes(SECRET));

  t.false((await everythingInRedis(redis.cli)).includes(SECRET), 'Redis holds the secret answer only encrypted');
});

test('survey answers are checked on the server, and each refusal names the variable', async (t) => {
  const forge = await startForge();
  const setup = await surveyTemplate(forge.api, { 'run.sh': 'true\n' }, { app: 'bash' });
  const post = (environment: Record<string, unknown>) => forge.api.post(`/api/project/${setup.projectId}/tasks`, { template_id: setup.templateId, environment: JSON.stringify(environment) });
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...answers, who: '' }, /^environment\.who: "Who" is required/],
    [{ ...answers, count: 'many' }, /^environment\.count: "Count" must be a whole number/],
    [{ ...answers, level: 'qa' }, /^environment\.level: "level" must be one of "dev", "prod"|^environment\.level: "Level" must be one of "dev", "prod"/],
    [{ who: 'x', count: 1 }, /^environment\.token: "Token" is required/],
  ];
  for (const [environment, expected] of cases) {
    const answer = await post(environment);
    t.is(answer.status, 400, JSON.stringify(environment));
    t.regex(answer.body.error, expected);
  }
  const bad = await forge.api.post(`/api/project/${setup.projectId}/templates`, {
    name: 'bad', repository_id: setup.repositoryId, app: 'bash', playbook: 'run.sh', survey_vars: [{ name: 'choice', type: 'enum' }],
  });
  t.is(bad.status, 400);
  t.regex(bad.body.error, /survey_vars\.0\.values: an enum survey variable needs values/);
  const secretDefault = await forge.api.post(`/api/project/${setup.projectId}/templates`, {
    name: 'leaky', repository_id: setup.repositoryId, app: 'bash', playbook: 'run.sh', survey_vars: [{ name: 'token', type: 'secret', default_value: 'hunter2' }],
  });
  t.is(secretDefault.status, 400, 'a secret default would be stored and shown in clear with the template');
  t.regex(secretDefault.body.error, /survey_vars\.0\.default_value: a secret survey variable cannot have a default/);
  t.is((await post(answers)).status, 201);
});

test('a template timeout overrides the server limit; per-run ansible parameters and a branch override only where allowed', async (t) => {
  const forge = await startForge();
  const api = forge.api;
  const slow = await setupTemplate(api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo started\nsleep 60\n' })).path, template: { max_task_duration_sec: 2 } });
  const timedOut = await runTask(api, slow, {}, 60_000);
  t.is(timedOut.status, 'error');
  t.regex(timedOut.error, /duration limit of 2 s/);

  const repo = await makeBareRepo({ 'site.yml': '- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: { msg: "main branch" }\n' });
  const first = repo.commit;
  await repo.commitFiles({ 'site.yml': '- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: { msg: "newer main" }\n' });
  await runOk('git', ['--git-dir', repo.path, 'branch', 'release', first]);
  const inventory = 'web1 ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n';
  const locked = await setupTemplate(api, { gitUrl: repo.path, app: 'ansible', playbook: 'site.yml', inventory, template: { task_params: { params: { tags: ['deploy'] } } } }); // Semaphore's TaskPrams shape
  const refused = await api.post(`/api/project/${locked.projectId}/tasks`, { template_id: locked.templateId, git_branch: 'release' });
  t.is(refused.status, 400);
  t.regex(refused.body.error, /^git_branch: .*allow_override_branch_in_task/);

  const withParams = await runTask(api, locked, { limit: 'web1', skip_tags: 'slow', dry_run: true, diff: true }, 90_000);
  const text = await outputText(api, locked.projectId, withParams.id);
  t.is(withParams.status, 'success', text);
  t.regex(text, /\$ ansible-playbook .*--limit web1 --tags deploy --skip-tags slow --check --diff/, 'the template\'s task_params fill what the run leaves out');

  const open = await setupTemplate(api, { gitUrl: repo.path, app: 'ansible', playbook: 'site.yml', inventory, projectId: locked.projectId, template: { allow_override_branch_in_task: true } });
  const onBranch = await runTask(api, open, { git_branch: 'release' }, 90_000);
  const branchText = await outputText(api, open.projectId, onBranch.id);
  t.is(onBranch.status, 'success', branchText);
  t.true(branchText.includes('"msg": "main branch"'), branchText);
  t.is(onBranch.commit_hash, first);
});

test('on a remote runner: survey answers and the secret one (sealed in the payload) reach the script, masked in output', async (t) => {
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True' } });
  await startRunner(forge, { name: 'survey-runner' });
  const setup = await surveyTemplate(forge.api, { 'run.sh': 'echo "who=$who level=$level token=$token mode=$MODE"\n' }, { app: 'bash', playbook: 'run.sh', max_task_duration_sec: 60 });
  const task = await runTask(forge.api, setup, { environment: JSON.stringify(answers) }, 60_000);
  const text = await outputText(forge.api, setup.projectId, task.id);
  t.is(task.status, 'success', text);
  t.is(task.runner_name, 'survey-runner');
  t.true(text.includes('who=alice level=prod token=******** mode=fast'), text);
  t.false(text.includes(SECRET));
});
