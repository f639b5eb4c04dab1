import { Router } from 'express';
import { z } from 'zod';
import * as input from '../common/model.js';
import type { AppContext } from '../context.js';
import * as r from './responses.js';
import { scheduleInput } from '../schedules/routes.js';
import { aliasInput, integrationInput, matcherInput, valueInput } from '../integrations/routes.js';
import { channelInput } from '../notifications/routes.js';
import { approvalResolveInput, workflowInput } from '../workflows/model.js';

/**
 * The OpenAPI 3.1 description of the API, generated at start from the routers themselves (every
 * route they declare is listed) and from the zod schemas: request bodies from the very schemas
 * that validate them (services/common/model.ts), answers from services/api/responses.ts. A route
 * without an entry in DOCS is still listed, marked `x-undocumented`, and a test fails on it.
 */
interface Doc {
  summary: string;
  status?: number;
  body?: z.ZodType;
  response?: z.ZodType;
  array?: boolean;
  /** The answer is not JSON (text, a stream). */
  produces?: string;
  open?: boolean;
}

const crud = (path: string, what: string, body: z.ZodType, response: z.ZodType, list: z.ZodType = response): Record<string, Doc> => ({
  [`GET ${path}`]: { summary: `List ${what} (?sort=field&order=asc|desc)`, response: list, array: true },
  [`POST ${path}`]: { summary: `Create a ${what}`, status: 201, body, response },
  [`GET ${path}/:id`]: { summary: `Read a ${what}`, response },
  [`PUT ${path}/:id`]: { summary: `Update a ${what} (a body id must match the path)`, status: 204, body },
  [`DELETE ${path}/:id`]: { summary: `Delete a ${what} (409 while in use)`, status: 204 },
});
const P = '/api/project/:project_id';
const runnerDocs = (base: string, scope: string): Record<string, Doc> => ({
  [`GET ${base}`]: { summary: `List ${scope} runners`, response: r.runnerResponse, array: true },
  [`POST ${base}`]: { summary: `Add a ${scope} runner; the token is shown once`, status: 201, body: input.runnerInput, response: r.runnerWithTokenResponse },
  [`GET ${base}/:runner_id`]: { summary: `Read a ${scope} runner`, response: r.runnerResponse },
  [`PUT ${base}/:runner_id`]: { summary: `Update a ${scope} runner (only the fields sent)`, status: 204, body: input.runnerInput },
  [`DELETE ${base}/:runner_id`]: { summary: `Delete a ${scope} runner (its token stops working at once)`, status: 204 },
  [`POST ${base}/:runner_id/active`]: { summary: `Activate or deactivate a ${scope} runner`, status: 204, body: input.runnerActiveInput },
  [`DELETE ${base}/:runner_id/cache`]: { summary: 'Clear the runner cache (Forge runners keep none between tasks)', status: 204 },
  [`POST ${base}/:runner_id/registration-token`]: {
    summary: `Issue a new one-time registration token for a ${scope} runner (valid 1 hour): its current token stops working, and the runner registers again with \`forge runner register\``,
    response: r.registrationTokenResponse,
  },
});

