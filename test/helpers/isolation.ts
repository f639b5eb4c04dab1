/**
 * The attacks of the task-isolation issue, as tests that run against a target: the server's local
 * worker or a remote runner (isolation-local.test.ts, isolation-runner.test.ts). Each task probes
 * what it must not reach and prints "LEAK: what" when it gets through, "blocked: what" otherwise.
 */
import test from 'ava';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { secretsDirFor } from '../../workers/executor/credentials.js';
import { FINAL, type TemplateSetup, outputText, runTask, setupTemplate, startTask, waitForTask } from './fixtures.js';
import type { Forge } from './forge.js';
import { makeBareRepo } from './git.js';
import { startGitHttp } from './git-http.js';
import { processesWith, startGate, uniqueMarker } from './sandbox.js';
import { projectRoot, runOk, tempDir, waitFor } from './util.js';

export interface Target {
  forge: Forge;
  /** Where this target's tasks get their work folders (the server's or the runner's tmp_path). */
  tasksDir: string;
  /** A value only the server or runner process has in its environment. */
  processSecret: string;
  /** Files of the server or runner that no task may read. */
  privateFiles: string[];
  /** Template fields that send a task to this target (e.g. a runner tag). */
  template?: Record<string, unknown>;
}

export const DURATION_LIMIT_SEC = 45;

/** Bash that tries `command` and reports whether it got through. */
const probe = (what: string, command: string) => `if ( ${command} ) >/dev/null 2>&1; then echo "LEAK: ${what}"; else echo "blocked: ${what}"; fi`;

async function runScript(target: Target, script: string, options: { env?: Record<string, string>; secrets?: Array<{ name: string; secret: string }>; timeoutMs?: number } = {}) {
  const repo = await makeBareRepo({ 'run.sh': script });
  const setup = await setupTemplate(target.forge.api, { gitUrl: repo.path, env: options.env, secrets: options.secrets, template: target.template });
  const task = await runTask(target.forge.api, setup, {}, options.timeoutMs ?? 60_000);
  return { task, setup, text: await outputText(target.forge.api, setup.projectId, task.id) };
}

function assertBlocked(t: import('ava').ExecutionContext, text: string, probes: number): void {
  t.false(/LEAK:/.test(text), text);
  t.is((text.match(/^blocked: /gm) ?? []).length, probes, text);
}

