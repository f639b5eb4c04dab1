/**
 * Bad input on every route, table-driven over the routes of services/api/*.ts and the runner
 * gateway: unauthenticated calls (401), malformed JSON (400), non-object bodies (400), wrong
 * types (400 naming the field), oversized bodies (413, max_body_bytes), bad and unknown ids
 * (400 naming the parameter / 404). Every error is JSON {error}; nothing answers 5xx, and the
 * server keeps serving afterwards.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ApiClient, type ApiResponse, cleanup, type Forge, makeBareRepo, projectRoot, runOk, setupTemplate, startForge, startTask, tempDir, type TemplateSetup,
} from './helpers/index.js';

const MAX_BODY = 2048;

interface Ids { pid: number; key: number; repo: number; inv: number; env: number; tpl: number; task: number; grunner: number; prunner: number; token: string; user: number; view: number; hc: number }
type IdName = keyof Ids;

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** With {pid}, {key}… placeholders for the ids of real records. */
  path: string;
  /** The route reads a JSON body. */
  body?: boolean;
  /** Well-formed bodies with a wrong type or value, and the field the error must name. */
  bad?: Array<{ json: unknown; field: string }>;
  /** Placeholders that answer 404 when they name no record (default: every placeholder but {token}). */
  unknown?: IdName[];
  /** The path parameter behind a placeholder, where it differs from PARAM below. */
  params?: Partial<Record<IdName, string>>;
  /** Bad query strings and the parameter the error must name. */
  badQuery?: Array<{ query: string; field: string }>;
}

/** The path parameter each placeholder stands for (named in 400 answers). */
const PARAM: Record<IdName, string> = {
  pid: 'project_id', key: 'id', repo: 'id', inv: 'id', env: 'id', tpl: 'template_id', task: 'task_id',
  grunner: 'runner_id', prunner: 'runner_id', token: 'token_id', user: 'user_id', view: 'id', hc: 'id',
};

const resource = (name: string, idName: IdName, bad: { json: unknown; field: string }): Route[] => [
  { method: 'GET', path: `/api/project/{pid}/${name}` },
  { method: 'POST', path: `/api/project/{pid}/${name}`, body: true, bad: [bad, { json: { ...(bad.json as object), name: '' }, field: 'name' }] },
  { method: 'GET', path: `/api/project/{pid}/${name}/{${idName}}`, params: { [idName]: 'id' } },
  { method: 'PUT', path: `/api/project/{pid}/${name}/{${idName}}`, body: true, bad: [bad], params: { [idName]: 'id' } },
  { method: 'DELETE', path: `/api/project/{pid}/${name}/{${idName}}`, params: { [idName]: 'id' } },
];

const runnerRoutes = (base: string, idName: IdName): Route[] => [
  { method: 'GET', path: base },
  { method: 'POST', path: base, body: true, bad: [{ json: { name: 'r', tags: 'not-a-list' }, field: 'tags' }, { json: { max_parallel_tasks: -1 }, field: 'max_parallel_tasks' }] },
  { method: 'GET', path: `${base}/{${idName}}` },
  { method: 'PUT', path: `${base}/{${idName}}`, body: true, bad: [{ json: { active: 'yes' }, field: 'active' }, { json: { id: 987_654 }, field: 'id' }] },
  { method: 'POST', path: `${base}/{${idName}}/active`, body: true, bad: [{ json: { active: 'yes' }, field: 'active' }] },
  { method: 'POST', path: `${base}/{${idName}}/registration-token` },
  { method: 'DELETE', path: `${base}/{${idName}}/cache` },
  { method: 'DELETE', path: `${base}/{${idName}}` },
];