const DOCS: Record<string, Doc> = {
  'GET /api/info': { summary: 'Version and features', response: r.infoResponse, open: true },
  'GET /api/auth/login': { summary: 'Login metadata: the OIDC providers (oidc_providers) and whether password login is on', response: r.loginMetadataResponse, open: true },
  'GET /api/auth/oidc/:provider_id/login': { summary: 'Start an OIDC login: 302 to the provider (state, nonce, PKCE); ?redirect=/path returns there afterwards', status: 302, open: true },
  'GET /api/auth/oidc/:provider_id/redirect': { summary: 'The OIDC callback: finds or creates the user, sets the session cookie, 302 to the UI', status: 302, open: true },
  'POST /api/auth/login': { summary: 'Log in: sets the session cookie', status: 204, body: input.loginInput, open: true },
  'POST /api/auth/logout': { summary: 'Log out', status: 204, open: true },
  'GET /api/openapi.json': { summary: 'This description', open: true },
  'GET /api/user': { summary: 'The caller', response: r.userResponse },
  'GET /api/user/tokens': { summary: 'The caller\'s API tokens (ids are public ids)', response: r.tokenResponse, array: true },
  'POST /api/user/tokens': { summary: 'Create an API token: `id` is the token, shown once', status: 201, body: input.tokenInput, response: r.tokenResponse },
  'DELETE /api/user/tokens/:token_id': { summary: 'Delete an API token by its public id or by the token itself', status: 204 },
  'GET /api/user/options': { summary: 'The caller\'s stored options', response: r.optionsResponse },
  'POST /api/user/options': { summary: 'Store one option of the caller', body: input.optionInput, response: r.optionResponse },
  'GET /api/users': { summary: 'List users', response: r.userResponse, array: true },
  'POST /api/users': { summary: 'Create a user (admins)', status: 201, body: input.userInput, response: r.userResponse },
  'GET /api/users/:user_id': { summary: 'Read a user (admins, or the user)', response: r.userResponse },
  'PUT /api/users/:user_id': { summary: 'Update a user (admins, or the user without `admin`)', status: 204, body: input.userUpdateInput },
  'DELETE /api/users/:user_id': { summary: 'Delete a user (admins)', status: 204 },
  'POST /api/users/:user_id/password': { summary: 'Set a user\'s password', status: 204, body: input.passwordInput },
  'GET /api/apps': { summary: 'The apps templates can run', response: r.appResponse, array: true },
  'GET /api/events': { summary: 'Audit events of the caller\'s projects, newest first', response: r.eventResponse, array: true },
  'GET /api/events/last': { summary: 'The newest 200 audit events of the caller\'s projects', response: r.eventResponse, array: true },
  'GET /api/events/live': { summary: 'Live task and runner events (Server-Sent Events; ?summary=1 adds the dashboard)', produces: 'text/event-stream' },
  'GET /api/ws': { summary: 'The events of /api/events/live over a WebSocket (101 Switching Protocols; each message is {event, data}; ?summary=1 adds the dashboard)', status: 101 },
  'GET /api/dashboard': { summary: 'Queues, runners, running tasks and the last hour', response: r.dashboardResponse },
  'GET /api/projects': { summary: 'The caller\'s projects', response: r.projectResponse, array: true },
  'POST /api/projects': { summary: 'Create a project; the caller becomes its owner', status: 201, body: input.projectInput, response: r.projectResponse },
  'POST /api/projects/restore': { summary: 'Create a project from a backup', body: z.looseObject({ meta: z.looseObject({ name: z.string() }) }), response: r.projectResponse },
  [`GET ${P}`]: { summary: 'Read a project', response: r.projectResponse },
  [`PUT ${P}`]: { summary: 'Update a project (owners)', status: 204, body: input.projectInput },
  [`DELETE ${P}`]: { summary: 'Delete a project and everything in it (owners)', status: 204 },
  [`GET ${P}/backup`]: { summary: 'Back up a project (no secrets)', response: r.backupResponse },
  [`GET ${P}/role`]: { summary: 'The caller\'s role and Semaphore permission bits', response: r.roleResponse },
  [`GET ${P}/events`]: { summary: 'The project\'s audit events, newest first', response: r.eventResponse, array: true },
  [`GET ${P}/users`]: { summary: 'Members with their roles', response: r.projectUserResponse, array: true },
  [`POST ${P}/users`]: { summary: 'Add a member with a role (owners)', status: 204, body: input.projectMemberInput },
  [`PUT ${P}/users/:user_id`]: { summary: 'Change a member\'s role (owners; a project keeps one owner)', status: 204, body: input.projectRoleInput },
  [`DELETE ${P}/users/:user_id`]: { summary: 'Remove a member (owners)', status: 204 },
  ...crud(`${P}/keys`, 'access key (secrets are write-only)', input.keyInput, r.keyResponse),
  ...crud(`${P}/repositories`, 'repository', input.repositoryInput, r.repositoryResponse),
  ...crud(`${P}/inventory`, 'inventory', input.inventoryInput, r.inventoryResponse),
  ...crud(`${P}/environment`, 'environment (password and secrets are write-only)', input.environmentInput, r.environmentResponse),
  ...crud(`${P}/templates`, 'template', input.templateInput, r.templateResponse, r.templateListItem),
  ...crud(`${P}/views`, 'view', input.viewInput, r.viewResponse),
  ...crud(`${P}/host_configs`, 'host config (the ssh key for repositories without one, by git URL prefix or ssh host)', input.hostConfigInput, r.hostConfigResponse),
  [`POST ${P}/templates/:template_id/stop_all_tasks`]: { summary: 'Stop every waiting or running task of a template', status: 204, body: input.stopInput },
  [`GET ${P}/templates/:template_id/tasks`]: { summary: 'A template\'s tasks, newest first (X-Total-Count)', response: r.taskResponse, array: true },
  [`GET ${P}/tasks`]: { summary: 'Tasks, newest first (?status=a,b&offset=&limit=, X-Total-Count)', response: r.taskResponse, array: true },
  [`POST ${P}/tasks`]: { summary: 'Run a template (by template_id or template_name)', status: 201, body: input.taskInput, response: r.taskResponse },
  [`GET ${P}/tasks/last`]: { summary: 'The newest 200 tasks', response: r.taskResponse, array: true },
  [`GET ${P}/tasks/:task_id`]: { summary: 'Read a task', response: r.taskResponse },
  [`DELETE ${P}/tasks/:task_id`]: { summary: 'Delete a finished task and its output', status: 204 },
  [`POST ${P}/tasks/:task_id/confirm`]: { summary: 'Confirm the plan of a Terraform/OpenTofu task in waiting_confirmation: that plan is applied (409 otherwise)', status: 204 },
  [`POST ${P}/tasks/:task_id/reject`]: { summary: 'Reject the plan of a task in waiting_confirmation: it ends rejected, nothing applied (409 otherwise)', status: 204 },
  [`POST ${P}/tasks/:task_id/stop`]: { summary: 'Stop a task (waiting: at once; running: within a heartbeat)', status: 204, body: input.stopInput },
  [`GET ${P}/tasks/:task_id/output`]: { summary: 'Output lines (?after=stream id)', response: r.outputLineResponse, array: true },
  [`GET ${P}/tasks/:task_id/raw_output`]: { summary: 'Output as plain text', produces: 'text/plain' },
  [`GET ${P}/tasks/:task_id/output/stream`]: { summary: 'Live output (Server-Sent Events, resumable with Last-Event-ID)', produces: 'text/event-stream' },
  ...runnerDocs('/api/runners', 'global'),
  ...runnerDocs(`${P}/runners`, 'project'),
  'GET /api/runner_tags': { summary: 'Tags of global runners, with how many have each', response: r.runnerTagResponse, array: true },
  [`GET ${P}/runner_tags`]: { summary: 'Tags of the project\'s and global runners', response: r.runnerTagResponse, array: true },
  'GET /api/runners-all': { summary: 'Every runner, global and per project (admins)', response: r.runnerResponse, array: true },
};

