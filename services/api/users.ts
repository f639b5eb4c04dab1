import { Router, type Request } from 'express';
import { z } from 'zod';
import { APPS, optionInput, passwordInput, tokenInput, userInput, userUpdateInput, type User } from '../common/model.js';
import type { AppContext } from '../context.js';
import { publicUser, UserNameTakenError } from '../store/users.js';
import { audit } from './audit.js';
import { requireAdmin } from './auth.js';
import { HttpError, idParam, notFound } from './http.js';
import { parseInput } from './input.js';
import { oidcProviderList } from './oidc.js';
import { sortedBy } from './projects.js';

/** A token's public id (16 hex characters, as listed) or the token itself (as creation answered it). */
const tokenId = z.string().regex(/^[0-9a-f]{16}$|^[A-Za-z0-9_-]{43}$/);

/** 409 naming the API's field for a login or e-mail another user has; anything else is not the caller's to fix. */
function nameTaken(err: unknown): unknown {
  if (!(err instanceof UserNameTakenError)) return err;
  return new HttpError(409, `${err.field === 'login' ? 'username' : 'email'}: ${err.message}; choose another`);
}

/**
 * The caller (profile, API tokens, options) and users: any user lists them (to add members to a
 * project); admins create, change and delete them; a user changes their own profile and password.
 */
export function userRouter(ctx: AppContext): Router {
  const router = Router();
  const users = ctx.stores.users;

  router.get('/user', (req, res) => {
    res.json(publicUser(req.user!));
  });
  router.get('/user/tokens', async (req, res) => {
    res.json(await users.listApiTokens(req.user!.id));
  });
  router.post('/user/tokens', async (req, res) => {
    const { name } = parseInput(tokenInput, req);
    const { token, record } = await users.createApiToken(req.user!.id, name);
    await audit(ctx, req, { project_id: null, object_type: 'token', object_id: null, description: `API token ${record.id}${name ? ` (${name})` : ''} created` });
    res.status(201).json({ ...record, id: token });
  });
  router.delete('/user/tokens/:token_id', async (req, res) => {
    const id = tokenId.safeParse(req.params.token_id);
    if (!id.success) throw new HttpError(400, 'token_id: expected the 16-character id shown in GET /api/user/tokens, or the token itself');
    if (!(await users.expireApiToken(req.user!.id, id.data))) throw new HttpError(404, 'token not found');
    await audit(ctx, req, { project_id: null, object_type: 'token', object_id: null, description: 'API token deleted' });
    res.status(204).end();
  });
  router.get('/user/options', async (req, res) => {
    res.json(await users.options(req.user!.id));
  });
  router.post('/user/options', async (req, res) => {
    const option = parseInput(optionInput, req);
    try {
      await users.setOption(req.user!.id, option.key, option.value);
    } catch (err) {
      throw new HttpError(400, `key: ${(err as Error).message}`);
    }
    res.json(option);
  });

  router.get('/users', async (req, res) => {
    res.json(sortedBy((await users.list()).map(publicUser), req));
  });
  router.post('/users', requireAdmin, async (req, res) => {
    const input = parseInput(userInput, req);
    let user: User;
    try {
      user = await users.create({ ...input, login: input.username });
    } catch (err) {
      throw nameTaken(err);
    }
    await audit(ctx, req, { project_id: null, object_type: 'user', object_id: user.id, description: `user ${user.login} created` });
    res.status(201).json(publicUser(user));
  });

  /** The user in the path, if the caller is that user or an admin. */
  const userOf = async (req: Request): Promise<User> => {
    const id = idParam(req, 'user_id');
    if (!req.user!.admin && req.user!.id !== id) throw new HttpError(403, 'only admins may see or change other users');
    const user = await users.get(id);
    if (!user) throw notFound('user');
    return user;
  };
  router.get('/users/:user_id', async (req, res) => {
    res.json(publicUser(await userOf(req)));
  });
  router.put('/users/:user_id', async (req, res) => {
    const user = await userOf(req);
    const input = parseInput(userUpdateInput, req, { id: user.id });
    if (input.admin !== undefined && input.admin !== user.admin && !req.user!.admin) throw new HttpError(403, 'admin: only admins may change it');
    if (input.admin === false && user.id === req.user!.id) throw new HttpError(400, 'admin: you cannot take admin rights from yourself; ask another admin');
    const { username, ...rest } = input;
    try {
      await users.update(user.id, { ...rest, ...(username ? { login: username } : {}) });
    } catch (err) {
      throw nameTaken(err);
    }
    await audit(ctx, req, { project_id: null, object_type: 'user', object_id: user.id, description: `user ${username ?? user.login} updated` });
    res.status(204).end();
  });
  router.delete('/users/:user_id', requireAdmin, async (req, res) => {
    const user = await userOf(req);
    if (user.id === req.user!.id) throw new HttpError(400, 'user_id: you cannot delete yourself; ask another admin');
    if (!(await users.delete(user.id))) throw notFound('user'); // deleted meanwhile, by another request
    for (const project of await ctx.stores.projects.list()) {
      if (project.members.includes(user.id)) await ctx.stores.projects.change(project.id, (current) => ({ ...current, members: current.members.filter((id) => id !== user.id) }));
    }
    await audit(ctx, req, { project_id: null, object_type: 'user', object_id: user.id, description: `user ${user.login} deleted` });
    res.status(204).end();
  });
  router.post('/users/:user_id/password', async (req, res) => {
    const user = await userOf(req);
    const { password, current_password } = parseInput(passwordInput, req);
    if (current_password !== undefined && !(await users.authenticate(user.login, current_password))) {
      throw new HttpError(400, 'current_password: this is not your current password');
    }
    await users.setPassword(user.id, password);
    await audit(ctx, req, { project_id: null, object_type: 'user', object_id: user.id, description: `password of user ${user.login} changed` });
    res.status(204).end();
  });

  router.get('/apps', (_req, res) => {
    res.json(APPS.map((id, index) => ({ id, title: APP_TITLES[id], active: true, priority: index })));
  });
  return router;
}

const APP_TITLES: Record<(typeof APPS)[number], string> = {
  ansible: 'Ansible', terraform: 'Terraform', tofu: 'OpenTofu', bash: 'Bash', powershell: 'PowerShell', python: 'Python',
};

/** What anyone may read: the server's version and features, and how to log in. */
export function metaRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/info', (_req, res) => {
    res.json({
      version: ctx.version, ansible: '', web_host: ctx.config.web_host, use_remote_runner: ctx.config.use_remote_runner,
      git_client: ctx.config.git_client, schedule_timezone: 'UTC', auth_methods: { password: true, oidc: oidcProviderList(ctx).length > 0 },
      features: { runner_tags: true, project_runners: true },
    });
  });
  router.get('/auth/login', (_req, res) => {
    res.json({ oidc_providers: oidcProviderList(ctx), login_with_password: true });
  });
  return router;
}