/** Every authenticated route of the REST API. */
const ROUTES: Route[] = [
  { method: 'GET', path: '/api/user' },
  { method: 'GET', path: '/api/user/tokens' },
  { method: 'POST', path: '/api/user/tokens' },
  { method: 'DELETE', path: '/api/user/tokens/{token}' },
  { method: 'GET', path: '/api/user/options' },
  { method: 'POST', path: '/api/user/options', body: true, bad: [{ json: { key: 'no spaces', value: 'x' }, field: 'key' }, { json: { key: 'nav.x', value: 5 }, field: 'value' }] },
  { method: 'GET', path: '/api/users' },
  { method: 'POST', path: '/api/users', body: true, bad: [{ json: { username: 'someone', password: 12345678 }, field: 'password' }, { json: { username: 'no spaces allowed', password: 'long-enough' }, field: 'username' }, { json: { username: 'short', password: 'short' }, field: 'password' }] },
  { method: 'GET', path: '/api/users/{user}' },
  { method: 'PUT', path: '/api/users/{user}', body: true, bad: [{ json: { email: 'not an address' }, field: 'email' }, { json: { id: 987_654 }, field: 'id' }] },
  { method: 'DELETE', path: '/api/users/{user}' },
  { method: 'POST', path: '/api/users/{user}/password', body: true, bad: [{ json: { password: 'short' }, field: 'password' }] },
  { method: 'GET', path: '/api/apps' },
  { method: 'GET', path: '/api/events' },
  { method: 'GET', path: '/api/events/last' },
  { method: 'GET', path: '/api/projects' },
  { method: 'POST', path: '/api/projects', body: true, bad: [{ json: { name: 42 }, field: 'name' }, { json: { name: 'p', alert: 'yes' }, field: 'alert' }] },
  { method: 'POST', path: '/api/projects/restore', body: true, bad: [{ json: { meta: {} }, field: 'meta.name' }, { json: { meta: { name: 'r' }, templates: [{ name: 't', repository: 'nowhere' }] }, field: 'templates.0.repository' }] },
  { method: 'GET', path: '/api/project/{pid}' },
  { method: 'PUT', path: '/api/project/{pid}', body: true, bad: [{ json: { name: 'p', max_parallel_tasks: 'many' }, field: 'max_parallel_tasks' }, { json: { id: 987_654, name: 'p' }, field: 'id' }] },
  { method: 'DELETE', path: '/api/project/{pid}' },
  { method: 'GET', path: '/api/project/{pid}/backup' },
  { method: 'GET', path: '/api/project/{pid}/role' },
  { method: 'GET', path: '/api/project/{pid}/events' },
  { method: 'GET', path: '/api/project/{pid}/views' },
  { method: 'POST', path: '/api/project/{pid}/views', body: true, bad: [{ json: { title: 5 }, field: 'title' }, { json: { title: 'v', position: -1 }, field: 'position' }] },
  { method: 'GET', path: '/api/project/{pid}/views/{view}', params: { view: 'id' } },
  { method: 'PUT', path: '/api/project/{pid}/views/{view}', body: true, bad: [{ json: { title: '' }, field: 'title' }], params: { view: 'id' } },
  { method: 'DELETE', path: '/api/project/{pid}/views/{view}', params: { view: 'id' } },
  { method: 'GET', path: '/api/runner_tags' },
  { method: 'GET', path: '/api/project/{pid}/runner_tags' },
  ...resource('keys', 'key', { json: { name: 'k', type: 'rsa' }, field: 'type' }),
  ...resource('repositories', 'repo', { json: { name: 'r', git_url: 7 }, field: 'git_url' }),
  ...resource('inventory', 'inv', { json: { name: 'i', type: 'dynamic' }, field: 'type' }),
  ...resource('environment', 'env', { json: { name: 'e', json: '[1, 2]' }, field: 'json' }),
  ...resource('templates', 'tpl', { json: { name: 't', repository_id: 'one' }, field: 'repository_id' }),
  { method: 'GET', path: '/api/project/{pid}/host_configs' },
  { method: 'POST', path: '/api/project/{pid}/host_configs', body: true, bad: [{ json: { type: 'dns', host: 'x', ssh_key_id: 1 }, field: 'type' }, { json: { type: 'host', host: 'x', ssh_key_id: 'one' }, field: 'ssh_key_id' }] },
  { method: 'GET', path: '/api/project/{pid}/host_configs/{hc}', params: { hc: 'id' } },
  { method: 'PUT', path: '/api/project/{pid}/host_configs/{hc}', body: true, bad: [{ json: { type: 'host', host: 'has spaces', ssh_key_id: 1 }, field: 'host' }], params: { hc: 'id' } },
  { method: 'DELETE', path: '/api/project/{pid}/host_configs/{hc}', params: { hc: 'id' } },
  { method: 'GET', path: '/api/project/{pid}/users' },
  { method: 'POST', path: '/api/project/{pid}/users', body: true, bad: [{ json: { user_id: 'me' }, field: 'user_id' }, { json: { user_id: 999_999 }, field: 'user_id' }, { json: { user_id: 1, role: 'boss' }, field: 'role' }] },
  { method: 'PUT', path: '/api/project/{pid}/users/{user}', body: true, bad: [{ json: { role: 'boss' }, field: 'role' }] },
  { method: 'DELETE', path: '/api/project/{pid}/users/{user}' },
  { method: 'GET', path: '/api/project/{pid}/tasks', badQuery: [{ query: 'status=finished', field: 'status' }, { query: 'limit=0', field: 'limit' }, { query: 'offset=-1', field: 'offset' }] },
  { method: 'GET', path: '/api/project/{pid}/templates/{tpl}/tasks' },
  { method: 'POST', path: '/api/project/{pid}/tasks', body: true, bad: [{ json: { template_id: 'first' }, field: 'template_id' }, { json: { template_id: 999_999 }, field: 'template_id' }, { json: { template_id: 1, debug: 'yes' }, field: 'debug' }, { json: { template_id: 1, arguments: 'not json' }, field: 'arguments' }] },
  { method: 'GET', path: '/api/project/{pid}/tasks/last' },
  { method: 'GET', path: '/api/project/{pid}/tasks/{task}' },
  { method: 'DELETE', path: '/api/project/{pid}/tasks/{task}' },
  { method: 'POST', path: '/api/project/{pid}/tasks/{task}/stop', body: true, bad: [{ json: { force: 'yes' }, field: 'force' }] },
  { method: 'POST', path: '/api/project/{pid}/tasks/{task}/confirm' },
  { method: 'POST', path: '/api/project/{pid}/tasks/{task}/reject' },
  { method: 'POST', path: '/api/project/{pid}/templates/{tpl}/stop_all_tasks', body: true, bad: [{ json: { force: 1 }, field: 'force' }] },
  { method: 'GET', path: '/api/project/{pid}/tasks/{task}/output', badQuery: [{ query: 'after=yesterday', field: 'after' }] },
  { method: 'GET', path: '/api/project/{pid}/tasks/{task}/raw_output' },
  { method: 'GET', path: '/api/project/{pid}/tasks/{task}/output/stream' },
  ...runnerRoutes('/api/runners', 'grunner'),
  ...runnerRoutes('/api/project/{pid}/runners', 'prunner'),
  { method: 'GET', path: '/api/runners-all' },
  { method: 'GET', path: '/api/dashboard' },
  { method: 'GET', path: '/api/project/{pid}/ui/history', badQuery: [{ query: 'status=sleeping', field: 'status' }] },
  { method: 'GET', path: '/api/project/{pid}/ui/last_tasks' },
  { method: 'GET', path: '/api/project/{pid}/ui/tasks/{task}' },
  { method: 'GET', path: '/api/project/{pid}/ui/placement/{tpl}' },
  { method: 'GET', path: '/api/ui/queues' },
];

