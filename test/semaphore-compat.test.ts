/**
 * Semaphore compatibility, table-driven over test/semaphore/operations.ts (Semaphore's
 * api-docs.yml 2.16.14 as data): every operation Forge implements is sent as the document shows
 * it (its example bodies, with real ids) and must answer the document's status code with the
 * response fields it names, and match Forge's own OpenAPI description. Deletes run last, newest first, so each finds what it deletes.
 * Then: input like Semaphore's server (unknown fields ignored and debug-logged, `id` checked
 * against the path, nulls accepted).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ADMIN_LOGIN, ADMIN_PASSWORD, type ApiClient, cleanup, type Forge, FINAL, makeBareRepo, OpenApiChecker, runOk, runTask, setupTemplate, SocketClient, startForge, tempDir, waitFor,
  waitForTask, wsUrl,
} from './helpers/index.js';
import { oidcLoginUntilCallback, type OidcProvider, startOidcProvider } from './helpers/oidc.js';
import { OPERATIONS, type Operation } from './semaphore/operations.js';

let forge: Forge;
/** A real OpenID provider for the OIDC login operations, and Forge's callback URL at it. */
let idp: OidcProvider;
let oidcCallbackUrl: string;
test.before(async () => {
  idp = await startOidcProvider();
  forge = await startForge({
    env: { FORGE_LOG_LEVEL: 'debug' },
    configFile: { oidc_providers: { mysso: { display_name: 'Sign in with MySSO', provider_url: idp.issuer, client_id: 'forge', client_secret: 'forge-secret' } } },
  });
  oidcCallbackUrl = `${(await forge.api.json('GET', '/api/info')).web_host}/api/auth/oidc/mysso/redirect`;
  idp.registerClient({ client_id: 'forge', client_secret: 'forge-secret', redirect_uris: [oidcCallbackUrl] });
  idp.signInAs({ sub: 'sso-user', email: 'sso@example.test', email_verified: true, preferred_username: 'sso-user' });
});
test.after.always(cleanup);

/** The collection a path's trailing {id} belongs to: the path without it. */
const collectionOf = (path: string) => path.replace(/\/\{(id|runner_id|alias_id)\}.*$/, '');

test.serial('the table holds all 132 operations of api-docs.yml 2.16.14, each once', (t) => {
  t.is(OPERATIONS.length, 132);
  const keys = OPERATIONS.map((o) => `${o.method} ${o.path.replace(/\?.*/, '')}`);
  t.is(new Set(keys).size, keys.length, 'no operation twice');
  const implemented = OPERATIONS.filter((o) => o.forge === 'yes').length;
  t.log(`Forge implements ${implemented} of 132`);
  t.is(implemented, 132, `only ${implemented} implemented`);
});

