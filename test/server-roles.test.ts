/**
 * Project roles with Semaphore's meaning, enforced on the routes: a guest reads, a task_runner
 * also runs and stops tasks, a manager also edits records, an owner also manages members and the
 * project; a non-member sees 404 everywhere. Also: the audit log says who did what.
 */
import test from 'ava';
import { ApiClient, cleanup, type Forge, makeBareRepo, setupTemplate, startForge, type TemplateSetup } from './helpers/index.js';

let forge: Forge;
let setup: TemplateSetup;
const as: Record<'owner' | 'manager' | 'task_runner' | 'guest' | 'outsider', { id: number; api: ApiClient }> = {} as never;

test.before(async () => {
  forge = await startForge();
  const repo = await makeBareRepo({ 'slow.sh': 'echo started\nsleep 60\n' });
  setup = await setupTemplate(forge.api, { gitUrl: repo.path, app: 'bash', playbook: 'slow.sh' });
  for (const name of ['owner', 'manager', 'task_runner', 'guest', 'outsider'] as const) {
    const password = `${name}-password-1`;
    const user = await forge.api.json('POST', '/api/users', { username: name.replace('_', '-'), password });
    as[name] = { id: user.id, api: await new ApiClient(forge.url).login(name.replace('_', '-'), password) };
    if (name !== 'outsider') await forge.api.json('POST', `/api/project/${setup.projectId}/users`, { user_id: user.id, role: name });
  }
});
test.after.always(cleanup);

const base = () => `/api/project/${setup.projectId}`;
const templateBody = () => ({ name: 'renamed', app: 'bash', playbook: 'slow.sh', repository_id: setup.repositoryId });

test.serial('each member gets their role and its permission bits from /role; members are listed with roles', async (t) => {
  const expected = { owner: 15, manager: 5, task_runner: 1, guest: 0 } as const;
  for (const [role, permissions] of Object.entries(expected)) {
    const answer = await as[role as keyof typeof expected].api.json('GET', `${base()}/role`);
    t.deepEqual(answer, { role, permissions });
  }
  const members = await forge.api.json('GET', `${base()}/users?sort=username&order=asc`);
  t.deepEqual(members.map((m: { username: string; role: string }) => `${m.username}:${m.role}`), ['admin:owner', 'guest:guest', 'manager:manager', 'owner:owner', 'task-runner:task_runner']);
});

test.serial('a guest reads but cannot run or stop tasks or change anything', async (t) => {
  const guest = as.guest.api;
  t.is((await guest.get(`${base()}/templates`)).status, 200);
  t.is((await guest.get(`${base()}/tasks`)).status, 200);
  const run = await guest.post(`${base()}/tasks`, { template_id: setup.templateId });
  t.is(run.status, 403);
  t.regex(run.body.error, /your role in project \d+ is guest; this needs task_runner, manager or owner/);
  t.is((await guest.put(`${base()}/templates/${setup.templateId}`, templateBody())).status, 403);
  t.is((await guest.post(`${base()}/keys`, { name: 'k', type: 'none' })).status, 403);
});

test.serial('a task_runner runs and stops tasks but cannot edit a template or add keys', async (t) => {
  const runner = as.task_runner.api;
  const task = await runner.json('POST', `${base()}/tasks`, { template_id: setup.templateId });
  t.is(task.status, 'waiting');
  t.is((await runner.post(`${base()}/tasks/${task.id}/stop`, { force: true })).status, 204);
  t.is((await runner.post(`${base()}/templates/${setup.templateId}/stop_all_tasks`)).status, 204);
  const edit = await runner.put(`${base()}/templates/${setup.templateId}`, templateBody());
  t.is(edit.status, 403);
  t.regex(edit.body.error, /task_runner; this needs manager or owner/);
  t.is((await runner.post(`${base()}/keys`, { name: 'k', type: 'none' })).status, 403);
  t.is((await runner.delete(`${base()}/tasks/${task.id}`)).status, 403, 'deleting history is an edit');
});

