import { Router, type Request } from 'express';
import type { z } from 'zod';
import {
  environmentInput, hostConfigInput, inventoryInput, keyInput, keyUpdateInput, projectInput, projectMemberInput, projectRoleInput, repositoryInput, templateInput, viewInput,
  type AccessKey, type Environment, type HostConfig, type KeySecret, type Inventory, type Project, type ProjectRole, type Repository, type Template, type View,
} from '../common/model.js';
import type { AppContext } from '../context.js';
import type { Collection } from '../store/collection.js';
import { memberRole, permissionsOf, projectAccess, roleOf } from './access.js';
import { audit } from './audit.js';
import { HttpError, idParam, notFound } from './http.js';
import { parseInput } from './input.js';
import { backupProject, restoreProject } from './backup.js';
import { taskView } from './tasks.js';
import { deleteProjectData } from './project-delete.js';
import { workflowsOf } from '../workflows/store.js';

/** The project in the path, if the caller may see it (any role; admins see all). */
export const projectOf = (ctx: AppContext, req: Request) => projectAccess(ctx, req, 'read');

/** Semaphore's Project; members and roles are served by /project/:id/users. */
export const projectView = ({ members: _members, roles: _roles, ...project }: Project) => ({
  alert: false, alert_chat: null, type: '', ...project,
});

async function requireRef(collection: Collection<{ id: number }>, id: number | null | undefined, field: string): Promise<void> {
  if (id && !(await collection.get(id))) throw new HttpError(400, `${field}: no such record in this project (id ${id})`);
}

/** Semaphore's ?sort=field&order=asc|desc on list endpoints: any field the records have. */
export function sortedBy<T extends object>(records: T[], req: Request): T[] {
  const sort = typeof req.query.sort === 'string' ? req.query.sort : '';
  const field = sort === 'username' ? 'username' : sort;
  if (!field || !records.some((r) => field in r)) return records;
  const value = (r: T) => (r as Record<string, unknown>)[field];
  const sorted = [...records].sort((a, b) => String(value(a) ?? '').localeCompare(String(value(b) ?? ''), undefined, { numeric: true }));
  return req.query.order === 'desc' ? sorted.reverse() : sorted;
}

interface ResourceSpec<T extends { id: number; project_id: number }, S extends z.ZodType> {
  path: string;
  what: string;
  /** The audit object_type. */
  kind: string;
  schema: S;
  /** The schema for PUT, when an update may omit what a create needs (write-only secrets). */
  updateSchema?: z.ZodType<z.infer<S>>;
  collection: (ctx: AppContext, projectId: number) => Collection<T>;
  /** Checks references and turns the input into the stored record (encrypting secrets). */
  toRecord: (ctx: AppContext, projectId: number, input: z.infer<S>, existing?: T) => Promise<Omit<T, 'id'>>;
  view?: (record: T) => unknown;
  /** Adds what a list shows beyond the record (a template's last task). */
  listView?: (ctx: AppContext, projectId: number, records: T[]) => Promise<unknown[]>;
  /** A reason the record cannot be deleted (still used), or undefined. */
  inUse?: (ctx: AppContext, projectId: number, id: number) => Promise<string | undefined>;
  /** Fields an update leaves as they are when the body does not mention them (so a client that does not know them keeps them). */
  keepOnUpdate?: readonly string[];
}