/** Streams: checked for 401 only (a logged-in call would stay open). */
const STREAMS: Route[] = [{ method: 'GET', path: '/api/events/live' }, { method: 'GET', path: '/api/ws' }];

/** Runner-facing routes: they need X-Runner-Token, not a user. */
const RUNNER_GATEWAY: Route[] = [
  { method: 'DELETE', path: '/api/internal/runners' },
  { method: 'POST', path: '/api/internal/runners/hello', body: true },
  { method: 'POST', path: '/api/internal/runners/heartbeat', body: true },
  { method: 'POST', path: '/api/internal/runners/jobs/next', body: true },
  { method: 'POST', path: '/api/internal/runners/jobs/{task}/running', body: true },
  { method: 'POST', path: '/api/internal/runners/jobs/{task}/output', body: true },
  { method: 'POST', path: '/api/internal/runners/jobs/{task}/result', body: true },
];

const UNKNOWN_ID = 987_654;

let forge: Forge;
let ids: Ids;
const answers: Array<{ what: string; response: ApiResponse }> = [];

function fill(path: string, values: Partial<Record<IdName, number | string>> = {}): string {
  return path.replace(/\{(\w+)\}/g, (_, name: IdName) => String(values[name] ?? ids[name]));
}
const placeholders = (path: string) => [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as IdName);
const label = (route: Route) => `${route.method} ${route.path}`;