test.serial('every implemented operation answers as api-docs.yml describes: status code and response field names', async (t) => {
  const api = forge.api;
  const repo = await makeBareRepo({ 'slow.sh': 'echo started\nsleep 60\n', 'quick.sh': 'echo hello from forge\n' });
  const setup = await setupTemplate(api, { gitUrl: repo.path, app: 'bash', playbook: 'slow.sh', inventory: 'localhost' });
  const pid = setup.projectId;
  const quick = await api.json('POST', `/api/project/${pid}/templates`, { name: 'quick', app: 'bash', playbook: 'quick.sh', repository_id: setup.repositoryId });
  const finished = await runTask(api, { ...setup, templateId: quick.id });
  const key = await api.json('POST', `/api/project/${pid}/keys`, { name: 'shared', type: 'none' });
  const keyDir = tempDir('forge-compat-key-');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'key')]);
  const sshKey = await api.json('POST', `/api/project/${pid}/keys`, { name: 'ssh', type: 'ssh', ssh: { login: 'git', private_key: readFileSync(join(keyDir, 'key'), 'utf8') } });
  await api.json('POST', `/api/project/${pid}/host_configs`, { type: 'url', host: 'ssh://git@git.example.com/', ssh_key_id: sshKey.id });
  const view = await api.json('POST', `/api/project/${pid}/views`, { title: 'Shared' });
  const member = await api.json('POST', '/api/users', { username: 'member', password: 'member-password-1' });
  await api.json('POST', '/api/user/tokens', { name: 'listed' });
  await api.json('POST', '/api/runners', { name: 'listed', tags: ['gpu'] });
  await api.json('POST', `/api/project/${pid}/runners`, { name: 'listed' });

  const values: Record<string, number | string> = {
    project_id: pid, key_id: key.id, repository_id: setup.repositoryId, inventory_id: setup.inventoryId!, environment_id: setup.environmentId,
    view_id: view.id, ssh_key_id: sshKey.id, template_id: setup.templateId, quick_template_id: quick.id, task_id: finished.id, admin_login: ADMIN_LOGIN,
    admin_password: ADMIN_PASSWORD, provider_id: 'mysso',
  };
  const created = new Map<string, number | string>();
  const placeholder = (op: Operation, name: string): number | string => {
    if (name === 'user_id') return op.path.startsWith('/users/') ? created.get('/users')! : member.id;
    if (name === 'api_token_id') return created.get('/user/tokens')!;
    if (name === 'id' || name === 'runner_id' || name === 'alias_id') return created.get(collectionOf(op.path))!;
    if (name === 'integration_id') return created.get('/project/{project_id}/integrations')!;
    if (name === 'schedule_id') return created.get('/project/{project_id}/schedules')!;
    if (name === 'task_id' && /\/stop$/.test(op.path)) return created.get('/project/{project_id}/tasks')!;
    if (name === 'task_id' && op.method === 'DELETE') return created.get('/project/{project_id}/tasks')!;
    if (name === 'workflow_id') return created.get('/project/{project_id}/workflows')!;
    if (name === 'run_id') return created.get('/project/{project_id}/workflows/{workflow_id}/run')!;
    if (name === 'node_id') return 1; // the approval node of BODIES.workflow
    if (!(name in values)) throw new Error(`no value for {${name}} in ${op.path}`);
    return values[name]!;
  };
  const fillPath = (op: Operation) => `/api${op.path.replace(/\{(\w+)\}/g, (_, name: string) => String(placeholder(op, name)))}`;
  const fillBody = (op: Operation, body: unknown): unknown => {
    if (typeof body === 'string') {
      const m = /^\{(\w+)\}$/.exec(body);
      return m ? placeholder(op, m[1]!) : body;
    }
    if (Array.isArray(body)) return body.map((x) => fillBody(op, x));
    if (body && typeof body === 'object') return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, fillBody(op, v)]));
    return body;
  };

  const openapi = await OpenApiChecker.load(api);
  const run = async (op: Operation, client: ApiClient) => {
    let path = fillPath(op);
    const headers: Record<string, string> = {};
    if (op.path === '/auth/oidc/{provider_id}/redirect') {
      // The callback as the provider sends the browser to it, with the state cookie of that browser.
      const { jar, callback } = await oidcLoginUntilCallback(forge.url, 'mysso', oidcCallbackUrl);
      path = callback.slice(callback.indexOf('/api/'));
      headers.cookie = jar.header();
    }
    if (op.status === 101) {
      // GET /ws: a WebSocket upgrade, made by a real client with the same credentials.
      const socket = await SocketClient.open(wsUrl(forge.url, path), client.authHeaders());
      t.is((await socket.next()).event, 'hello', `${op.method} ${op.path} upgrades and greets`);
      socket.close();
      return;
    }
    if (op.method === 'DELETE' && /\/tasks\/\{task_id\}$/.test(op.path)) await waitForTask(api, pid, Number(placeholder(op, 'task_id')), FINAL, 60_000);
    if (op.method === 'DELETE' && /\/workflows\/\{workflow_id\}$/.test(op.path)) {
      const runPath = `/api/project/${pid}/workflows/${placeholder(op, 'workflow_id')}/runs/${placeholder(op, 'run_id')}`;
      await waitFor(async () => ['success', 'failed', 'rejected'].includes((await api.json('GET', runPath)).run.status), 60_000, { what: 'the workflow run to end' });
    }
    const res = await client.request(op.method, path, { headers, redirect: 'manual', ...(op.body === undefined ? {} : { json: fillBody(op, op.body) }) });
    const label = `${op.method} ${op.path} (${path})`;
    t.is(res.status, op.status, `${label} → ${res.status} ${res.text.slice(0, 300)}`);
    t.deepEqual(openapi.problems(op.method, `/api${op.path}`, res), [], `${label} matches /api/openapi.json`);
    if (op.method === 'POST' && res.status < 300 && res.body && 'id' in res.body) created.set(op.path, res.body.id);
    if (op.array) {
      t.true(Array.isArray(res.body), `${label} answers an array`);
      if (op.fields && Array.isArray(res.body)) {
        t.true(res.body.length > 0, `${label} answers at least one item to check`);
        for (const item of res.body) for (const field of op.fields) t.true(field in item, `${label}: an item lacks "${field}"`);
      }
    } else if (op.fields) {
      for (const field of op.fields) t.true(res.body && field in res.body, `${label}: no "${field}" in ${res.text.slice(0, 300)}`);
    }
  };

  const implemented = OPERATIONS.filter((o) => o.forge === 'yes');
  const side = api.anonymous();
  for (const op of implemented.filter((o) => o.method !== 'DELETE')) await run(op, op.path.startsWith('/auth/') ? side : api);
  for (const op of implemented.filter((o) => o.method === 'DELETE').reverse()) await run(op, api);

  // What the deletes deleted is gone, and the token deleted by the id creation returned stops working.
  t.is((await api.get(`/api/project/${pid}`)).status, 404);
  t.is((await api.get(`/api/users/${created.get('/users')}`)).status, 404);
  t.is((await api.withToken(String(created.get('/user/tokens'))).get('/api/user')).status, 401);
});

