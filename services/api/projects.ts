import { Router, type Request } from 'express';
import { z } from 'zod';
import {
  environmentInput, inventoryInput, keyInput, keyUpdateInput, projectInput, repositoryInput, templateInput,
  type AccessKey, type Environment, type KeySecret, type Inventory, type Project, type Repository, type Template,
} from '../common/model.js';
import type { AppContext } from '../context.js';
import type { Collection } from '../store/collection.js';
import { HttpError, idParam, notFound, parseBody } from './http.js';

/** The project in the path, if the caller may see it (admins see all; others, projects they belong to). */
export async function projectOf(ctx: AppContext, req: Request): Promise<Project> {
  const project = await ctx.stores.projects.get(idParam(req, 'project_id'));
  if (!project || (!req.user!.admin && !project.members.includes(req.user!.id))) throw notFound('project');
  return project;
}

const projectMemberInput = z.object({ user_id: z.number().int().positive() }).strict();

async function requireRef(collection: Collection<{ id: number }>, id: number | null | undefined, field: string): Promise<void> {
  if (id && !(await collection.get(id))) throw new HttpError(400, `${field}: no such record in this project (id ${id})`);
}

interface ResourceSpec<T extends { id: number; project_id: number }, S extends z.ZodType> {
  path: string;
  what: string;
  schema: S;
  /** The schema for PUT, when an update may omit what a create needs (write-only secrets). */
  updateSchema?: z.ZodType<z.infer<S>>;
  collection: (ctx: AppContext, projectId: number) => Collection<T>;
  /** Checks references and turns the input into the stored record (encrypting secrets). */
  toRecord: (ctx: AppContext, projectId: number, input: z.infer<S>, existing?: T) => Promise<Omit<T, 'id'>>;
  view?: (record: T) => unknown;
  /** A reason the record cannot be deleted (still used), or undefined. */
  inUse?: (ctx: AppContext, projectId: number, id: number) => Promise<string | undefined>;
}

function resourceRoutes<T extends { id: number; project_id: number }, S extends z.ZodType>(router: Router, ctx: AppContext, spec: ResourceSpec<T, S>): void {
  const base = `/project/:project_id/${spec.path}`;
  const view = spec.view ?? ((record: T) => record);
  router.get(base, async (req, res) => {
    const project = await projectOf(ctx, req);
    res.json((await spec.collection(ctx, project.id).list()).map(view));
  });
  router.post(base, async (req, res) => {
    const project = await projectOf(ctx, req);
    const input = parseBody(spec.schema, req.body);
    const record = await spec.collection(ctx, project.id).create(await spec.toRecord(ctx, project.id, input));
    res.status(201).json(view(record));
  });
  router.get(`${base}/:id`, async (req, res) => {
    const project = await projectOf(ctx, req);
    const record = await spec.collection(ctx, project.id).get(idParam(req, 'id'));
    if (!record) throw notFound(spec.what);
    res.json(view(record));
  });
  router.put(`${base}/:id`, async (req, res) => {
    const project = await projectOf(ctx, req);
    const collection = spec.collection(ctx, project.id);
    const existing = await collection.get(idParam(req, 'id'));
    if (!existing) throw notFound(spec.what);
    const input = parseBody(spec.updateSchema ?? spec.schema, req.body);
    const record = await collection.put({ ...(await spec.toRecord(ctx, project.id, input, existing)), id: existing.id } as T);
    res.json(view(record));
  });
  router.delete(`${base}/:id`, async (req, res) => {
    const project = await projectOf(ctx, req);
    const id = idParam(req, 'id');
    const reason = await spec.inUse?.(ctx, project.id, id);
    if (reason) throw new HttpError(409, `${spec.what} ${id} is in use by ${reason}; change or delete that first`);
    if (!(await spec.collection(ctx, project.id).delete(id))) throw notFound(spec.what);
    res.status(204).end();
  });
}

const usedBy = async <R extends { id: number; name: string }>(records: Promise<R[]>, uses: (r: R) => boolean, kind: string) => {
  const user = (await records).find(uses);
  return user ? `${kind} "${user.name}" (id ${user.id})` : undefined;
};

