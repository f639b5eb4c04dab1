import { randomBytes } from 'node:crypto';
import { Router, type Request } from 'express';
import { z } from 'zod';
import { taskParamsInput } from '../common/model.js';
import type { AppContext } from '../context.js';
import { HttpError, idParam, notFound, parseBody } from '../api/http.js';
import { editorsChange } from '../api/access.js';
import { projectOf } from '../api/projects.js';
import type { Collection } from '../store/collection.js';
import { audit } from '../api/audit.js';
import { AUTH_METHODS, integrationStores, type Alias, type Integration } from './store.js';

const common = { id: z.number().int().optional(), project_id: z.number().int().optional(), integration_id: z.number().int().optional() };

export const integrationInput = z
  .object({
    ...common,
    name: z.string().trim().min(1, 'must not be empty').max(200),
    template_id: z.number({ error: 'expected the numeric id of a template' }).int().positive(),
    auth_method: z.enum(AUTH_METHODS, { error: `auth_method must be one of ${AUTH_METHODS.join(', ')}` }).default('none'),
    auth_secret_id: z.number().int().positive().nullable().default(null),
    auth_header: z.string().trim().max(200).default(''),
    searchable: z.boolean().default(false),
    task_params: taskParamsInput.default({}),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.auth_method !== 'none' && !value.auth_secret_id) ctx.addIssue({ code: 'custom', path: ['auth_secret_id'], message: `auth_method ${value.auth_method} needs a secret: the id of a login_password key (its password is the secret)` });
  });

const dataType = z.enum(['json', 'string'], { error: 'body_data_type must be json or string' }).default('json');
export const matcherInput = z
  .object({
    ...common,
    name: z.string().trim().max(200).default(''),
    match_type: z.enum(['body', 'header'], { error: 'match_type must be body or header' }),
    method: z.enum(['equals', 'unequals', 'contains'], { error: 'method must be equals, unequals or contains' }).default('equals'),
    body_data_type: dataType,
    key: z.string().trim().max(500).default(''),
    value: z.string().max(4096).default(''),
  })
  .strict();

export const valueInput = z
  .object({
    ...common,
    name: z.string().trim().max(200).default(''),
    value_source: z.enum(['body', 'header'], { error: 'value_source must be body or header' }),
    body_data_type: dataType,
    key: z.string().trim().max(500).default(''),
    variable: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name: letters, digits, "_"'),
    variable_type: z.enum(['environment', 'task'], { error: 'variable_type must be environment or task' }).default('environment'),
  })
  .strict();

/** Creating an alias takes no fields (Semaphore's clients send none, or an empty object). */
export const aliasInput = z.looseObject({});

