/**
 * The rest of the executor's reach: python, OpenTofu and PowerShell (stand-in binaries on PATH,
 * since neither is in Debian's archive), Ansible with a vault password, --limit and --tags, an
 * https repository behind basic auth cloned with a login/password key, and the message a server
 * without redis-server gives.
 */
import test from 'ava';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  BIN, cleanup, type Forge, makeBareRepo, outputText, run, runOk, runTask, setupTemplate, startForge, tempDir,
} from './helpers/index.js';
import { startGitHttp } from './helpers/git-http.js';

let forge: Forge;
let standins: string;

/** A stand-in for a binary Debian lacks: it prints how it was called and exits 0. */
function standIn(dir: string, name: string): void {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\necho "${name} called with: $*"\n`);
  chmodSync(path, 0o755);
}

test.before(async () => {
  standins = tempDir('forge-standins-');
  chmodSync(standins, 0o755); // tasks run as an unprivileged user: they must be able to enter the folder
  standIn(standins, 'tofu');
  standIn(standins, 'pwsh');
  forge = await startForge({ env: { PATH: `${standins}:${process.env.PATH}` } });
});
test.after.always(cleanup);

test('a python task runs with the environment\'s extra variables', async (t) => {
  const repo = await makeBareRepo({ 'main.py': 'import json, os\nprint("python says", json.loads(os.environ["FORGE_EXTRA_VARS"])["region"])\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, app: 'python', playbook: 'main.py', extraVars: { region: 'eu-west' } });
  const task = await runTask(forge.api, setup);
  t.is(task.status, 'success');
  t.true((await outputText(forge.api, setup.projectId, task.id)).includes('python says eu-west'));
});

test('an OpenTofu task runs tofu init then apply -auto-approve; a dry run plans instead', async (t) => {
  const repo = await makeBareRepo({ 'main.tf': 'terraform {}\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, app: 'tofu', playbook: '' });
  const task = await runTask(forge.api, setup);
  const text = await outputText(forge.api, setup.projectId, task.id);
  t.is(task.status, 'success', text);
  t.regex(text, /tofu called with: init -input=false[\s\S]*tofu called with: apply -input=false -auto-approve/);
  const dry = await runTask(forge.api, setup, { dry_run: true });
  t.regex(await outputText(forge.api, setup.projectId, dry.id), /tofu called with: plan -input=false/);
});

test('a PowerShell task runs pwsh -File with the template\'s arguments', async (t) => {
  const repo = await makeBareRepo({ 'deploy.ps1': 'Write-Output "hi"\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, app: 'powershell', playbook: 'deploy.ps1', arguments: ['-Stage', 'prod'] });
  const task = await runTask(forge.api, setup);
  t.is(task.status, 'success');
  t.true((await outputText(forge.api, setup.projectId, task.id)).includes('pwsh called with: -NonInteractive -NoProfile -File deploy.ps1 -Stage prod'));
});

test('ansible: a vault-encrypted variable opens with the vault key; --limit and --tags reach the playbook', async (t) => {
  const work = tempDir();
  const vaultPass = join(work, 'pass');
  writeFileSync(vaultPass, 'vault-pass-123\n');
  writeFileSync(join(work, 'secret.yml'), 'db_password: hidden-value-42\n');
  await runOk('ansible-vault', ['encrypt', '--vault-password-file', vaultPass, join(work, 'secret.yml')], { env: { ...process.env, ANSIBLE_LOCAL_TEMP: work, HOME: work } });
  const repo = await makeBareRepo({
    'secret.yml': readFileSync(join(work, 'secret.yml'), 'utf8'),
    'site.yml': `- hosts: all
  gather_facts: false
  vars_files: [secret.yml]
  tasks:
    - name: tagged a
      debug: { msg: "A ran with {{ db_password | length }} chars on {{ inventory_hostname }}" }
      tags: [a]
    - name: tagged b
      debug: { msg: "B ran" }
      tags: [b]
`,
  });
  const base = await setupTemplate(forge.api, {
    gitUrl: repo.path, app: 'ansible', playbook: 'site.yml',
    inventory: 'web1 ansible_connection=local ansible_python_interpreter=python3\nweb2 ansible_connection=local ansible_python_interpreter=python3\n',
  });
  const key = await forge.api.json('POST', `/api/project/${base.projectId}/keys`, { name: 'vault', type: 'login_password', login_password: { login: '', password: 'vault-pass-123' } });
  await forge.api.json('PUT', `/api/project/${base.projectId}/templates/${base.templateId}`, {
    name: 'template', app: 'ansible', playbook: 'site.yml', repository_id: base.repositoryId, environment_id: base.environmentId,
    inventory_id: base.inventoryId, vault_key_id: key.id,
  });
  const task = await runTask(forge.api, base, { limit: 'web2', tags: 'a' }, 60_000);
  const text = await outputText(forge.api, base.projectId, task.id);
  t.is(task.status, 'success', text);
  t.true(text.includes('A ran with 15 chars on web2'), text);
  t.false(text.includes('web1'));
  t.false(text.includes('B ran'));
  t.false(text.includes('vault-pass-123'));
});

test('an https repository behind basic auth clones with a login/password key, and not without it', async (t) => {
  const repo = await makeBareRepo({ 'run.sh': 'echo "cloned over http"\n' });
  const server = await startGitHttp(dirname(repo.path), 'deployer', 'http-secret-77');
  const url = `${server.url}/repo.git`;
  const project = (await forge.api.json('POST', '/api/projects', { name: 'http' })).id;
  const key = await forge.api.json('POST', `/api/project/${project}/keys`, { name: 'http', type: 'login_password', login_password: { login: 'deployer', password: 'http-secret-77' } });
  const withKey = await setupTemplate(forge.api, { projectId: project, gitUrl: url, sshKeyId: key.id });
  const ok = await runTask(forge.api, withKey);
  const text = await outputText(forge.api, project, ok.id);
  t.is(ok.status, 'success', text);
  t.true(text.includes('cloned over http'));
  t.false(text.includes('http-secret-77'));
  t.true(server.requests.some((r) => r.authorized));
  const without = await setupTemplate(forge.api, { projectId: project, gitUrl: url });
  const refused = await runTask(forge.api, without);
  t.is(refused.status, 'error');
  t.regex(refused.error, /cannot clone the repository/);
});

test('without redis-server on PATH and no redis_url, the server says how to fix it', async (t) => {
  const bin = tempDir('forge-nopath-');
  mkdirSync(join(bin, 'b'));
  symlinkSync('/bin/sh', join(bin, 'b', 'sh'));
  const result = await run(process.execPath, [BIN, 'server'], {
    cwd: bin, env: { PATH: join(bin, 'b'), HOME: bin, FORGE_DATA_DIR: join(bin, 'data'), FORGE_PORT: '0' }, timeoutMs: 30_000,
  });
  t.not(result.code, 0);
  t.regex(result.stderr + result.stdout, /redis-server was not found on PATH.*apt-get install -y redis-server.*FORGE_REDIS_URL/s);
});

test('ansible with an inventory file from the repository', async (t) => {
  const repo = await makeBareRepo({
    'inventories/prod.ini': 'db1 ansible_connection=local ansible_python_interpreter=python3\n',
    'site.yml': '- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: { msg: "hello from {{ inventory_hostname }}" }\n',
  });
  const base = await setupTemplate(forge.api, { gitUrl: repo.path, app: 'ansible', playbook: 'site.yml' });
  const inventory = await forge.api.json('POST', `/api/project/${base.projectId}/inventory`, { name: 'from repo', type: 'file', inventory: 'inventories/prod.ini' });
  await forge.api.json('PUT', `/api/project/${base.projectId}/templates/${base.templateId}`, {
    name: 'template', app: 'ansible', playbook: 'site.yml', repository_id: base.repositoryId, environment_id: base.environmentId, inventory_id: inventory.id,
  });
  const task = await runTask(forge.api, base, {}, 60_000);
  const text = await outputText(forge.api, base.projectId, task.id);
  t.is(task.status, 'success', text);
  t.true(text.includes('hello from db1'));
});