async function call(api: ApiClient, what: string, method: string, path: string, options: Parameters<ApiClient['request']>[2] = {}): Promise<ApiResponse> {
  const response = await api.request(method, path, options);
  answers.push({ what, response });
  return response;
}

/** An error answer: the status, a JSON content type and a non-empty {error} string. */
function isJsonError(response: ApiResponse, status: number): boolean {
  return response.status === status && (response.headers.get('content-type') ?? '').includes('application/json')
    && typeof response.body?.error === 'string' && response.body.error.length > 0;
}

test.before(async () => {
  forge = await startForge({ env: { FORGE_MAX_BODY_BYTES: String(MAX_BODY) } });
  const api = forge.api;
  const repo = await makeBareRepo({ 'run.sh': 'echo hi\n' });
  const setup: TemplateSetup = await setupTemplate(api, { gitUrl: repo.path, inventory: 'localhost' });
  const pid = setup.projectId;
  const key = (await api.json('POST', `/api/project/${pid}/keys`, { name: 'none', type: 'none' })).id;
  const task = (await startTask(api, pid, setup.templateId)).id;
  const grunner = (await api.json('POST', '/api/runners', { name: 'global' })).id;
  const prunner = (await api.json('POST', `/api/project/${pid}/runners`, { name: 'project' })).id;
  await api.json('POST', '/api/user/tokens');
  const token = (await api.json<Array<{ id: string }>>('GET', '/api/user/tokens'))[0]!.id;
  const user = (await api.json('GET', '/api/user')).id;
  const view = (await api.json('POST', `/api/project/${pid}/views`, { title: 'all' })).id;
  const keyDir = tempDir('forge-validation-key-');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'key')]);
  const sshKey = (await api.json('POST', `/api/project/${pid}/keys`, { name: 'ssh', type: 'ssh', ssh: { private_key: readFileSync(join(keyDir, 'key'), 'utf8') } })).id;
  const hc = (await api.json('POST', `/api/project/${pid}/host_configs`, { type: 'host', host: 'git.example.com', ssh_key_id: sshKey })).id;
  ids = { pid, key, repo: setup.repositoryId, inv: setup.inventoryId!, env: setup.environmentId, tpl: setup.templateId, task, grunner, prunner, token, user, view, hc };
});
test.after.always(cleanup);

test.serial('the route table has a row for every route declared in services/api', (t) => {
  // Guards against routes added later without a row here. Literal paths are read from the
  // routers; the resource and runner routers build their paths from names, checked by name.
  const normal = (path: string) => path.replace(/:\w+|\{\w+\}/g, '{}');
  const covered = new Set([...ROUTES, ...STREAMS].map((r) => `${r.method} ${normal(r.path)}`));
  const open = new Set(['POST /api/auth/login', 'POST /api/auth/logout', 'GET /api/auth/login', 'GET /api/info', 'GET /api/openapi.json', 'GET /api/docs', 'GET /api/auth/oidc/{}/login', 'GET /api/auth/oidc/{}/redirect']);
  const missing: string[] = [];
  const dir = join(projectRoot, 'services', 'api');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/router\.(get|post|put|delete)\('(\/[^']*)'/g)) {
      if (file === 'observability.ts' || file === 'queue-board.ts') continue; // not under /api
      const route = `${m[1]!.toUpperCase()} /api${normal(m[2]!)}`;
      if (!open.has(route) && !covered.has(route)) missing.push(`${route} (${file})`);
    }
  }
  const projects = readFileSync(join(dir, 'projects.ts'), 'utf8');
  for (const m of projects.matchAll(/path: '(\w+)'/g)) if (!covered.has(`GET /api/project/{}/${m[1]}`)) missing.push(`resource ${m[1]} (projects.ts)`);
  t.deepEqual(missing, [], 'add these routes to ROUTES in this file');
});