export interface RouteRef { method: string; path: string }

/** The routes an Express router declares (method, path), for the routers mounted under `prefix`. */
export function routesOf(prefix: string, routers: Router[]): RouteRef[] {
  const out: RouteRef[] = [];
  for (const router of routers) {
    for (const layer of router.stack as Array<{ route?: { path: string; methods: Record<string, boolean> } }>) {
      if (!layer.route || typeof layer.route.path !== 'string') continue;
      const path = layer.route.path === '/' && prefix ? prefix : `${prefix}${layer.route.path}`;
      for (const method of Object.keys(layer.route.methods)) out.push({ method: method.toUpperCase(), path });
    }
  }
  return out;
}

const schema = (s: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _drop, ...json } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return json;
};

export function openApiDocument(version: string, routes: RouteRef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const doc = DOCS[`${route.method} ${route.path}`];
    const openPath = route.path.replace(/:(\w+)/g, '{$1}');
    const parameters = [...route.path.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1], in: 'path', required: true, schema: m[1] === 'token_id' || m[1] === 'provider_id' ? { type: 'string' } : { type: 'integer', minimum: 1 },
    }));
    const status = String(doc?.status ?? 200);
    const success: Record<string, unknown> = { description: doc?.summary ?? 'OK' };
    if (doc?.response) success.content = { 'application/json': { schema: doc.array ? { type: 'array', items: schema(doc.response, 'output') } : schema(doc.response, 'output') } };
    else if (doc?.produces) success.content = { [doc.produces]: { schema: { type: 'string' } } };
    const operation: Record<string, unknown> = {
      summary: doc?.summary ?? `${route.method} ${route.path}`,
      operationId: `${route.method.toLowerCase()}${openPath.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(\w)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
      parameters,
      responses: {
        [status]: success,
        '4XX': { description: 'Bad input, not logged in, not allowed, or not found: the message names the field', content: { 'application/json': { schema: schema(r.errorResponse, 'output') } } },
      },
    };
    if (doc?.body) operation.requestBody = { required: false, content: { 'application/json': { schema: schema(doc.body, 'input') } } };
    if (doc?.open) operation.security = [];
    if (!doc) operation['x-undocumented'] = true;
    (paths[openPath] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Forge API', version,
      description: 'Semaphore-compatible REST API of Forge. Unknown body fields are ignored; a body `id` must match the path. Errors are {"error": "field: problem"}.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token from POST /api/user/tokens' },
        cookie: { type: 'apiKey', in: 'cookie', name: 'forge_session', description: 'The session from POST /api/auth/login' },
      },
    },
    security: [{ bearer: [] }, { cookie: [] }],
    paths,
  };
}

/** A readable page over the description, with no external script: every operation, its body and answer schema. */
function docsPage(document: Record<string, unknown>): string {
  const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const rows: string[] = [];
  for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, Record<string, unknown>>>)) {
    for (const [method, op] of Object.entries(operations)) {
      const body = (op.requestBody as { content: Record<string, { schema: unknown }> } | undefined)?.content['application/json']?.schema;
      const [status, answer] = Object.entries(op.responses as Record<string, { content?: Record<string, { schema: unknown }> }>)[0]!;
      const answerSchema = answer.content ? Object.values(answer.content)[0]!.schema : undefined;
      rows.push(`<section><h2><code>${method.toUpperCase()} ${escape(path)}</code> → ${status}</h2><p>${escape(String(op.summary))}</p>`
        + (body ? `<details><summary>Request body</summary><pre>${escape(JSON.stringify(body, null, 2))}</pre></details>` : '')
        + (answerSchema ? `<details><summary>Answer</summary><pre>${escape(JSON.stringify(answerSchema, null, 2))}</pre></details>` : '')
        + '</section>');
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Forge API</title><meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}h2{font-size:1rem;margin:1.5rem 0 .25rem}pre{background:#f4f5f7;padding:.75rem;overflow:auto;font-size:13px}p{margin:.25rem 0}</style></head>
<body><h1>Forge API</h1><p>${escape(String((document.info as { description: string }).description))} Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</p>${rows.join('\n')}</body></html>`;
}

