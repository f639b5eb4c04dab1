/**
 * `POST /api/project/:id/tasks` is served without Express (services/api/task-create-direct.ts);
 * any other spelling of the path still goes through the Express app. Each request here is sent
 * both ways (`/api/project/…` and `/api/Project/…`, which Express matches regardless of case) and
 * must get the same status, the same body and the same headers, guards included: the cross-site
 * check, the declared length, authentication, the JSON body, validation. Express's answers carry
 * an ETag and the direct ones none, which shows each request took the path it was meant to.
 */
import test from 'ava';
import { ApiClient, cleanup, makeBareRepo, setupTemplate, startForge, type ApiResponse, type RequestOptions } from './helpers/index.js';

test.after.always(cleanup);

const MAX_BODY = 4096;
/** Headers that differ between any two answers (or by transport), not by what served them. */
const PER_ANSWER = new Set(['date', 'etag', 'content-length', 'keep-alive', 'connection']);

const headersOf = (res: ApiResponse) => Object.fromEntries([...res.headers].filter(([name]) => !PER_ANSWER.has(name)));
/** A created task's view without what differs between two creations. */
const sameTask = (body: Record<string, unknown>) => ({ ...body, id: 0, created: '' });

test('the direct route answers as the Express app does, guards and errors included', async (t) => {
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_MAX_BODY_BYTES: String(MAX_BODY) } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo hi\n' })).path });
  const session = forge.api;
  const { id: token } = await session.json('POST', '/api/user/tokens', {});
  const bearer = session.withToken(token);
  const anonymous = session.anonymous();
  const ok = { template_id: setup.templateId };

  const cases: Array<[string, ApiClient, number, (project: string) => string, RequestOptions]> = [
    ['session', session, 201, (p) => `/api/${p}/${setup.projectId}/tasks`, { json: ok }],
    ['API token, Semaphore params', bearer, 201, (p) => `/api/${p}/${setup.projectId}/tasks`, { json: { ...ok, params: { debug: true, limit: ['web'] } } }],
    ['API token with a foreign Origin', bearer, 201, (p) => `/api/${p}/${setup.projectId}/tasks`, { json: ok, headers: { origin: 'https://evil.example' } }],
    ['trailing slash, X-Forwarded-Proto from an untrusted peer', session, 201, (p) => `/api/${p}/${setup.projectId}/tasks/`, { json: ok, headers: { 'x-forwarded-proto': 'https' } }],
    ['not logged in', anonymous, 401, (p) => `/api/${p}/${setup.projectId}/tasks`, { json: ok }],
    ['session with a foreign Origin', session, 403, (p) => `/api/${p}/${setup.projectId}/tasks`, { json: ok, headers: { origin: 'https://evil.example' } }],
    ['session, Sec-Fetch-Site cross-site', session, 403, (p) => `/api/${p}/${setup.projectId}/tasks`, { json: ok, headers: { 'sec-fetch-site': 'cross-site' } }],
    ['body over max_body_bytes', session, 413, (p) => `/api/${p}/${setup.projectId}/tasks`, { json: { ...ok, message: 'x'.repeat(MAX_BODY) } }],
    ['malformed JSON', session, 400, (p) => `/api/${p}/${setup.projectId}/tasks`, { body: '{"template_id":' }],
    ['a JSON array', session, 400, (p) => `/api/${p}/${setup.projectId}/tasks`, { body: '[]' }],
    ['not JSON', session, 400, (p) => `/api/${p}/${setup.projectId}/tasks`, { body: 'template_id=1', contentType: 'text/plain' }],
    ['no template named', session, 400, (p) => `/api/${p}/${setup.projectId}/tasks`, { json: {} }],
    ['a field of the wrong type', session, 400, (p) => `/api/${p}/${setup.projectId}/tasks`, { json: { ...ok, debug: 'yes' } }],
    ['unknown template', session, 400, (p) => `/api/${p}/${setup.projectId}/tasks`, { json: { template_id: 999 } }],
    ['unknown project', session, 404, (p) => `/api/${p}/999999/tasks`, { json: ok }],
    ['project id 0', session, 400, (p) => `/api/${p}/0/tasks`, { json: ok }],
  ];
  for (const [what, client, status, path, options] of cases) {
    const direct = await client.request('POST', path('project'), options);
    const viaExpress = await client.request('POST', path('Project'), options);
    t.is(direct.status, status, `${what}: ${direct.text}`);
    t.is(viaExpress.status, status, `${what} (Express): ${viaExpress.text}`);
    t.is(direct.headers.get('etag'), null, `${what}: served directly (no ETag)`);
    t.truthy(viaExpress.headers.get('etag'), `${what}: served by Express (its ETag)`);
    t.deepEqual(headersOf(direct), headersOf(viaExpress), `${what}: the same headers`);
    t.truthy(direct.headers.get('content-security-policy'), `${what}: with the page headers`);
    if (status === 201) t.deepEqual(sameTask(direct.body), sameTask(viaExpress.body), `${what}: the same task`);
    else t.deepEqual(direct.body, viaExpress.body, `${what}: the same error`);
  }
  // Every 201 above stored its task: 4 cases, both ways.
  const listed = await session.json('GET', `/api/project/${setup.projectId}/tasks`);
  t.is(listed.length, 8);
  t.true(listed.every((task: { status: string }) => task.status === 'waiting'));
});

test('behind a trusted TLS proxy the direct route sees https as Express does: HSTS, and the UI\'s https Origin is its own', async (t) => {
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_TRUSTED_PROXIES: 'loopback' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo hi\n' })).path });
  const host = new URL(forge.url).host;
  const ok = { template_id: setup.templateId };
  const cases: Array<[string, number, Record<string, string>]> = [
    ['the UI over the proxy\'s TLS', 201, { 'x-forwarded-proto': 'https', origin: `https://${host}` }],
    ['a plain-http Origin while the proxy says https', 403, { 'x-forwarded-proto': 'https', origin: `http://${host}` }],
    ['the first of several X-Forwarded-Proto values', 201, { 'x-forwarded-proto': 'https, http', origin: `https://${host}` }],
  ];
  for (const [what, status, headers] of cases) {
    const direct = await forge.api.request('POST', `/api/project/${setup.projectId}/tasks`, { json: ok, headers });
    const viaExpress = await forge.api.request('POST', `/api/Project/${setup.projectId}/tasks`, { json: ok, headers });
    t.is(direct.status, status, `${what}: ${direct.text}`);
    t.is(viaExpress.status, status, `${what} (Express): ${viaExpress.text}`);
    t.is(direct.headers.get('etag'), null, `${what}: served directly`);
    t.truthy(direct.headers.get('strict-transport-security'), `${what}: HSTS, as the request came over TLS`);
    t.deepEqual(headersOf(direct), headersOf(viaExpress), `${what}: the same headers`);
  }
});