/** Semaphore's CRUD shape: list and read for any member; create (201), update and delete (204) for managers and owners. */
function resourceRoutes<T extends { id: number; project_id: number; name?: string; title?: string }, S extends z.ZodType>(router: Router, ctx: AppContext, spec: ResourceSpec<T, S>): void {
  const base = `/project/:project_id/${spec.path}`;
  const view = spec.view ?? ((record: T) => record);
  const label = (record: T) => record.name ?? record.title ?? `#${record.id}`;
  router.get(base, async (req, res) => {
    const project = await projectAccess(ctx, req, 'read');
    const records = await spec.collection(ctx, project.id).list();
    const shown = spec.listView ? await spec.listView(ctx, project.id, records) : records.map(view);
    res.json(sortedBy(shown as object[], req));
  });
  router.post(base, async (req, res) => {
    const project = await projectAccess(ctx, req, 'edit');
    const input = parseInput(spec.schema, req, { projectId: project.id });
    const record = await spec.collection(ctx, project.id).create(await spec.toRecord(ctx, project.id, input));
    await audit(ctx, req, { project_id: project.id, object_type: spec.kind, object_id: record.id, description: `${spec.what} ${label(record)} created` });
    res.status(201).json(view(record));
  });
  router.get(`${base}/:id`, async (req, res) => {
    const project = await projectAccess(ctx, req, 'read');
    const record = await spec.collection(ctx, project.id).get(idParam(req, 'id'));
    if (!record) throw notFound(spec.what);
    res.json(view(record));
  });
  router.put(`${base}/:id`, async (req, res) => {
    const project = await projectAccess(ctx, req, 'edit');
    const collection = spec.collection(ctx, project.id);
    const existing = await collection.get(idParam(req, 'id'));
    if (!existing) throw notFound(spec.what);
    const input = parseInput(spec.updateSchema ?? spec.schema, req, { id: existing.id, projectId: project.id });
    // Made from the record as Redis holds it: fields the client left out keep their latest values, and a record deleted meanwhile stays deleted.
    const record = await collection.change(existing.id, async (current) => {
      const kept: Record<string, unknown> = { ...(input as Record<string, unknown>) };
      for (const field of spec.keepOnUpdate ?? []) {
        if (!(field in (req.body ?? {})) && field in current) kept[field] = (current as Record<string, unknown>)[field];
      }
      return { ...(await spec.toRecord(ctx, project.id, kept as z.infer<S>, current)), id: current.id } as T;
    });
    if (!record) throw notFound(spec.what);
    await audit(ctx, req, { project_id: project.id, object_type: spec.kind, object_id: record.id, description: `${spec.what} ${label(record)} updated` });
    res.status(204).end();
  });
  router.delete(`${base}/:id`, async (req, res) => {
    const project = await projectAccess(ctx, req, 'edit');
    const id = idParam(req, 'id');
    const collection = spec.collection(ctx, project.id);
    const existing = await collection.get(id);
    if (!existing) throw notFound(spec.what);
    const reason = await spec.inUse?.(ctx, project.id, id);
    if (reason) throw new HttpError(409, `${spec.what} ${id} is in use by ${reason}; change or delete that first`);
    if (!(await collection.delete(id))) throw notFound(spec.what); // deleted meanwhile, by another request
    await audit(ctx, req, { project_id: project.id, object_type: spec.kind, object_id: id, description: `${spec.what} ${label(existing)} deleted` });
    res.status(204).end();
  });
}

/** Host configs with a name for usedBy's message: their type and host. */
const hostConfigsNamed = async (configs: Promise<HostConfig[]>) => (await configs).map((h) => ({ ...h, name: `${h.type} ${h.host}` }));

const usedBy = async <R extends { id: number; name: string }>(records: Promise<R[]>, uses: (r: R) => boolean, kind: string) => {
  const user = (await records).find(uses);
  return user ? `${kind} "${user.name}" (id ${user.id})` : undefined;
};

/** Template fields Semaphore defines that older Forge records lack, with their defaults. */
const TEMPLATE_DEFAULTS = {
  type: '', start_version: null, build_template_id: null, autorun: false, view_id: null, survey_vars: [], vaults: [],
  suppress_success_alerts: false, suppress_error_alerts: false, task_params: {}, allow_override_branch_in_task: false,
  allow_override_inventory_in_task: false, limit: '', working_directory: null, environment_ids: [], executor_image: '',
} as const;
export const templateView = (template: Template) => ({ ...TEMPLATE_DEFAULTS, ...template });

export const inventoryView = (inventory: Inventory) => ({ repository_id: null, ...inventory });

/** Semaphore's Environment: `password` is never returned (null: unchanged if sent back); Forge adds `password_set`. */
export const environmentView = ({ password, secrets, ...env }: Environment) => ({
  ...env, password: null, password_set: Boolean(password), secrets: secrets.map(({ secret: _hidden, ...x }) => x),
});

export const keyView = ({ secret: _hidden, ...key }: AccessKey) => key;

const memberView = (project: Project, user: { id: number; login: string; name: string; email: string }) => ({
  id: user.id, username: user.login, name: user.name, email: user.email, role: memberRole(project, user.id) ?? 'guest',
});

