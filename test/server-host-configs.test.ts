/**
 * Host configs (Semaphore's /project/{id}/host_configs): a repository without a key of its own is
 * cloned with the ssh key a host config maps to its git URL (`url`: a URL prefix) or to its ssh
 * host (`host`), proven by real tasks cloning from a real sshd; roles (guest reads, manager edits),
 * validation, audit events, and a key in use by a host config cannot be deleted.
 */
import test from 'ava';
import {
  ApiClient, cleanup, type Forge, makeBareRepo, outputText, runTask, setupTemplate, startForge, startSshd, type TestSshd,
} from './helpers/index.js';

let forge: Forge;
let sshd: TestSshd;
let base: string;
let projectId: number;
let sshKeyId: number;
let noneKeyId: number;
let setup: Awaited<ReturnType<typeof setupTemplate>>;

test.before(async () => {
  sshd = await startSshd();
  const repo = await makeBareRepo({ 'run.sh': 'echo "cloned with the host config key"\n' });
  forge = await startForge();
  projectId = (await forge.api.json('POST', '/api/projects', { name: 'host-configs' })).id;
  base = `/api/project/${projectId}`;
  sshKeyId = (await forge.api.json('POST', `${base}/keys`, { name: 'git host key', type: 'ssh', ssh: { login: sshd.user, private_key: sshd.privateKey } })).id;
  noneKeyId = (await forge.api.json('POST', `${base}/keys`, { name: 'None', type: 'none' })).id;
  // As Semaphore users set repositories up: the "None" key, the real one comes from the host config.
  setup = await setupTemplate(forge.api, { projectId, gitUrl: sshd.urlFor(repo.path), sshKeyId: noneKeyId });
});
test.after.always(cleanup);

test.serial('without a host config the repository cannot be cloned (it has no key)', async (t) => {
  const task = await runTask(forge.api, setup);
  t.is(task.status, 'error');
  t.regex(task.error, /cannot clone the repository/);
});

test.serial('a url host config gives its key to repositories under that URL prefix: the task clones and runs', async (t) => {
  const prefix = `ssh://${sshd.user}@127.0.0.1:${sshd.port}/`;
  const created = await forge.api.post(`${base}/host_configs`, { project_id: projectId, type: 'url', host: prefix, ssh_key_id: sshKeyId });
  t.is(created.status, 201, created.text);
  t.like(created.body, { project_id: projectId, type: 'url', host: prefix, ssh_key_id: sshKeyId });
  const task = await runTask(forge.api, setup);
  const text = await outputText(forge.api, projectId, task.id);
  t.is(task.status, 'success', text);
  t.regex(text, /cloned with the host config key/);
  t.deepEqual((await forge.api.json('GET', `${base}/host_configs`)).map((h: { id: number }) => h.id), [created.body.id]);
  t.is((await forge.api.delete(`${base}/host_configs/${created.body.id}`)).status, 204);
  t.is((await forge.api.get(`${base}/host_configs/${created.body.id}`)).status, 404);
});

test.serial('a host host config gives its key to repositories on that ssh host', async (t) => {
  const created = await forge.api.json('POST', `${base}/host_configs`, { type: 'host', host: 'github.com', ssh_key_id: sshKeyId });
  t.is((await runTask(forge.api, setup)).status, 'error', 'a config for another host does not apply');
  t.is((await forge.api.put(`${base}/host_configs/${created.id}`, { id: created.id, type: 'host', host: '127.0.0.1', ssh_key_id: sshKeyId })).status, 204);
  t.like(await forge.api.json('GET', `${base}/host_configs/${created.id}`), { type: 'host', host: '127.0.0.1' });
  const task = await runTask(forge.api, setup);
  t.is(task.status, 'success', await outputText(forge.api, projectId, task.id));
  // The key is in use now: deleting it is refused with the reason.
  const inUse = await forge.api.delete(`${base}/keys/${sshKeyId}`);
  t.is(inUse.status, 409);
  t.regex(inUse.body.error, /in use by host config "host 127\.0\.0\.1"/);
  const events = await forge.api.json('GET', `${base}/events`);
  t.true(events.some((e: { object_type: string; description: string }) => e.object_type === 'host_config' && /created/.test(e.description)));
  t.true(events.some((e: { object_type: string; description: string }) => e.object_type === 'host_config' && /updated/.test(e.description)));
});

test.serial('roles: a guest reads host configs but cannot change them; a manager can', async (t) => {
  const member = async (username: string, role: string): Promise<ApiClient> => {
    const user = await forge.api.json('POST', '/api/users', { username, password: `${username}-password-1` });
    await forge.api.json('POST', `${base}/users`, { user_id: user.id, role });
    return new ApiClient(forge.url).login(username, `${username}-password-1`);
  };
  const guest = await member('hc-guest', 'guest');
  const manager = await member('hc-manager', 'manager');
  const body = { type: 'host', host: 'git.example.com', ssh_key_id: sshKeyId };
  t.is((await guest.get(`${base}/host_configs`)).status, 200);
  t.is((await guest.post(`${base}/host_configs`, body)).status, 403);
  const made = await manager.post(`${base}/host_configs`, body);
  t.is(made.status, 201);
  t.is((await guest.delete(`${base}/host_configs/${made.body.id}`)).status, 403);
  t.is((await manager.delete(`${base}/host_configs/${made.body.id}`)).status, 204);
});

test.serial('input errors name the field', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ type: 'dns', host: 'x', ssh_key_id: sshKeyId }, /^type: expected "host"/],
    [{ type: 'host', host: '', ssh_key_id: sshKeyId }, /^host: must not be empty/],
    [{ type: 'host', host: 'x' }, /^ssh_key_id: expected the id of the ssh key/],
    [{ type: 'host', host: 'x', ssh_key_id: noneKeyId }, /^ssh_key_id: key \d+ is a "none" key; a host config needs an ssh key/],
    [{ type: 'host', host: 'x', ssh_key_id: 987_654 }, /^ssh_key_id: no such record/],
  ];
  for (const [body, error] of cases) {
    const res = await forge.api.post(`${base}/host_configs`, body);
    t.is(res.status, 400, JSON.stringify(body));
    t.regex(res.body.error, error);
  }
});