const RUNNER_PROTOCOL = '/api/internal/runners';
const runnerProtocol: Record<string, string> = {
  [`POST ${RUNNER_PROTOCOL}`]: 'Register a runner with the registration token and its public key',
  [`DELETE ${RUNNER_PROTOCOL}`]: 'Unregister the calling runner',
  [`POST ${RUNNER_PROTOCOL}/hello`]: 'A runner announces itself (version, capabilities, public key on first contact)',
  [`POST ${RUNNER_PROTOCOL}/heartbeat`]: 'Liveness and lease extension; answers stop requests',
  [`POST ${RUNNER_PROTOCOL}/jobs/next`]: 'Long-poll for a job, answered sealed to the runner\'s key',
  [`POST ${RUNNER_PROTOCOL}/jobs/:task_id/running`]: 'The runner started the job (protocol 2: may carry the output lines printed so far)',
  [`POST ${RUNNER_PROTOCOL}/jobs/:task_id/output`]: 'A numbered batch of output lines',
  [`POST ${RUNNER_PROTOCOL}/jobs/:task_id/confirmation`]: 'Long-poll: a plan waits for confirmation; answers confirmed, rejected or pending',
  [`POST ${RUNNER_PROTOCOL}/jobs/:task_id/result`]: 'The job\'s result (protocol 2: may carry its last output lines, stored first)',
};
for (const [key, summary] of Object.entries(runnerProtocol)) DOCS[key] = { summary: `Runner protocol (X-Runner-Token): ${summary}` };
// Schedules, integrations and notifications (services/schedules, services/integrations, services/notifications).
/** crud() with the record's own id parameter name. */
const crudBy = (param: string, ...args: Parameters<typeof crud>) =>
  Object.fromEntries(Object.entries(crud(...args)).map(([key, doc]) => [key.replace('/:id', `/:${param}`), doc]));