export function projectRouter(ctx: AppContext): Router {
  const router = Router();
  const s = ctx.stores;

  router.get('/projects', async (req, res) => {
    const all = await s.projects.list();
    const mine = all.filter((p) => roleOf(req.user!, p));
    res.json(sortedBy(mine.map(projectView), req));
  });
  router.post('/projects', async (req, res) => {
    const input = parseInput(projectInput, req);
    const project = await s.projects.create({ ...input, created: new Date().toISOString(), members: [req.user!.id], roles: { [req.user!.id]: 'owner' } });
    await audit(ctx, req, { project_id: project.id, object_type: 'project', object_id: project.id, description: `project ${project.name} created` });
    res.status(201).json(projectView(project));
  });
  router.post('/projects/restore', async (req, res) => {
    const project = await restoreProject(ctx, req);
    await audit(ctx, req, { project_id: project.id, object_type: 'project', object_id: project.id, description: `project ${project.name} restored from a backup` });
    res.status(200).json(projectView(project));
  });
  router.get('/project/:project_id', async (req, res) => {
    res.json(projectView(await projectAccess(ctx, req, 'read')));
  });
  router.put('/project/:project_id', async (req, res) => {
    const { role: _role, ...project } = await projectAccess(ctx, req, 'own');
    const input = parseInput(projectInput, req, { id: project.id });
    // Fields a client does not send (the web UI edits only name and limit) keep their values.
    const sent = Object.fromEntries(Object.entries(input).filter(([field]) => field in (req.body ?? {}) || !(field in project)));
    if (!(await s.projects.change(project.id, (current) => ({ ...current, ...sent })))) throw notFound('project');
    await audit(ctx, req, { project_id: project.id, object_type: 'project', object_id: project.id, description: `project ${input.name} updated` });
    res.status(204).end();
  });
  router.delete('/project/:project_id', async (req, res) => {
    const project = await projectAccess(ctx, req, 'own');
    await deleteProjectData(ctx, project.id);
    await audit(ctx, req, { project_id: null, object_type: 'project', object_id: project.id, description: `project ${project.name} deleted` });
    res.status(204).end();
  });
  router.get('/project/:project_id/backup', async (req, res) => {
    const project = await projectAccess(ctx, req, 'edit');
    res.json(await backupProject(ctx, project));
  });
  router.get('/project/:project_id/role', async (req, res) => {
    const project = await projectAccess(ctx, req, 'read');
    res.json({ role: project.role, permissions: permissionsOf(project.role) });
  });

  resourceRoutes<AccessKey, typeof keyInput>(router, ctx, {
    path: 'keys', what: 'access key', kind: 'key', schema: keyInput, updateSchema: keyUpdateInput,
    collection: (c, pid) => c.stores.accessKeys(pid),
    toRecord: async (c, pid, input, existing) => {
      const given: KeySecret | undefined = input.type === 'ssh' ? input.ssh : input.type === 'login_password' ? input.login_password : undefined;
      // Secrets are write-only: on an update, what is not sent (or sent empty) keeps its stored value,
      // unless override_secret asks to replace the whole secret.
      const keep = existing && existing.type === input.type && existing.secret && !input.override_secret;
      const kept: KeySecret = keep ? (JSON.parse(c.stores.secrets.decrypt(existing.secret)) as KeySecret) : {};
      const merged: KeySecret = { ...kept };
      for (const [field, value] of Object.entries(given ?? {}) as Array<[keyof KeySecret, string]>) if (value) merged[field] = value;
      const stored = input.type === 'none' ? '' : Object.keys(merged).length ? c.stores.secrets.encrypt(JSON.stringify(merged)) : '';
      return { project_id: pid, name: input.name, type: input.type, secret: stored };
    },
    view: keyView,
    inUse: async (c, pid, id) =>
      (await usedBy(c.stores.repositories(pid).list(), (r) => r.ssh_key_id === id, 'repository')) ??
      (await usedBy(c.stores.inventories(pid).list(), (i) => i.ssh_key_id === id || i.become_key_id === id, 'inventory')) ??
      (await usedBy(c.stores.templates(pid).list(), (t) => t.vault_key_id === id || (t.vaults ?? []).some((v) => v.vault_key_id === id), 'template')) ??
      (await usedBy(hostConfigsNamed(c.stores.hostConfigs(pid).list()), (h) => h.ssh_key_id === id, 'host config')),
  });

  resourceRoutes<HostConfig, typeof hostConfigInput>(router, ctx, {
    path: 'host_configs', what: 'host config', kind: 'host_config', schema: hostConfigInput,
    collection: (c, pid) => c.stores.hostConfigs(pid),
    toRecord: async (c, pid, input) => {
      const key = await c.stores.accessKeys(pid).get(input.ssh_key_id);
      if (!key) throw new HttpError(400, `ssh_key_id: no such record in this project (id ${input.ssh_key_id})`);
      if (key.type !== 'ssh') throw new HttpError(400, `ssh_key_id: key ${key.id} is a "${key.type}" key; a host config needs an ssh key`);
      return { project_id: pid, type: input.type, host: input.host, ssh_key_id: input.ssh_key_id };
    },
    view: (h) => ({ ...h, name: `${h.type} ${h.host}` }),
  });

  resourceRoutes<Repository, typeof repositoryInput>(router, ctx, {
    path: 'repositories', what: 'repository', kind: 'repository', schema: repositoryInput,
    collection: (c, pid) => c.stores.repositories(pid),
    toRecord: async (c, pid, input) => {
      await requireRef(c.stores.accessKeys(pid), input.ssh_key_id, 'ssh_key_id');
      return { project_id: pid, name: input.name, git_url: input.git_url, git_branch: input.git_branch, ssh_key_id: input.ssh_key_id ?? null };
    },
    inUse: async (c, pid, id) =>
      (await usedBy(c.stores.templates(pid).list(), (t) => t.repository_id === id, 'template')) ??
      (await usedBy(c.stores.inventories(pid).list(), (i) => i.repository_id === id, 'inventory')),
  });

  resourceRoutes<Inventory, typeof inventoryInput>(router, ctx, {
    path: 'inventory', what: 'inventory', kind: 'inventory', schema: inventoryInput,
    collection: (c, pid) => c.stores.inventories(pid),
    toRecord: async (c, pid, input) => {
      await requireRef(c.stores.accessKeys(pid), input.ssh_key_id, 'ssh_key_id');
      await requireRef(c.stores.accessKeys(pid), input.become_key_id, 'become_key_id');
      await requireRef(c.stores.repositories(pid), input.repository_id, 'repository_id');
      return {
        project_id: pid, name: input.name, type: input.type, inventory: input.inventory, ssh_key_id: input.ssh_key_id ?? null,
        become_key_id: input.become_key_id ?? null, repository_id: input.repository_id ?? null,
      };
    },
    view: inventoryView,
    keepOnUpdate: ['repository_id'],
    inUse: (c, pid, id) => usedBy(c.stores.templates(pid).list(), (t) => t.inventory_id === id, 'template'),
  });

  resourceRoutes<Environment, typeof environmentInput>(router, ctx, {
    path: 'environment', what: 'environment', kind: 'environment', schema: environmentInput,
    collection: (c, pid) => c.stores.environments(pid),
    toRecord: async (c, pid, input, existing) => {
      const box = c.stores.secrets;
      let secrets = existing?.secrets ?? [];
      let nextId = Math.max(0, ...secrets.map((x) => x.id)) + 1;
      for (const change of input.secrets) {
        const operation = change.operation ?? (change.id ? 'update' : 'create');
        const same = (x: { id: number; name: string }) => (change.id ? x.id === change.id : x.name === change.name);
        if (operation === 'delete') secrets = secrets.filter((x) => !same(x));
        else if (operation === 'update' && secrets.some(same)) {
          secrets = secrets.map((x) => (same(x) ? { ...x, name: change.name, type: change.type, secret: change.secret ? box.encrypt(change.secret) : x.secret } : x));
        } else secrets = [...secrets.filter((x) => x.name !== change.name), { id: nextId++, name: change.name, type: change.type, secret: box.encrypt(change.secret ?? '') }];
      }
      // null or absent: keep the stored password (it is never returned, so a client sending back what it read keeps it); '' clears it.
      const password = input.password === undefined || input.password === null ? (existing?.password ?? '') : input.password ? box.encrypt(input.password) : '';
      return { project_id: pid, name: input.name, json: input.json || '{}', env: input.env || '{}', password, secrets };
    },
    view: environmentView,
    inUse: (c, pid, id) => usedBy(c.stores.templates(pid).list(), (t) => t.environment_id === id, 'template'),
  });

  resourceRoutes<Template, typeof templateInput>(router, ctx, {
    path: 'templates', what: 'template', kind: 'template', schema: templateInput,
    collection: (c, pid) => c.stores.templates(pid),
    toRecord: async (c, pid, input) => {
      await requireRef(c.stores.repositories(pid), input.repository_id, 'repository_id');
      await requireRef(c.stores.inventories(pid), input.inventory_id, 'inventory_id');
      await requireRef(c.stores.environments(pid), input.environment_id, 'environment_id');
      await requireRef(c.stores.accessKeys(pid), input.vault_key_id, 'vault_key_id');
      await requireRef(c.stores.views(pid), input.view_id, 'view_id');
      await requireRef(c.stores.templates(pid), input.build_template_id, 'build_template_id');
      for (const [index, vault] of input.vaults.entries()) await requireRef(c.stores.accessKeys(pid), vault.vault_key_id, `vaults.${index}.vault_key_id`);
      const { project_id: _ignored, ...rest } = input;
      return {
        ...rest, project_id: pid, inventory_id: input.inventory_id ?? null, environment_id: input.environment_id ?? null, vault_key_id: input.vault_key_id ?? null,
        build_template_id: input.build_template_id ?? null, view_id: input.view_id ?? null,
      };
    },
    view: templateView,
    keepOnUpdate: Object.keys(TEMPLATE_DEFAULTS),
    listView: async (c, pid, templates) =>
      Promise.all(templates.map(async (t) => {
        const [last] = (await c.stores.tasks.list({ projectId: pid, templateId: t.id, limit: 1 })).tasks;
        return { ...templateView(t), last_task: last ? taskView(last, t) : null };
      })),
    inUse: async (c, pid, id) =>
      (await usedBy(c.stores.templates(pid).list(), (t) => t.build_template_id === id, 'template')) ??
      (await usedBy(workflowsOf(c.redis, pid).list(), (w) => w.nodes.some((n) => n.template_id === id), 'workflow')),
  });

  resourceRoutes<View & { name?: string }, typeof viewInput>(router, ctx, {
    path: 'views', what: 'view', kind: 'view', schema: viewInput,
    collection: (c, pid) => c.stores.views(pid),
    toRecord: async (_c, pid, input) => ({ ...input, project_id: pid }),
    keepOnUpdate: ['position', 'hidden', 'type', 'sort_column', 'sort_reverse'],
    inUse: (c, pid, id) => usedBy(c.stores.templates(pid).list(), (t) => t.view_id === id, 'template'),
  });

  router.get('/project/:project_id/users', async (req, res) => {
    const project = await projectAccess(ctx, req, 'read');
    const users = (await Promise.all(project.members.map((id) => s.users.get(id)))).filter((u) => u !== undefined);
    res.json(sortedBy(users.map((u) => memberView(project, u)), req));
  });

  /**
   * Changes members and roles from the project as Redis holds it (`change` gets every member's
   * role and answers the members and roles to keep), so changes made at once all land; refuses to
   * leave the project without an owner. 404 when the project went meanwhile.
   */
  const changeMembers = async (projectId: number, change: (roles: Map<number, ProjectRole>, project: Project) => void) => {
    const changed = await s.projects.change(projectId, (project) => {
      const roles = new Map(project.members.map((id) => [id, memberRole(project, id)!]));
      change(roles, project);
      if (![...roles.values()].includes('owner')) throw new HttpError(409, 'a project needs at least one owner; make another member owner first');
      return { ...project, members: [...roles.keys()], roles: Object.fromEntries([...roles].map(([id, role]) => [String(id), role])) };
    });
    if (!changed) throw notFound('project');
  };
  const memberOf = (project: Project, userId: number) => {
    if (!project.members.includes(userId)) throw new HttpError(404, `user ${userId} not found among this project's members`);
  };

  router.post('/project/:project_id/users', async (req, res) => {
    const project = await projectAccess(ctx, req, 'own');
    const { user_id, role } = parseInput(projectMemberInput, req);
    const user = await s.users.get(user_id);
    if (!user) throw new HttpError(400, `user_id: no user with id ${user_id}`);
    await changeMembers(project.id, (roles) => void roles.set(user_id, role));
    await audit(ctx, req, { project_id: project.id, object_type: 'user', object_id: user_id, description: `user ${user.login} added to the project as ${role}` });
    res.status(204).end();
  });
  router.put('/project/:project_id/users/:user_id', async (req, res) => {
    const project = await projectAccess(ctx, req, 'own');
    const userId = idParam(req, 'user_id');
    memberOf(project, userId);
    const { role } = parseInput(projectRoleInput, req);
    await changeMembers(project.id, (roles, current) => {
      memberOf(current, userId);
      roles.set(userId, role);
    });
    await audit(ctx, req, { project_id: project.id, object_type: 'user', object_id: userId, description: `user ${userId}'s role set to ${role}` });
    res.status(204).end();
  });
  router.delete('/project/:project_id/users/:user_id', async (req, res) => {
    const project = await projectAccess(ctx, req, 'own');
    const userId = idParam(req, 'user_id');
    memberOf(project, userId);
    await changeMembers(project.id, (roles, current) => {
      memberOf(current, userId);
      roles.delete(userId);
    });
    await audit(ctx, req, { project_id: project.id, object_type: 'user', object_id: userId, description: `user ${userId} removed from the project` });
    res.status(204).end();
  });
  return router;
}