test.serial('input as Semaphore sends it: unknown fields ignored (debug log), ids checked against the path, nulls accepted', async (t) => {
  const api = forge.api;
  const project = await api.json('POST', '/api/projects', { id: 0, name: 'lenient', demo: true, some_new_field: { nested: 1 }, alert_chat: null });
  t.is(project.name, 'lenient');
  t.is(project.alert_chat, null);
  t.regex(forge.logs(), /ignored unknown request fields.*some_new_field/);
  const base = `/api/project/${project.id}`;
  // An update that leaves fields out (as the web UI does) keeps them.
  await api.json('PUT', base, { name: 'lenient', alert: true, alert_chat: 'ops' });
  await api.json('PUT', base, { name: 'renamed' });
  t.like(await api.json('GET', base), { name: 'renamed', alert: true, alert_chat: 'ops' });
  const env = await api.json('POST', `${base}/environment`, { name: 'e', json: '{}', env: null, password: 'vault-secret-1', secrets: null });
  t.is(env.env, '{}');
  t.is(env.password, null, 'the password is never returned');
  t.true(env.password_set);
  // Sending back what was read (password: null) keeps the password.
  t.is((await api.put(`${base}/environment/${env.id}`, { ...env, name: 'e2' })).status, 204);
  t.true((await api.json('GET', `${base}/environment/${env.id}`)).password_set);
  const mismatch = await api.put(`${base}/environment/${env.id}`, { ...env, id: env.id + 1 });
  t.is(mismatch.status, 400);
  t.regex(mismatch.body.error, /^id: must match/);
  const otherProject = await api.put(`${base}/environment/${env.id}`, { ...env, project_id: project.id + 1000 });
  t.is(otherProject.status, 400);
  t.regex(otherProject.body.error, /^project_id:/);
  // Precise errors stay for fields Forge uses.
  const bad = await api.post(`${base}/repositories`, { name: 'r', git_url: 'has spaces in it', unknown: 1 });
  t.is(bad.status, 400);
  t.regex(bad.body.error, /^git_url:/);
  // login (Forge's old name) and username both work for users.
  const viaLogin = await api.json('POST', '/api/users', { login: 'old-style', password: 'old-style-pass' });
  t.is(viaLogin.username, 'old-style');
});