test.serial('a manager edits records but cannot add members or change the project', async (t) => {
  const manager = as.manager.api;
  t.is((await manager.put(`${base()}/templates/${setup.templateId}`, templateBody())).status, 204);
  t.is((await manager.json('GET', `${base()}/templates/${setup.templateId}`)).name, 'renamed');
  t.is((await manager.post(`${base()}/keys`, { name: 'k', type: 'none' })).status, 201);
  t.is((await manager.post(`${base()}/runners`, { name: 'managed' })).status, 201);
  const add = await manager.post(`${base()}/users`, { user_id: as.outsider.id, role: 'guest' });
  t.is(add.status, 403);
  t.regex(add.body.error, /manager; this needs owner/);
  t.is((await manager.put(`${base()}/users/${as.guest.id}`, { role: 'owner' })).status, 403);
  t.is((await manager.put(base(), { name: 'taken over' })).status, 403);
  t.is((await manager.delete(base())).status, 403);
});

test.serial('an owner manages members and roles, and the last owner cannot be removed', async (t) => {
  const owner = as.owner.api;
  t.is((await owner.post(`${base()}/users`, { user_id: as.outsider.id, role: 'guest' })).status, 204);
  t.is((await as.outsider.api.get(base())).status, 200, 'the new member sees the project');
  t.is((await owner.put(`${base()}/users/${as.outsider.id}`, { role: 'manager' })).status, 204);
  t.is((await as.outsider.api.json('GET', `${base()}/role`)).role, 'manager');
  t.is((await owner.delete(`${base()}/users/${as.outsider.id}`)).status, 204);
  t.is((await owner.put(base(), { name: 'owned' })).status, 204);
  // Demote the other owner (admin), then try to demote oneself: the project would have no owner.
  const admin = (await forge.api.json('GET', '/api/user')).id;
  t.is((await owner.put(`${base()}/users/${admin}`, { role: 'guest' })).status, 204);
  const last = await owner.put(`${base()}/users/${as.owner.id}`, { role: 'guest' });
  t.is(last.status, 409);
  t.regex(last.body.error, /at least one owner/);
  t.is((await forge.api.json('GET', `${base()}/role`)).role, 'owner', 'an admin is an owner everywhere, whatever the member role');
});

test.serial('a non-member sees 404 on every project route, and no project in lists', async (t) => {
  const outsider = as.outsider.api;
  for (const path of ['', '/templates', `/templates/${setup.templateId}`, '/tasks', '/role', '/users', '/events', '/backup', '/runners']) {
    const res = await outsider.get(`${base()}${path}`);
    t.is(res.status, 404, `GET ${path} → ${res.status}`);
    t.regex(res.body.error, /project not found/);
  }
  t.is((await outsider.post(`${base()}/tasks`, { template_id: setup.templateId })).status, 404);
  t.is((await outsider.put(`${base()}/templates/${setup.templateId}`, templateBody())).status, 404);
  t.false((await outsider.json('GET', '/api/projects')).some((p: { id: number }) => p.id === setup.projectId));
  t.false((await outsider.json('GET', '/api/events')).some((e: { project_id: number }) => e.project_id === setup.projectId));
});

test.serial('the audit log records who did what to which object, per project and globally', async (t) => {
  const events = await as.guest.api.json('GET', `${base()}/events`);
  const edit = events.find((e: { object_type: string; user_id: number }) => e.object_type === 'template' && e.user_id === as.manager.id);
  t.truthy(edit, 'the manager\'s template edit is recorded');
  t.is(edit.object_id, setup.templateId);
  t.regex(edit.description, /template renamed updated/);
  t.is(edit.username, 'manager');
  const runs = events.filter((e: { object_type: string; user_id: number }) => e.object_type === 'task' && e.user_id === as.task_runner.id);
  t.true(runs.some((e: { description: string }) => /started/.test(e.description)) && runs.some((e: { description: string }) => /stopped/.test(e.description)));
  t.true(Date.parse(events[0].created) >= Date.parse(events[events.length - 1].created), 'newest first');
  const last = await forge.api.json('GET', '/api/events/last');
  t.true(last.length <= 200 && last.some((e: { id: number }) => e.id === edit.id));
});