Object.assign(DOCS, crudBy('schedule_id', `${P}/schedules`, 'schedule', scheduleInput, r.scheduleResponse), {
  [`GET ${P}/templates/:template_id/schedules`]: { summary: 'A template\'s schedules', array: true, response: r.scheduleResponse },
  [`POST ${P}/schedules/validate`]: { summary: 'Check a cron expression (and time zone): 204, or 400 saying what is wrong', status: 204, body: z.object({ cron_format: z.string(), timezone: z.string().optional() }) },
});
Object.assign(DOCS, crudBy('integration_id', `${P}/integrations`, 'integration (inbound webhook)', integrationInput, r.integrationResponse));
Object.assign(DOCS, crudBy('notification_id', `${P}/notifications`, 'notification channel', channelInput, z.object({})));
const I = `${P}/integrations/:integration_id`;
Object.assign(DOCS, {
  [`GET ${I}/matchers`]: { summary: 'An integration\'s matchers (header or JSON body conditions a delivery must meet)', array: true, response: r.matcherResponse },
  [`POST ${I}/matchers`]: { summary: 'Add a matcher (200, as Semaphore answers)', body: matcherInput, response: r.matcherResponse },
  [`PUT ${I}/matchers/:matcher_id`]: { summary: 'Update a matcher', status: 204, body: matcherInput },
  [`DELETE ${I}/matchers/:matcher_id`]: { summary: 'Delete a matcher', status: 204 },
  [`GET ${I}/values`]: { summary: 'Values an integration extracts from deliveries into the task', array: true, response: r.extractValueResponse },
  [`POST ${I}/values`]: { summary: 'Add an extracted value', status: 201, body: valueInput, response: r.extractValueResponse },
  [`PUT ${I}/values/:extractvalue_id`]: { summary: 'Update an extracted value', status: 204, body: valueInput },
  [`DELETE ${I}/values/:extractvalue_id`]: { summary: 'Delete an extracted value', status: 204 },
  [`GET ${I}/aliases`]: { summary: 'An integration\'s aliases: the URL is the secret part of POST /api/integrations/{alias}', array: true, response: r.aliasResponse },
  [`POST ${I}/aliases`]: { summary: 'Add an alias that calls this integration', body: aliasInput, response: r.aliasResponse },
  [`DELETE ${I}/aliases/:alias_id`]: { summary: 'Delete an alias (its URL stops working at once)', status: 204 },
  [`GET ${P}/integrations/aliases`]: { summary: 'The project\'s aliases: each calls every searchable integration of the project', array: true, response: r.aliasResponse },
  [`POST ${P}/integrations/aliases`]: { summary: 'Add a project alias: a call starts each searchable integration whose authentication and matchers pass', body: aliasInput, response: r.aliasResponse },
  [`DELETE ${P}/integrations/aliases/:alias_id`]: { summary: 'Delete a project alias (its URL stops working at once)', status: 204 },
  [`GET ${I}/deliveries`]: { summary: 'Recent deliveries: accepted or rejected, and why', array: true, response: z.object({}) },
});
// Workflows (services/workflows).
const W = `${P}/workflows/:workflow_id`;
const R = `${W}/runs/:run_id`;
Object.assign(DOCS, {
  [`GET ${P}/workflows`]: { summary: 'List workflows (graphs of task and approval nodes)', response: r.workflowResponse, array: true },
  [`POST ${P}/workflows`]: { summary: 'Create a workflow; 400 names an unknown template, a dangling link or a cycle (managers)', status: 201, body: workflowInput(new Set()), response: r.workflowResponse },
  [`GET ${W}`]: { summary: 'Read a workflow', response: r.workflowResponse },
  [`PUT ${W}`]: { summary: 'Update a workflow; runs already started keep the graph they started with (managers)', status: 204, body: workflowInput(new Set()) },
  [`DELETE ${W}`]: { summary: 'Delete a workflow and its finished runs (409 while a run is unfinished; managers)', status: 204 },
  [`POST ${W}/run`]: { summary: 'Run a workflow: its start nodes\' tasks start at once (task runners)', status: 201, response: r.workflowRunResponse },
  [`GET ${W}/runs`]: { summary: 'A workflow\'s runs, newest first', response: r.workflowRunResponse, array: true },
  [`GET ${R}`]: { summary: 'A run with each node\'s state, task and approval', response: r.workflowRunDetailsResponse },
  [`GET ${R}/approvals`]: { summary: 'A run\'s approvals', response: r.workflowApprovalResponse, array: true },
  [`GET ${R}/artifacts`]: { summary: 'What each node\'s task produced, keyed by node id: status, commit, version and output links', response: r.workflowArtifactsResponse },
  [`POST ${R}/approvals/:node_id`]: { summary: 'Approve or reject a waiting approval node (task runners; 409 once resolved)', body: approvalResolveInput, response: r.workflowApprovalResponse },
});
Object.assign(DOCS, {
  [`POST ${P}/notifications/test`]: { summary: 'Send a test notification through every active channel (409 when there is none)', status: 204 },
  [`GET ${P}/tasks/:task_id/notifications`]: { summary: 'What each channel did with a task\'s end notification', array: true, response: z.object({}) },
  // Read-only views for the web UI.
  [`GET ${P}/ui/placement/:template_id`]: { summary: 'Where a task of this template would go now: eligible runners\' free slots, or why it would wait' },
  [`GET ${P}/ui/history`]: { summary: 'Task history with text search and filters (q, template_id, user_id, status, from, to, offset, limit)' },
  [`GET ${P}/ui/last_tasks`]: { summary: 'Each template\'s last task, with who ran it' },
  [`GET ${P}/ui/tasks/:task_id`]: { summary: 'One task with its template name, user name and cloned branch' },
  'GET /api/ui/queues': { summary: 'Queues with friendly names and counts (admins)' },
});
DOCS['GET /api/ping'] = { summary: 'Liveness: answers pong', produces: 'text/plain', open: true };
DOCS['GET /metrics'] = { summary: 'Prometheus metrics (metrics token or an admin)', produces: 'text/plain' };

/**
 * GET /api/openapi.json and GET /api/docs, open to anyone, over the routes of the routers given
 * (`api`: mounted at /api; `runner`: the runner protocol; `root`: at the root) and /api/ping.
 */
export function openApiRouter(ctx: AppContext, routers: { api: Router[]; runner: RouteRef[]; root: Router[] }): Router {
  const router = Router();
  let cached: Record<string, unknown> | undefined;
  const document = () => (cached ??= openApiDocument(ctx.version, [
    { method: 'GET', path: '/api/ping' },
    ...routesOf('/api', [...routers.api, router]),
    ...routers.runner,
    ...routesOf('', routers.root),
  ]));
  router.get('/openapi.json', (_req, res) => {
    res.json(document());
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(docsPage(document()));
  });
  return router;
}

DOCS['GET /api/docs'] = { summary: 'This description as a readable page', produces: 'text/html', open: true };