test.serial('every authenticated route answers 401 JSON without credentials and with a wrong Bearer token', async (t) => {
  const anonymous = forge.api.anonymous();
  const wrongToken = forge.api.withToken('not-a-real-token');
  for (const route of [...ROUTES, ...STREAMS]) {
    for (const [who, client] of [['anonymous', anonymous], ['wrong token', wrongToken]] as const) {
      const res = await call(client, `${who} ${label(route)}`, route.method, fill(route.path), route.body ? { json: {} } : {});
      t.true(isJsonError(res, 401), `${who} ${label(route)} → ${res.status} ${res.text.slice(0, 200)}`);
    }
  }
  for (const route of RUNNER_GATEWAY) {
    const res = await call(anonymous, `no runner token ${label(route)}`, route.method, fill(route.path), route.body ? { json: {} } : {});
    t.true(isJsonError(res, 401), `${label(route)} → ${res.status} ${res.text}`);
    t.regex(res.body.error, /X-Runner-Token/i);
    const wrong = await call(anonymous, `wrong runner token ${label(route)}`, route.method, fill(route.path), { ...(route.body ? { json: {} } : {}), headers: { 'x-runner-token': 'nope' } });
    t.true(isJsonError(wrong, 401), `${label(route)} with a wrong runner token → ${wrong.status}`);
  }
  const metrics = await call(anonymous, 'GET /metrics', 'GET', '/metrics');
  t.true(isJsonError(metrics, 401));
  // Open routes stay open.
  t.is((await call(anonymous, 'ping', 'GET', '/api/ping')).text, 'pong');
  const info = await call(anonymous, 'info', 'GET', '/api/info');
  t.is(info.status, 200);
  t.is(typeof info.body.version, 'string');
  const badLogin = await call(anonymous, 'wrong password', 'POST', '/api/auth/login', { json: { auth: 'admin', password: 'wrong-password' } });
  t.true(isJsonError(badLogin, 401));
});

test.serial('malformed JSON, non-object JSON and oversized bodies get 400/400/413 JSON errors on every body route', async (t) => {
  const bodyRoutes = [...ROUTES.filter((r) => r.body), { method: 'POST', path: '/api/auth/login', body: true } as Route];
  for (const route of bodyRoutes) {
    const path = fill(route.path);
    const malformed = await call(forge.api, `malformed ${label(route)}`, route.method, path, { body: '{"name": "x",' });
    t.true(isJsonError(malformed, 400), `${label(route)} malformed → ${malformed.status} ${malformed.text}`);
    t.regex(malformed.body.error, /malformed JSON/);
    const scalar = await call(forge.api, `scalar ${label(route)}`, route.method, path, { body: '"just a string"' });
    t.true(isJsonError(scalar, 400), `${label(route)} scalar body → ${scalar.status} ${scalar.text}`);
    const list = await call(forge.api, `array ${label(route)}`, route.method, path, { body: '[1, 2, 3]' });
    t.true(isJsonError(list, 400), `${label(route)} array body → ${list.status} ${list.text}`);
    const big = await call(forge.api, `oversized ${label(route)}`, route.method, path, { json: { name: 'x'.repeat(MAX_BODY * 2) } });
    t.true(isJsonError(big, 413), `${label(route)} oversized → ${big.status} ${big.text}`);
    t.regex(big.body.error, new RegExp(`${MAX_BODY} bytes.*max_body_bytes`));
  }
  // A JSON body sent as text/plain is not parsed: the route says it wants a JSON object.
  const plain = await call(forge.api, 'text/plain body', 'POST', '/api/projects', { body: '{"name":"x"}', contentType: 'text/plain' });
  t.true(isJsonError(plain, 400));
  t.regex(plain.body.error, /JSON object/);
});