/** Semaphore's integration API: integrations, their matchers, extracted values and aliases, plus Forge's delivery log. */
export function integrationRouter(ctx: AppContext): Router {
  const router = Router();
  const store = integrationStores(ctx);
  const base = '/project/:project_id/integrations';
  const one = `${base}/:integration_id`;

  async function integrationOf(req: Request): Promise<Integration> {
    const project = await projectOf(ctx, req);
    const integration = await store.integrations(project.id).get(idParam(req, 'integration_id'));
    if (!integration) throw notFound('integration');
    return integration;
  }
  async function checkRefs(projectId: number, input: z.infer<typeof integrationInput>): Promise<void> {
    if (!(await ctx.stores.templates(projectId).get(input.template_id))) throw new HttpError(400, `template_id: no template ${input.template_id} in this project`);
    if (input.auth_secret_id && !(await ctx.stores.accessKeys(projectId).get(input.auth_secret_id))) throw new HttpError(400, `auth_secret_id: no key ${input.auth_secret_id} in this project`);
  }
  const urlOf = (alias: string) => `${ctx.config.web_host.replace(/\/$/, '')}/api/integrations/${alias}`;

  router.use(base, editorsChange(ctx));
  // Before the /:integration_id routes, which would take "aliases" for an id.
  router.get(`${base}/aliases`, async (req, res) => {
    res.json((await aliasesOf((await projectOf(ctx, req)).id, null)).map(aliasView));
  });
  router.post(`${base}/aliases`, async (req, res) => {
    parseBody(aliasInput, req.body ?? {});
    res.status(200).json(aliasView(await addAlias(req, (await projectOf(ctx, req)).id, null)));
  });
  router.delete(`${base}/aliases/:alias_id`, async (req, res) => {
    await removeAlias(req, (await projectOf(ctx, req)).id, null);
    res.status(204).end();
  });
  router.get(base, async (req, res) => {
    res.json(await store.integrations((await projectOf(ctx, req)).id).list());
  });
  router.post(base, async (req, res) => {
    const project = await projectOf(ctx, req);
    const { id: _i, project_id: _p, integration_id: _n, ...input } = parseBody(integrationInput, req.body);
    await checkRefs(project.id, input);
    res.status(201).json(await store.integrations(project.id).create({ ...input, project_id: project.id }));
  });
  router.get(one, async (req, res) => {
    res.json(await integrationOf(req));
  });
  router.put(one, async (req, res) => {
    const integration = await integrationOf(req);
    const { id: _i, project_id: _p, integration_id: _n, ...input } = parseBody(integrationInput, req.body);
    await checkRefs(integration.project_id, input);
    if (!(await store.integrations(integration.project_id).change(integration.id, (current) => ({ ...current, ...input })))) throw notFound('integration');
    res.status(204).end();
  });
  router.delete(one, async (req, res) => {
    const integration = await integrationOf(req);
    for (const alias of (await store.aliases(integration.project_id).list()).filter((a) => a.integration_id === integration.id)) {
      await store.unindexAlias(alias.alias);
      await store.aliases(integration.project_id).delete(alias.id);
    }
    await store.matchers(integration.id).deleteAll();
    await store.values(integration.id).deleteAll();
    await store.integrations(integration.project_id).delete(integration.id);
    res.status(204).end();
  });

  /** Matchers and extracted values: the same list / add / change / remove routes over their own collections. */
  type Child = { id: number; integration_id: number } & Record<string, unknown>;
  const withoutIds = ({ id: _i, project_id: _p, integration_id: _n, ...rest }: Record<string, unknown>) => rest;
  function childRoutes(path: string, param: string, what: string, created: number, schema: z.ZodType<Record<string, unknown>>, collection: (id: number) => Collection<Child>) {
    router.get(`${one}/${path}`, async (req, res) => {
      res.json(await collection((await integrationOf(req)).id).list());
    });
    router.post(`${one}/${path}`, async (req, res) => {
      const integration = await integrationOf(req);
      const input = withoutIds(parseBody(schema, req.body));
      res.status(created).json(await collection(integration.id).create({ ...input, integration_id: integration.id }));
    });
    router.put(`${one}/${path}/:${param}`, async (req, res) => {
      const integration = await integrationOf(req);
      const existing = await collection(integration.id).get(idParam(req, param));
      if (!existing) throw notFound(what);
      const input = withoutIds(parseBody(schema, req.body));
      if (!(await collection(integration.id).change(existing.id, (current) => ({ ...current, ...input, integration_id: integration.id })))) throw notFound(what);
      res.status(204).end();
    });
    router.delete(`${one}/${path}/:${param}`, async (req, res) => {
      const integration = await integrationOf(req);
      if (!(await collection(integration.id).delete(idParam(req, param)))) throw notFound(what);
      res.status(204).end();
    });
  }
  // Semaphore answers 200 to a new matcher and 201 to a new extracted value.
  childRoutes('matchers', 'matcher_id', 'matcher', 200, matcherInput, (id) => store.matchers(id) as never);
  childRoutes('values', 'extractvalue_id', 'extracted value', 201, valueInput, (id) => store.values(id) as never);

  // Aliases: an integration's own, and the project's (Semaphore's project-level aliases, which reach
  // every searchable integration of the project). The alias is the only thing a caller needs to
  // know: long and random, like a token. Semaphore answers 200 to their creation.
  const aliasView = (a: Alias) => ({ id: a.id, url: urlOf(a.alias) });
  const aliasesOf = async (projectId: number, integrationId: number | null) =>
    (await store.aliases(projectId).list()).filter((a) => (a.integration_id ?? null) === integrationId);
  async function addAlias(req: Request, projectId: number, integrationId: number | null): Promise<Alias> {
    const alias = await store.aliases(projectId).create({ project_id: projectId, integration_id: integrationId, alias: randomBytes(18).toString('base64url') });
    await store.indexAlias(alias);
    await audit(ctx, req, { project_id: projectId, object_type: 'integration', object_id: integrationId, description: `alias ${alias.id} added to ${integrationId === null ? 'the project' : `integration ${integrationId}`}` });
    return alias;
  }
  async function removeAlias(req: Request, projectId: number, integrationId: number | null): Promise<void> {
    const alias = await store.aliases(projectId).get(idParam(req, 'alias_id'));
    if (!alias || (alias.integration_id ?? null) !== integrationId) throw notFound('alias');
    await store.unindexAlias(alias.alias);
    await store.aliases(projectId).delete(alias.id);
    await audit(ctx, req, { project_id: projectId, object_type: 'integration', object_id: integrationId, description: `alias ${alias.id} removed from ${integrationId === null ? 'the project' : `integration ${integrationId}`}` });
  }
  router.get(`${one}/aliases`, async (req, res) => {
    const integration = await integrationOf(req);
    res.json((await aliasesOf(integration.project_id, integration.id)).map(aliasView));
  });
  router.post(`${one}/aliases`, async (req, res) => {
    const integration = await integrationOf(req);
    parseBody(aliasInput, req.body ?? {});
    res.status(200).json(aliasView(await addAlias(req, integration.project_id, integration.id)));
  });
  router.delete(`${one}/aliases/:alias_id`, async (req, res) => {
    const integration = await integrationOf(req);
    await removeAlias(req, integration.project_id, integration.id);
    res.status(204).end();
  });

  router.get(`${one}/deliveries`, async (req, res) => {
    const integration = await integrationOf(req);
    const limit = Math.min(200, Math.max(1, Number(req.query.limit) || 50));
    res.json(await store.deliveries(integration.id, limit));
  });
  return router;
}
