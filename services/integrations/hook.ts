import { createHmac } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { logger } from '../../protocol/log.js';
import { ValidationError } from '../../protocol/validation.js';
import { constantTimeEqual } from '../common/secrets.js';
import { taskInput } from '../common/model.js';
import type { AppContext } from '../context.js';
import { createTask } from '../dispatch/tasks.js';
import { integrationStores, type Integration, type Matcher } from './store.js';

const log = logger('integrations');

class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A value at a dotted path of a JSON document (`repository.full_name`, `commits.0.id`). */
export function valueAtPath(document: unknown, path: string): unknown {
  let current = document;
  for (const part of path.split('.').filter(Boolean)) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

const asText = (value: unknown) => (value === undefined || value === null ? undefined : typeof value === 'string' ? value : JSON.stringify(value));

function header(req: Request, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(',') : value;
}

function readValue(req: Request, raw: Buffer, json: () => unknown, source: 'body' | 'header', type: 'json' | 'string', key: string): string | undefined {
  if (source === 'header') return header(req, key);
  return type === 'json' ? asText(valueAtPath(json(), key)) : raw.toString('utf8');
}

const hmacHex = (secret: string, raw: Buffer) => createHmac('sha256', secret).update(raw).digest('hex');

/** Checks the caller against the integration's auth method; throws a Refusal that says what was wrong. */
async function authenticate(ctx: AppContext, integration: Integration, req: Request, raw: Buffer): Promise<void> {
  if (integration.auth_method === 'none') return;
  const key = await ctx.stores.keyMaterial(integration.project_id, integration.auth_secret_id).catch(() => undefined);
  const secret = key?.password ?? '';
  if (!secret) throw new Refusal(500, 'the integration has no secret (auth_secret_id must name a login_password key)');
  const signed = (headerName: string) => {
    const given = header(req, headerName) ?? '';
    if (!given) throw new Refusal(401, `missing ${headerName} header`);
    if (!constantTimeEqual(given.replace(/^sha256=/, ''), hmacHex(secret, raw))) throw new Refusal(401, `${headerName} does not match the body signed with the integration's secret`);
  };
  switch (integration.auth_method) {
    case 'github':
      return signed('X-Hub-Signature-256');
    case 'bitbucket':
      return signed('X-Hub-Signature');
    case 'hmac':
      return signed(integration.auth_header || 'X-Hub-Signature-256');
    case 'token': {
      const name = integration.auth_header || 'X-Secret-Token';
      if (!constantTimeEqual(header(req, name) ?? '', secret)) throw new Refusal(401, `${name} header is missing or wrong`);
      return;
    }
    case 'basic': {
      const given = header(req, 'Authorization') ?? '';
      const expected = `Basic ${Buffer.from(`${key?.login ?? ''}:${secret}`).toString('base64')}`;
      if (!constantTimeEqual(given, expected)) throw new Refusal(401, 'Authorization: Basic credentials are missing or wrong');
    }
  }
}

function matches(matcher: Matcher, actual: string | undefined): boolean {
  if (matcher.method === 'equals') return actual === matcher.value;
  if (matcher.method === 'unequals') return actual !== matcher.value;
  return actual !== undefined && actual.includes(matcher.value);
}

/** What one integration did with a call: started a task, or refused it with an HTTP status and reason. */
type Outcome = { integration_id: number; delivery_id: string } & ({ task_id: number } | { status: number; error: string });

/**
 * `POST /api/integrations/:alias`: anyone may call it, so it reads the raw body itself (signatures
 * are over the exact bytes), authenticates, applies the matchers, extracts values and starts the
 * template. An integration's alias calls that integration; a project's alias (Semaphore's
 * project-level alias) calls each of the project's searchable integrations, and those whose
 * authentication and matchers pass start their templates. Every call that reaches an integration
 * is recorded as one of its deliveries, with the reason when refused.
 */
export function integrationHookRouter(ctx: AppContext): Router {
  const router = Router();
  const store = integrationStores(ctx);
  // Public and unauthenticated until the secret is checked: bounded per caller and alias.
  const limit = rateLimit({
    windowMs: 60_000, limit: 120, standardHeaders: 'draft-7', legacyHeaders: false,
    keyGenerator: (req) => `${ipKeyGenerator(req.ip ?? '')}|${req.params.alias}`,
    handler: (_req, res) => res.status(429).json({ error: 'too many calls to this integration from this address; wait a minute and try again' }),
  });

  /** Runs one integration over the call: authenticate, match, extract, start its template. */
  async function deliver(integration: Integration, req: Request, raw: Buffer, json: () => unknown): Promise<Outcome> {
    const event = header(req, 'X-GitHub-Event') ?? header(req, 'X-Event-Key') ?? header(req, 'X-Gitlab-Event') ?? '';
    const refuse = async (status: number, reason: string): Promise<Outcome> => {
      const delivery = await store.record({ integration_id: integration.id, status: 'rejected', reason, task_id: null, http_status: status, event });
      log.info('integration delivery rejected', { integration_id: integration.id, reason });
      return { integration_id: integration.id, delivery_id: delivery.id, status, error: reason };
    };
    try {
      await authenticate(ctx, integration, req, raw);
      for (const matcher of await store.matchers(integration.id).list()) {
        const actual = readValue(req, raw, json, matcher.match_type, matcher.body_data_type, matcher.key);
        if (!matches(matcher, actual)) throw new Refusal(200, `matcher "${matcher.name || matcher.key}" did not match: ${matcher.match_type} ${matcher.key} is ${actual === undefined ? 'absent' : JSON.stringify(actual.slice(0, 200))}, expected it to ${matcher.method === 'contains' ? 'contain' : matcher.method === 'equals' ? 'equal' : 'differ from'} ${JSON.stringify(matcher.value)}`);
      }
      const env: Record<string, string> = {};
      const vars: Record<string, string> = {};
      for (const rule of await store.values(integration.id).list()) {
        const value = readValue(req, raw, json, rule.value_source, rule.body_data_type, rule.key);
        if (value !== undefined) (rule.variable_type === 'environment' ? env : vars)[rule.variable] = value;
      }
      const project = await ctx.stores.projects.get(integration.project_id);
      const template = await ctx.stores.templates(integration.project_id).get(integration.template_id);
      if (!project || !template) throw new Refusal(409, `template ${integration.template_id} no longer exists`);
      const params = integration.task_params ?? {};
      const environment = { ...(params.environment ? JSON.parse(params.environment) : {}), ...vars };
      const input = taskInput.parse({
        ...params, template_id: template.id, environment: Object.keys(environment).length ? JSON.stringify(environment) : '',
        message: `integration "${integration.name}"${event ? ` (${event})` : ''}`,
      });
      const task = await createTask(ctx, project, template, input, null, { env });
      const delivery = await store.record({ integration_id: integration.id, status: 'accepted', reason: '', task_id: task.id, http_status: 201, event });
      return { integration_id: integration.id, delivery_id: delivery.id, task_id: task.id };
    } catch (err) {
      if (err instanceof Refusal) return refuse(err.status, err.message);
      if (err instanceof ValidationError) return refuse(400, `the task was refused: ${err.message}`);
      throw err;
    }
  }

  router.post('/:alias', limit, express.raw({ type: () => true, limit: ctx.config.max_body_bytes }), async (req: Request, res: Response) => {
    const target = await store.aliasTarget(String(req.params.alias));
    if (!target) {
      res.status(404).json({ error: 'no integration has this alias' });
      return;
    }
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let parsed: unknown;
    let parsedOnce = false;
    const json = () => {
      if (!parsedOnce) {
        parsedOnce = true;
        try {
          parsed = JSON.parse(raw.toString('utf8'));
        } catch {
          parsed = undefined;
        }
      }
      return parsed;
    };

    if (target.integration_id === null) {
      if (!(await ctx.stores.projects.get(target.project_id))) {
        res.status(404).json({ error: 'the project of this alias was deleted' });
        return;
      }
      const searchable = (await store.integrations(target.project_id).list()).filter((i) => i.searchable);
      const outcomes: Outcome[] = [];
      for (const integration of searchable) outcomes.push(await deliver(integration, req, raw, json));
      const started = outcomes.filter((o) => 'task_id' in o);
      const rejected = outcomes.filter((o) => !('task_id' in o));
      const error = searchable.length === 0 ? 'the project has no searchable integration: set searchable on the integrations this alias should reach' : 'no searchable integration of the project accepted this call';
      res.status(started.length > 0 ? 201 : 200).json({ ...(started.length > 0 ? {} : { error }), started, rejected });
      return;
    }
    const integration = await store.integrations(target.project_id).get(target.integration_id);
    if (!integration) {
      res.status(404).json({ error: 'the integration of this alias was deleted' });
      return;
    }
    const outcome = await deliver(integration, req, raw, json);
    if ('task_id' in outcome) res.status(201).json({ task_id: outcome.task_id, delivery_id: outcome.delivery_id });
    else res.status(outcome.status).json({ error: outcome.error, delivery_id: outcome.delivery_id });
  });
  return router;
}