test.serial('well-formed bodies with wrong types or values get a 400 naming the field', async (t) => {
  const checks: Array<{ route: Route; json: unknown; field: string }> = [
    ...ROUTES.flatMap((route) => (route.bad ?? []).map((bad) => ({ route, ...bad }))),
    { route: { method: 'POST', path: '/api/auth/login' }, json: { auth: 5, password: 'x' }, field: 'auth' },
    { route: { method: 'POST', path: '/api/auth/login' }, json: { auth: 'admin' }, field: 'password' },
    { route: { method: 'POST', path: '/api/internal/runners' }, json: { registration_token: 7, public_key: 'k' }, field: 'registration_token' },
  ];
  t.true(checks.length >= 25);
  for (const { route, json, field } of checks) {
    const res = await call(forge.api, `bad body ${label(route)}`, route.method, fill(route.path), { json });
    t.true(isJsonError(res, 400), `${label(route)} ${JSON.stringify(json)} → ${res.status} ${res.text}`);
    t.true(new RegExp(`(^|[ ;."])${field}\\b`).test(res.body?.error ?? ''), `${label(route)}: "${res.body?.error}" does not name ${field}`);
  }
  for (const route of ROUTES.filter((r) => r.badQuery)) {
    for (const { query, field } of route.badQuery!) {
      const res = await call(forge.api, `bad query ${label(route)}`, route.method, `${fill(route.path)}?${query}`);
      t.true(isJsonError(res, 400), `${label(route)}?${query} → ${res.status} ${res.text}`);
      t.true(res.body.error.includes(field), `"${res.body.error}" does not name ${field}`);
    }
  }
});

test.serial('unknown ids answer 404 and malformed ids 400 naming the parameter, on every route with ids', async (t) => {
  let checked = 0;
  for (const route of ROUTES) {
    for (const name of route.unknown ?? placeholders(route.path)) {
      const unknownValue = name === 'token' ? '0123456789abcdef' : UNKNOWN_ID;
      const body = route.body ? { json: {} } : {};
      const res = await call(forge.api, `unknown ${name} ${label(route)}`, route.method, fill(route.path, { [name]: unknownValue }), body);
      t.true(isJsonError(res, 404), `${label(route)} with unknown ${name} → ${res.status} ${res.text}`);
      t.regex(res.body?.error ?? '', /not found|no such|not a member/);
      const malformed = await call(forge.api, `malformed ${name} ${label(route)}`, route.method, fill(route.path, { [name]: name === 'token' ? 'zz' : 'abc' }), body);
      t.true(isJsonError(malformed, 400), `${label(route)} with ${name}=abc → ${malformed.status} ${malformed.text}`);
      const param = route.params?.[name] ?? PARAM[name];
      t.true(malformed.body.error.startsWith(`${param}:`), `${label(route)}: "${malformed.body.error}" does not name ${param}`);
      checked++;
    }
  }
  t.true(checked >= 30, `only ${checked} id checks`);
  const noRoute = await call(forge.api, 'no such route', 'GET', '/api/no/such/route');
  t.true(isJsonError(noRoute, 404));
});

test.serial('nothing answered 5xx and the server kept serving', async (t) => {
  t.true(answers.length > 200, `only ${answers.length} calls were made`);
  const failures = answers.filter(({ response }) => response.status >= 500);
  t.deepEqual(failures.map(({ what, response }) => `${what}: ${response.status} ${response.text}`), []);
  t.is(forge.process.exitCode, null, 'the server process is still running');
  t.is((await forge.api.get('/api/ping')).text, 'pong');
  const projects = await forge.api.get('/api/projects');
  t.is(projects.status, 200);
  t.true(projects.body.some((p: { id: number }) => p.id === ids.pid));
  t.false(/unhandled error/.test(forge.logs()), 'the server logged an unhandled error');
});