export function isolationTests(label: string, target: () => Target): void {
  test(`${label}: the task's environment holds nothing of the server or runner process (no FORGE_*, no token), and it runs unprivileged`, async (t) => {
    const { task, text } = await runScript(target(), 'env\necho "uid=$(id -u)"\n');
    t.is(task.status, 'success', text);
    const forgeVars = [...text.matchAll(/^(FORGE_\w+)=/gm)].map((m) => m[1]).sort();
    t.deepEqual(forgeVars, ['FORGE_EXTRA_VARS', 'FORGE_TASK_ID']);
    t.false(text.includes(target().processSecret), 'a variable of the server or runner reached the task');
    t.false(text.includes('admin-password-123'));
    t.regex(text, /^HOME=\/forge\/task\/home$/m);
    t.notRegex(text, /^LC_ALL=C$/m, 'the clone runs in the C locale; the app keeps the runner\'s');
    t.notRegex(text, /^uid=0$/m, 'tasks of a root Forge run as task_user');
  });

  test(`${label}: a local repository with a working tree, owned by another user, clones as the task user`, async (t) => {
    // git refuses a repository another user owns unless it is named safe; one with a working tree is checked by its .git.
    const repo = await makeBareRepo({ 'run.sh': 'echo "ran as uid $(id -u)"\n' });
    const setup = await setupTemplate(target().forge.api, { gitUrl: repo.worktree, template: target().template });
    const task = await runTask(target().forge.api, setup, {}, 60_000);
    const text = await outputText(target().forge.api, setup.projectId, task.id);
    t.is(task.status, 'success', text);
    t.regex(text, /^ran as uid \d+$/m);
    t.notRegex(text, /^ran as uid 0$/m);
  });

  test(`${label}: data_dir, the access key file, the Redis socket and Forge's own installation are out of reach`, async (t) => {
    const { forge } = target();
    writeFileSync(join(forge.dirs.data, 'access_key_encryption'), 'decoy-key-file\n', { mode: 0o600 });
    const script = [
      probe('data_dir', `ls "${forge.dirs.data}" | grep -q .`),
      probe('access key', `cat "${forge.dirs.data}/access_key_encryption"`),
      probe('redis socket', `redis-cli -s "${forge.dirs.data}/redis/redis.sock" ping | grep -q PONG`),
      probe('redis socket (python)', `python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "${forge.dirs.data}/redis/redis.sock"`),
      probe('forge installation', `cat "${projectRoot}/package.json"`),
      probe('other tasks (tmp_path)', `ls "${target().tasksDir}" | grep -q .`),
    ].join('\n') + '\n';
    const { task, text } = await runScript(target(), script);
    t.is(task.status, 'success', text);
    assertBlocked(t, text, 6);
    t.false(text.includes('decoy-key-file'));
  });

  test(`${label}: /proc shows only the task's own processes; /proc/$PPID and the server or runner files reveal nothing`, async (t) => {
    const files = target().privateFiles;
    const script = [
      'echo "parent: $(tr "\\0" " " < /proc/$PPID/cmdline)"',
      'echo "pids: $(ls /proc | grep -c "^[0-9]")"',
      ...files.map((file, i) => probe(`private file ${i}`, `cat "${file}"`)),
    ].join('\n') + '\n';
    const { task, text } = await runScript(target(), script);
    t.is(task.status, 'success', text);
    assertBlocked(t, text, files.length);
    t.notRegex(text, /bin\/run\.js|runner start|forge server/, 'the parent process is the sandbox, not Forge');
    const pids = Number(/pids: (\d+)/.exec(text)?.[1]);
    t.true(pids > 0 && pids <= 6, `the task sees ${pids} processes`);
  });

  test(`${label}: the system is read-only; the task writes only its checkout, HOME and a private /tmp`, async (t) => {
    const script = [
      probe('write /etc', 'touch /etc/forge-was-here'),
      probe('write /usr', 'touch /usr/forge-was-here'),
      'touch "$HOME/ok" ./ok /tmp/ok && echo "own folders writable"',
    ].join('\n') + '\n';
    const { task, text } = await runScript(target(), script);
    t.is(task.status, 'success', text);
    assertBlocked(t, text, 2);
    t.true(text.includes('own folders writable'), text);
  });

  test(`${label}: another running task's secrets (vault password, inventory) are out of reach, and removed when it ends`, async (t) => {
    const { forge } = target();
    const gate = await startGate();
    const vaultPassword = `vault-${uniqueMarker()}-pass`;
    const holder = await makeBareRepo({
      'site.yml': `- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.shell: "echo holding; ${gate.wait}"\n      args: { executable: /bin/bash }\n`,
    });
    const base = await setupTemplate(forge.api, {
      gitUrl: holder.path, app: 'ansible', playbook: 'site.yml', template: target().template,
      inventory: 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n',
    });
    const key = await forge.api.json('POST', `/api/project/${base.projectId}/keys`, { name: 'vault', type: 'login_password', login_password: { login: '', password: vaultPassword } });
    await forge.api.json('PUT', `/api/project/${base.projectId}/templates/${base.templateId}`, {
      name: 'template', app: 'ansible', playbook: 'site.yml', repository_id: base.repositoryId, environment_id: base.environmentId,
      inventory_id: base.inventoryId, vault_key_id: key.id, ...(target().template ?? {}),
    });
    const holding = await startTask(forge.api, base.projectId, base.templateId);
    const secretsDir = secretsDirFor(join(target().tasksDir, `task_${holding.id}_1`), '');
    await waitFor(() => existsSync(join(secretsDir, 'vault_password')), 60_000, { what: 'the first task to write its vault password file' });

    const thief = await runScript(target(), [
      'for f in /dev/shm/forge-secrets-*/* /tmp/forge-secrets-*/* /forge/secrets/* "$TASKS"/*/* "$TASKS"/*/*/*; do cat "$f"; done 2>/dev/null',
      `cat "${secretsDir}/vault_password" 2>/dev/null`,
      'echo searched',
    ].join('\n') + '\n', { env: { TASKS: target().tasksDir } });
    t.is(thief.task.status, 'success', thief.text);
    t.true(thief.text.includes('searched'));
    t.false(thief.text.includes(vaultPassword), 'the other task\'s vault password was read');
    t.false(thief.text.includes('ansible_connection=local'), 'the other task\'s inventory was read');

    gate.open();
    const done = await waitForTask(forge.api, base.projectId, holding.id, FINAL, 60_000);
    t.is(done.status, 'success', await outputText(forge.api, base.projectId, holding.id));
    t.false(existsSync(secretsDir), 'the secrets folder is removed when the task ends');
  });

  test(`${label}: playbook, inventory file and working directory must stay inside the checkout`, async (t) => {
    const { forge } = target();
    const repo = await makeBareRepo({ 'run.sh': 'echo ran\n', 'site.yml': '- hosts: all\n  tasks: []\n', 'main.tf': 'terraform {}\n' });
    // A symlink committed in the repository pointing out of it.
    const linked = await makeBareRepo({ 'run.sh': 'echo ran\n' });
    const cases: Array<{ fields: Record<string, unknown>; inventory?: string; field: RegExp }> = [
      { fields: { app: 'bash', playbook: '/etc/passwd' }, field: /playbook "\/etc\/passwd" is an absolute path/ },
      { fields: { app: 'bash', playbook: '../../../../etc/passwd' }, field: /playbook "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd" points outside/ },
      { fields: { app: 'terraform', playbook: '../..' }, field: /playbook "\.\.\/\.\." points outside/ },
      { fields: { app: 'ansible', playbook: 'site.yml' }, inventory: '../../../data/access_key_encryption', field: /inventory "\.\.\/\.\.\/\.\.\/data\/access_key_encryption" points outside/ },
    ];
    for (const c of cases) {
      const setup: TemplateSetup = await setupTemplate(forge.api, { gitUrl: repo.path, template: target().template });
      let inventoryId = setup.inventoryId;
      if (c.inventory) inventoryId = (await forge.api.json('POST', `/api/project/${setup.projectId}/inventory`, { name: 'file', type: 'file', inventory: c.inventory })).id;
      await forge.api.json('PUT', `/api/project/${setup.projectId}/templates/${setup.templateId}`, {
        name: 'template', repository_id: setup.repositoryId, environment_id: setup.environmentId, inventory_id: inventoryId, ...c.fields, ...(target().template ?? {}),
      });
      const task = await runTask(forge.api, setup, {}, 60_000);
      t.is(task.status, 'error', JSON.stringify(c.fields));
      t.regex(task.error, c.field);
    }
    // A symlink in the repository that leads out of the checkout.
    const work = tempDir();
    const git = (args: string[], cwd: string) => runOk('git', args, { cwd, env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
    await git(['clone', '-q', linked.path, join(work, 'clone')], work);
    symlinkSync('/etc/passwd', join(work, 'clone', 'escape.sh'));
    await git(['add', 'escape.sh'], join(work, 'clone'));
    await git(['commit', '-qm', 'symlink'], join(work, 'clone'));
    await git(['push', '-q', 'origin', `HEAD:${linked.branch}`], join(work, 'clone'));
    const setup = await setupTemplate(forge.api, { gitUrl: linked.path, playbook: 'escape.sh', template: target().template });
    const task = await runTask(forge.api, setup, {}, 60_000);
    t.is(task.status, 'error');
    t.regex(task.error, /playbook "escape\.sh" points outside the repository checkout/);
    t.false((await outputText(forge.api, setup.projectId, task.id)).includes('root:x:0'));
  });

  test(`${label}: setsid and double-forked processes end with the task`, async (t) => {
    const marker = uniqueMarker();
    const { task, text } = await runScript(target(), `setsid sleep 1000.${marker} &\n( ( sleep 1001.${marker} & ) & )\nnohup sleep 1002.${marker} >/dev/null 2>&1 &\ndisown\nsleep 0.3\necho started\n`);
    t.is(task.status, 'success', text);
    await waitFor(() => processesWith(marker).length === 0, 10_000, { what: 'every daemonised process to end with the task' });
    t.pass();
  });

  test(`${label}: stop ends a task and everything it daemonised`, async (t) => {
    const { forge } = target();
    const marker = uniqueMarker();
    const repo = await makeBareRepo({ 'run.sh': `setsid sleep 1000.${marker} &\n( ( trap "" TERM; sleep 1001.${marker} & ) & )\necho started\nsleep 1002.${marker}\n` });
    const setup = await setupTemplate(forge.api, { gitUrl: repo.path, template: target().template });
    const task = await startTask(forge.api, setup.projectId, setup.templateId);
    await waitFor(() => processesWith(marker).length >= 3, 60_000, { what: 'the task to start its processes' });
    await forge.api.json('POST', `/api/project/${setup.projectId}/tasks/${task.id}/stop`);
    const stopped = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 30_000);
    t.is(stopped.status, 'stopped');
    await waitFor(() => processesWith(marker).length === 0, 10_000, { what: 'every process of the stopped task to end' });
  });

  test(`${label}: the duration limit ends a task and everything it daemonised`, async (t) => {
    const marker = uniqueMarker();
    const { task, text } = await runScript(target(), `setsid sleep 1000.${marker} &\n( ( sleep 1001.${marker} & ) & )\necho started\nsleep 1002.${marker}\n`, { timeoutMs: (DURATION_LIMIT_SEC + 60) * 1000 });
    t.is(task.status, 'error', text);
    t.regex(task.error, /max_task_duration_sec/);
    await waitFor(() => processesWith(marker).length === 0, 10_000, { what: 'every process of the task to end at the limit' });
  });

  test(`${label}: a clone over fd:: is refused at once, and a clone that hangs stops on request`, async (t) => {
    const { forge } = target();
    const fd = await setupTemplate(forge.api, { gitUrl: 'fd::3', template: target().template });
    const refused = await runTask(forge.api, fd, {}, 60_000);
    t.is(refused.status, 'error');
    t.regex(refused.error, /cannot clone the repository: .*(not allowed|fd)/);
    // A git server that accepts the connection and never answers: the clone hangs until stopped.
    const silent = createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.teardown(() => silent.close());
    const hanging = await setupTemplate(forge.api, { gitUrl: `git://127.0.0.1:${(silent.address() as { port: number }).port}/repo.git`, template: target().template });
    const task = await startTask(forge.api, hanging.projectId, hanging.templateId);
    await waitFor(async () => (await outputText(forge.api, hanging.projectId, task.id)).includes('Cloning'), 60_000, { what: 'the clone to begin' });
    const asked = Date.now();
    await forge.api.json('POST', `/api/project/${hanging.projectId}/tasks/${task.id}/stop`);
    const stopped = await waitForTask(forge.api, hanging.projectId, task.id, FINAL, 30_000);
    const took = Date.now() - asked;
    t.is(stopped.status, 'stopped');
    t.log(`stopped ${took} ms after the request`);
    t.true(took < 10_000, `the clone stopped after ${took} ms`);
  });

  test(`${label}: secrets are masked in base64, base64url, URL-encoded and hex forms, and when split across writes`, async (t) => {
    const secret = 'Sup3r/Secret+Value?42';
    const script = [
      'printf "%s" "$S" | base64',
      'printf "%s" "$S" | base64 | tr "+/" "-_" | tr -d "="',
      'printf "x%s" "$S" | base64',
      'printf "xy%s" "$S" | base64',
      'python3 -c "import os, urllib.parse; print(urllib.parse.quote(os.environ[\'S\'], safe=\'\'))"',
      'printf "%s" "$S" | od -An -tx1 | tr -d " \\n"; echo',
      'printf "%s" "${S:0:7}"; sleep 0.3; printf "%s\\n" "${S:7}"',
      'echo done',
    ].join('\n') + '\n';
    const { task, text } = await runScript(target(), script, { secrets: [{ name: 'S', secret }] });
    t.is(task.status, 'success', text);
    const bytes = Buffer.from(secret);
    const forms = [
      secret, bytes.toString('base64'), bytes.toString('base64url'), encodeURIComponent(secret), bytes.toString('hex'),
      Buffer.from(`x${secret}`).toString('base64').slice(2, -2), Buffer.from(`xy${secret}`).toString('base64').slice(4, -2),
    ];
    for (const form of forms) t.false(text.includes(form), `"${form}" printed in clear:\n${text}`);
    t.true((text.match(/\*{8}/g) ?? []).length >= 7, text);
  });

  test(`${label}: repository credentials reach only the clone, never the app's environment or git config`, async (t) => {
    const { forge } = target();
    const repo = await makeBareRepo({ 'run.sh': 'env\ngit config --list --show-origin 2>&1\nls -a /forge/secrets\necho listed\n' });
    const password = `http-pass-${uniqueMarker()}`;
    const server = await startGitHttp(dirname(repo.path), 'deployer', password);
    const project = (await forge.api.json('POST', '/api/projects', { name: 'creds' })).id;
    const key = await forge.api.json('POST', `/api/project/${project}/keys`, { name: 'http', type: 'login_password', login_password: { login: 'deployer', password } });
    const setup = await setupTemplate(forge.api, { projectId: project, gitUrl: `${server.url}/repo.git`, sshKeyId: key.id, template: target().template });
    const task = await runTask(forge.api, setup, {}, 60_000);
    const text = await outputText(forge.api, project, task.id);
    t.is(task.status, 'success', text);
    t.true(server.requests.some((r) => r.authorized), 'the clone authenticated');
    t.true(text.includes('listed'));
    for (const leak of [password, Buffer.from(`deployer:${password}`).toString('base64'), 'Authorization', 'GIT_CONFIG', 'git_credential', 'credential.http://127.0.0.1']) {
      t.false(text.includes(leak), `"${leak}" reached the app step:\n${text}`);
    }
  });
}