export function projectRouter(ctx: AppContext): Router {
  const router = Router();
  const s = ctx.stores;

  router.get('/projects', async (req, res) => {
    const all = await s.projects.list();
    res.json(req.user!.admin ? all : all.filter((p) => p.members.includes(req.user!.id)));
  });
  router.post('/projects', async (req, res) => {
    const input = parseBody(projectInput, req.body);
    const project = await s.projects.create({ ...input, created: new Date().toISOString(), members: [req.user!.id] });
    res.status(201).json(project);
  });
  router.get('/project/:project_id', async (req, res) => {
    res.json(await projectOf(ctx, req));
  });
  router.put('/project/:project_id', async (req, res) => {
    const project = await projectOf(ctx, req);
    const input = parseBody(projectInput, req.body);
    res.json(await s.projects.put({ ...project, ...input }));
  });
  router.delete('/project/:project_id', async (req, res) => {
    const project = await projectOf(ctx, req);
    for (const c of [s.accessKeys(project.id), s.repositories(project.id), s.inventories(project.id), s.environments(project.id), s.templates(project.id)]) await c.deleteAll();
    await s.tasks.deleteForProject(project.id);
    await s.projects.delete(project.id);
    res.status(204).end();
  });

  resourceRoutes<AccessKey, typeof keyInput>(router, ctx, {
    path: 'keys', what: 'access key', schema: keyInput, updateSchema: keyUpdateInput,
    collection: (c, pid) => c.stores.accessKeys(pid),
    toRecord: async (c, pid, input, existing) => {
      const given: KeySecret | undefined = input.type === 'ssh' ? input.ssh : input.type === 'login_password' ? input.login_password : undefined;
      // Secrets are write-only: on an update, what is not sent (or sent empty) keeps its stored value.
      const kept: KeySecret = existing && existing.type === input.type && existing.secret ? (JSON.parse(c.stores.secrets.decrypt(existing.secret)) as KeySecret) : {};
      const merged: KeySecret = { ...kept };
      for (const [field, value] of Object.entries(given ?? {}) as Array<[keyof KeySecret, string]>) if (value) merged[field] = value;
      const stored = input.type === 'none' ? '' : Object.keys(merged).length ? c.stores.secrets.encrypt(JSON.stringify(merged)) : '';
      return { project_id: pid, name: input.name, type: input.type, secret: stored };
    },
    view: ({ secret: _hidden, ...key }) => key,
    inUse: async (c, pid, id) =>
      (await usedBy(c.stores.repositories(pid).list(), (r) => r.ssh_key_id === id, 'repository')) ??
      (await usedBy(c.stores.inventories(pid).list(), (i) => i.ssh_key_id === id || i.become_key_id === id, 'inventory')) ??
      (await usedBy(c.stores.templates(pid).list(), (t) => t.vault_key_id === id, 'template')),
  });

  resourceRoutes<Repository, typeof repositoryInput>(router, ctx, {
    path: 'repositories', what: 'repository', schema: repositoryInput,
    collection: (c, pid) => c.stores.repositories(pid),
    toRecord: async (c, pid, input) => {
      await requireRef(c.stores.accessKeys(pid), input.ssh_key_id, 'ssh_key_id');
      return { project_id: pid, name: input.name, git_url: input.git_url, git_branch: input.git_branch, ssh_key_id: input.ssh_key_id ?? null };
    },
    inUse: (c, pid, id) => usedBy(c.stores.templates(pid).list(), (t) => t.repository_id === id, 'template'),
  });

  resourceRoutes<Inventory, typeof inventoryInput>(router, ctx, {
    path: 'inventory', what: 'inventory', schema: inventoryInput,
    collection: (c, pid) => c.stores.inventories(pid),
    toRecord: async (c, pid, input) => {
      await requireRef(c.stores.accessKeys(pid), input.ssh_key_id, 'ssh_key_id');
      await requireRef(c.stores.accessKeys(pid), input.become_key_id, 'become_key_id');
      return { project_id: pid, name: input.name, type: input.type, inventory: input.inventory, ssh_key_id: input.ssh_key_id ?? null, become_key_id: input.become_key_id ?? null };
    },
    inUse: (c, pid, id) => usedBy(c.stores.templates(pid).list(), (t) => t.inventory_id === id, 'template'),
  });

  resourceRoutes<Environment, typeof environmentInput>(router, ctx, {
    path: 'environment', what: 'environment', schema: environmentInput,
    collection: (c, pid) => c.stores.environments(pid),
    toRecord: async (c, pid, input, existing) => {
      const box = c.stores.secrets;
      let secrets = existing?.secrets ?? [];
      let nextId = Math.max(0, ...secrets.map((x) => x.id)) + 1;
      for (const change of input.secrets) {
        const operation = change.operation ?? (change.id ? 'update' : 'create');
        if (operation === 'delete') secrets = secrets.filter((x) => x.id !== change.id && x.name !== change.name);
        else if (operation === 'update' && secrets.some((x) => x.id === change.id || x.name === change.name)) {
          secrets = secrets.map((x) => (x.id === change.id || x.name === change.name) ? { ...x, name: change.name, type: change.type, secret: change.secret !== undefined ? box.encrypt(change.secret) : x.secret } : x);
        } else secrets = [...secrets.filter((x) => x.name !== change.name), { id: nextId++, name: change.name, type: change.type, secret: box.encrypt(change.secret ?? '') }];
      }
      const password = input.password === undefined ? (existing?.password ?? '') : input.password ? box.encrypt(input.password) : '';
      return { project_id: pid, name: input.name, json: input.json || '{}', env: input.env || '{}', password, secrets };
    },
    view: ({ password, secrets, ...env }) => ({ ...env, password_set: Boolean(password), secrets: secrets.map(({ secret: _hidden, ...x }) => x) }),
    inUse: (c, pid, id) => usedBy(c.stores.templates(pid).list(), (t) => t.environment_id === id, 'template'),
  });

  resourceRoutes<Template, typeof templateInput>(router, ctx, {
    path: 'templates', what: 'template', schema: templateInput,
    collection: (c, pid) => c.stores.templates(pid),
    toRecord: async (c, pid, input) => {
      await requireRef(c.stores.repositories(pid), input.repository_id, 'repository_id');
      await requireRef(c.stores.inventories(pid), input.inventory_id, 'inventory_id');
      await requireRef(c.stores.environments(pid), input.environment_id, 'environment_id');
      await requireRef(c.stores.accessKeys(pid), input.vault_key_id, 'vault_key_id');
      const { project_id: _ignored, ...rest } = input;
      return { ...rest, project_id: pid, inventory_id: input.inventory_id ?? null, environment_id: input.environment_id ?? null, vault_key_id: input.vault_key_id ?? null };
    },
  });

  router.get('/project/:project_id/users', async (req, res) => {
    const project = await projectOf(ctx, req);
    const users = await Promise.all(project.members.map((id) => s.users.get(id)));
    res.json(users.filter(Boolean).map((u) => ({ id: u!.id, login: u!.login, name: u!.name })));
  });
  router.post('/project/:project_id/users', async (req, res) => {
    const project = await projectOf(ctx, req);
    const { user_id } = parseBody(projectMemberInput, req.body);
    if (!(await s.users.get(user_id))) throw new HttpError(400, `user_id: no user with id ${user_id}`);
    await s.projects.put({ ...project, members: [...new Set([...project.members, user_id])] });
    res.status(204).end();
  });
  router.delete('/project/:project_id/users/:user_id', async (req, res) => {
    const project = await projectOf(ctx, req);
    const userId = idParam(req, 'user_id');
    if (!project.members.includes(userId)) throw new HttpError(404, `user ${userId} not found among this project's members`);
    await s.projects.put({ ...project, members: project.members.filter((id) => id !== userId) });
    res.status(204).end();
  });
  return router;
}
