/**
 * The OpenAPI description (GET /api/openapi.json, GET /api/docs): generated from the routers and
 * their zod schemas, it lists every route with a documented answer, and what the server answers
 * matches it (the Semaphore table test checks every implemented operation; here the rest).
 */
import test from 'ava';
import { cleanup, type Forge, makeBareRepo, OpenApiChecker, runTask, setupTemplate, startForge } from './helpers/index.js';
import { OPERATIONS } from './semaphore/operations.js';

let forge: Forge;
let openapi: OpenApiChecker;
test.before(async () => {
  forge = await startForge();
  openapi = await OpenApiChecker.load(forge.api.anonymous());
});
test.after.always(cleanup);

test('the description is OpenAPI 3.1, open to anyone, and documents every route the server declares', (t) => {
  t.is(openapi.document.openapi, '3.1.0');
  const undocumented = Object.entries(openapi.document.paths)
    .flatMap(([path, ops]) => Object.entries(ops).filter(([, op]) => op['x-undocumented']).map(([method]) => `${method.toUpperCase()} ${path}`));
  t.deepEqual(undocumented, [], 'add these routes to DOCS in services/api/openapi.ts');
  const count = Object.values(openapi.document.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
  t.true(count >= 100, `only ${count} operations`);
  // Every Semaphore operation Forge implements is in it, and so are the runner protocol and metrics.
  const missing = OPERATIONS.filter((o) => o.forge === 'yes' && !openapi.operation(o.method, `/api${o.path}`)).map((o) => `${o.method} ${o.path}`);
  t.deepEqual(missing, []);
  for (const [method, path] of [['POST', '/api/internal/runners/jobs/{task_id}/result'], ['GET', '/metrics'], ['GET', '/api/ping'], ['GET', '/api/events/live']]) {
    t.truthy(openapi.operation(method!, path!), `${method} ${path}`);
  }
});

test('request bodies are the schemas that validate them: required fields and enums as the server enforces', (t) => {
  const body = (method: string, path: string) => {
    const op = openapi.operation(method, path) as unknown as { requestBody: { content: { 'application/json': { schema: { required?: string[]; properties: Record<string, { enum?: string[] }> } } } } };
    return op.requestBody.content['application/json'].schema;
  };
  t.deepEqual(body('POST', '/api/project/{}/repositories').required, ['name', 'git_url']);
  t.deepEqual(body('POST', '/api/project/{}/inventory').properties.type!.enum, ['static', 'static-yaml', 'file', 'terraform-workspace']);
  t.deepEqual(body('POST', '/api/project/{}/users').properties.role!.enum, ['owner', 'manager', 'task_runner', 'guest']);
  t.true('survey_vars' in body('POST', '/api/project/{}/templates').properties);
});

test('answers outside the Semaphore table match the description too', async (t) => {
  const api = forge.api;
  const setup = await setupTemplate(api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo hi\n' })).path, app: 'bash', playbook: 'run.sh' });
  await runTask(api, setup);
  await api.json('POST', '/api/runners', { name: 'r1', tags: ['a'] });
  const base = `/api/project/${setup.projectId}`;
  const paths = [
    '/api/dashboard', '/api/runners-all', `${base}/templates/${setup.templateId}/tasks`, `${base}/keys`, `${base}/templates/${setup.templateId}`,
    '/api/user/options', '/api/info', '/api/auth/login',
  ];
  for (const path of paths) {
    const res = await api.get(path);
    t.is(res.status, 200, path);
    t.deepEqual(openapi.problems('GET', path, res), [], path);
  }
  // Errors match the documented {error} shape.
  const missing = await api.get(`${base}/templates/987654`);
  t.deepEqual(openapi.problems('GET', `${base}/templates/1`, missing), []);
});

test('GET /api/docs is a readable page listing the operations', async (t) => {
  const page = await forge.api.anonymous().get('/api/docs');
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /text\/html/);
  t.true(page.text.includes('POST /api/project/{project_id}/tasks'));
  t.true(page.text.includes('href="/api/openapi.json"'));
});