test.serial('a backup restores into a new project with the same records (host configs and workflows too), references by name, and no secrets', async (t) => {
  const api = forge.api;
  const repo = await makeBareRepo({ 'run.sh': 'echo restored\n' });
  const setup = await setupTemplate(api, { gitUrl: repo.path, app: 'bash', playbook: 'run.sh', inventory: 'localhost', secrets: [{ name: 'TOKEN', secret: 'never-in-a-backup' }] });
  const base = `/api/project/${setup.projectId}`;
  const key = await api.json('POST', `${base}/keys`, { name: 'deploy', type: 'login_password', login_password: { login: 'u', password: 'never-either' } });
  await api.json('PUT', `${base}/repositories/${setup.repositoryId}`, { name: 'repo', git_url: repo.path, ssh_key_id: key.id });
  const view = await api.json('POST', `${base}/views`, { title: 'Deploys', position: 2 });
  const template = await api.json('GET', `${base}/templates/${setup.templateId}`);
  await api.json('PUT', `${base}/templates/${setup.templateId}`, { ...template, view_id: view.id, type: 'build', start_version: '1.0.0', survey_vars: [{ name: 'region', title: 'Region', required: false }] });
  const sshKey = await api.json('POST', `${base}/keys`, { name: 'git host', type: 'ssh', ssh: { private_key: '-----BEGIN OPENSSH PRIVATE KEY-----\nnever-as-well\n-----END OPENSSH PRIVATE KEY-----\n' } });
  await api.json('POST', `${base}/host_configs`, { type: 'url', host: 'ssh://git@git.example.com/team/', ssh_key_id: sshKey.id });
  await api.json('POST', `${base}/workflows`, {
    name: 'gated', description: 'build, then a human says yes',
    nodes: [{ id: 1, kind: 'task', template_id: setup.templateId, task_params: { message: 'built by the workflow' } }, { id: 2, kind: 'approval', approval_message: 'Ship it?', approval_timeout: 60 }],
    edges: [{ source_node_id: 1, destination_node_id: 2, condition: 'on_success' }],
  });

  const backup = await api.get(`${base}/backup`);
  t.is(backup.status, 200);
  t.false(/never-in-a-backup|never-either|never-as-well/.test(backup.text), 'no secret in the backup');
  t.like(backup.body.host_configs[0], { type: 'url', host: 'ssh://git@git.example.com/team/', ssh_key: 'git host' });
  t.like(backup.body.workflows[0].nodes[0], { id: 1, kind: 'task', template: template.name });

  // A backup whose workflow names a template it does not have, or whose host config's key is no ssh key, restores nothing.
  const projectsBefore = (await api.json('GET', '/api/projects')).length;
  const badWorkflow = await api.post('/api/projects/restore', { ...backup.body, workflows: [{ ...backup.body.workflows[0], nodes: [{ id: 1, kind: 'task', template: 'no such template' }] }] });
  t.is(badWorkflow.status, 400);
  t.regex(badWorkflow.body.error, /^workflows\.0\.nodes\.0\.template: no template named "no such template"/);
  const badHost = await api.post('/api/projects/restore', { ...backup.body, host_configs: [{ type: 'url', host: 'ssh://x/', ssh_key: 'deploy' }] });
  t.is(badHost.status, 400);
  t.regex(badHost.body.error, /^host_configs\.0\.ssh_key: key "deploy" is a "login_password" key/);
  t.is((await api.json('GET', '/api/projects')).length, projectsBefore);

  // Semaphore's own backups have neither: they restore as before.
  const { host_configs: _h, workflows: _w, ...semaphoreBackup } = backup.body;
  const plain = await api.json('POST', '/api/projects/restore', semaphoreBackup);
  t.deepEqual(await api.json('GET', `/api/project/${plain.id}/host_configs`), []);
  t.deepEqual(await api.json('GET', `/api/project/${plain.id}/workflows`), []);

  const restored = await api.json('POST', '/api/projects/restore', backup.body);
  t.not(restored.id, setup.projectId);
  const copy = `/api/project/${restored.id}`;
  const [templates, repositories, keys, views] = await Promise.all([
    api.json('GET', `${copy}/templates`), api.json('GET', `${copy}/repositories`), api.json('GET', `${copy}/keys`), api.json('GET', `${copy}/views`),
  ]);
  t.is(templates.length, 1);
  t.like(templates[0], { name: template.name, app: 'bash', playbook: 'run.sh', type: 'build', start_version: '1.0.0', view_id: views[0].id, repository_id: repositories[0].id });
  t.is(templates[0].survey_vars[0].name, 'region');
  t.is(repositories[0].ssh_key_id, keys.find((k: { name: string }) => k.name === 'deploy').id);
  const [hostConfigs, workflows] = await Promise.all([api.json('GET', `${copy}/host_configs`), api.json('GET', `${copy}/workflows`)]);
  t.is(hostConfigs.length, 1);
  t.like(hostConfigs[0], { type: 'url', host: 'ssh://git@git.example.com/team/', ssh_key_id: keys.find((k: { name: string }) => k.name === 'git host').id });
  t.is(workflows.length, 1);
  t.like(workflows[0], { name: 'gated', description: 'build, then a human says yes', project_id: restored.id });
  t.like(workflows[0].nodes[0], { id: 1, kind: 'task', template_id: templates[0].id, task_params: { message: 'built by the workflow' } });
  t.like(workflows[0].nodes[1], { id: 2, kind: 'approval', approval_message: 'Ship it?', approval_timeout: 60, workflow_template_id: workflows[0].id });
  t.like(workflows[0].edges[0], { source_node_id: 1, destination_node_id: 2, condition: 'on_success' });
  // The restored project runs (its repository needs no secret).
  await api.json('PUT', `${copy}/repositories/${repositories[0].id}`, { ...repositories[0], ssh_key_id: null });
  const task = await runTask(api, { projectId: restored.id, templateId: templates[0].id });
  t.is(task.status, 'success');
});
