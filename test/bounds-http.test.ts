/**
 * The HTTP side of "bounded under abuse" (#12): bodies are refused before they are read (413) or
 * before they are parsed (401), with server memory flat; login throttling per address and per
 * account (429 + Retry-After) that cannot lock the admin out of a browser they used before;
 * X-Forwarded-For only from trusted_proxies; cross-site cookie requests refused; security headers;
 * huge numbers answer 400; a member's dashboard holds only their projects; live streams end on
 * token revocation, logout and removal from the project.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ADMIN_LOGIN, ADMIN_PASSWORD, ApiClient, cleanup, type Forge, makeBareRepo, runOk, setupTemplate, startForge, startTask, tempDir, waitForTask,
} from './helpers/index.js';
import { ensureWebBuilt } from './helpers/e2e.js';
import { SseStream } from './helpers/sse.js';

test.after.always(cleanup);

// This file's fetch accepts the self-signed certificate of the HTTPS test.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

let forge: Forge;
test.before(async () => {
  await ensureWebBuilt(); // so / serves the UI's page
  forge = await startForge();
});

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** A 16 MB body sent with or without a Content-Length (chunked), to an address. */
async function post(url: string, body: Buffer, headers: Record<string, string>, chunked = false) {
  const init: RequestInit & { duplex?: 'half' } = { method: 'POST', headers: { 'content-type': 'application/json', ...headers } };
  if (chunked) {
    init.body = new ReadableStream({
      start(controller) {
        for (let i = 0; i < body.length; i += 1 << 20) controller.enqueue(body.subarray(i, i + (1 << 20)));
        controller.close();
      },
    });
    init.duplex = 'half';
  } else init.body = new Uint8Array(body);
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json().catch(() => ({})) as { error?: string } };
}

test.serial('16 MB bodies without valid credentials are refused before they are read or parsed, and memory stays flat', async (t) => {
  const pid = forge.process.pid!;
  const big = Buffer.alloc(16 * 1024 * 1024, 'x'); // not even JSON: a parser reaching it would answer 400
  const output = `${forge.url}/api/internal/runners/jobs/1/output`;
  const before = rssMb(pid);
  for (let i = 0; i < 6; i++) {
    const declared = await post(output, big, { 'x-runner-token': 'not-a-token' });
    t.is(declared.status, 413, 'declared length over the output batch limit');
    const chunked = await post(output, big, { 'x-runner-token': 'not-a-token' }, true);
    t.is(chunked.status, 401, `the token is checked before a chunked body is read (${chunked.body.error})`);
  }
  const api = await post(`${forge.url}/api/projects`, big, {}, true);
  t.is(api.status, 401, 'API bodies wait for a login too');
  t.is((await post(`${forge.url}/api/projects`, big, {})).status, 413);
  const medium = await post(output, Buffer.alloc(2 * 1024 * 1024, 'x'), {});
  t.is(medium.status, 401, 'under the limit but unauthenticated: 401, not a parse error');
  t.regex(medium.body.error!, /X-Runner-Token/);
  const growth = rssMb(pid) - before;
  t.log(`server RSS ${before.toFixed(0)} MB → +${growth.toFixed(0)} MB after 13 unauthenticated 16 MB bodies`);
  t.true(growth < 60, `server RSS grew ${growth.toFixed(0)} MB`);
  t.is(await (await fetch(`${forge.url}/api/ping`)).text(), 'pong');
});

test.serial('numbers out of range in paths, queries and runner reports answer 400, never 500', async (t) => {
  const repo = await makeBareRepo({ 'run.sh': 'echo hi\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitForTask(forge.api, setup.projectId, task.id);
  const base = `/api/project/${setup.projectId}`;
  for (const path of [
    `${base}/tasks/${task.id}/output?after=99999999999999999999-0`,
    `${base}/tasks/${task.id}/output?after=1-99999999999999999999`,
    `${base}/tasks?offset=1e20`,
    `${base}/tasks?offset=99999999999999999999`,
    `${base}/tasks/99999999999999999999`,
    `/api/project/1e300/tasks`,
  ]) {
    const answer = await forge.api.get(path);
    t.is(answer.status, 400, `${path} → ${answer.status} ${answer.text}`);
    t.truthy(answer.body.error);
  }
  const stream = await fetch(`${forge.url}${base}/tasks/${task.id}/output/stream`, { headers: { ...forge.api.authHeaders(), 'last-event-id': '99999999999999999999-0' } });
  t.is(stream.status, 400);

  const runner = await forge.api.json('POST', '/api/runners', { name: 'numbers' });
  const report = async (path: string, body: unknown) => {
    const res = await fetch(`${forge.url}/api/internal/runners${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': runner.token }, body: JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  };
  const seq = await report(`/jobs/${task.id}/output`, { attempt: 1, lines: [{ seq: 1e14, time: 'now', output: 'x' }] });
  t.is(seq.status, 400, seq.text);
  t.regex(seq.text, /lines\.0\.seq/);
  t.is((await report('/jobs/99999999999999999999/output', { attempt: 1, lines: [] })).status, 400);
  t.is((await report(`/jobs/${task.id}/result`, { attempt: 1e300, status: 'success' })).status, 400);
});

test.serial('a member\'s dashboard counts and lists only their projects; the admin sees everything', async (t) => {
  const repo = await makeBareRepo({ 'run.sh': 'echo started\nsleep 120\n' });
  const hidden = await setupTemplate(forge.api, { gitUrl: repo.path });
  const shared = await setupTemplate(forge.api, { gitUrl: repo.path });
  const member = await forge.api.json('POST', '/api/users', { login: 'member1', password: 'member-password-1' });
  await forge.api.json('POST', `/api/project/${shared.projectId}/users`, { user_id: member.id });
  const task = await startTask(forge.api, hidden.projectId, hidden.templateId);
  await waitForTask(forge.api, hidden.projectId, task.id, ['running']);
  const memberApi = await new ApiClient(forge.url).login('member1', 'member-password-1');
  const mine = await memberApi.json('GET', '/api/dashboard');
  const all = await forge.api.json('GET', '/api/dashboard');
  t.true(all.local.active >= 1);
  t.true(all.running.some((r: { id: number }) => r.id === task.id));
  t.is(mine.local.active, 0, 'another project\'s running task is not counted for the member');
  t.deepEqual(mine.running, []);
  t.false(mine.queues.some((q: { project_id: number }) => q.project_id === hidden.projectId));
  await forge.api.json('POST', `/api/project/${hidden.projectId}/tasks/${task.id}/stop`, {});
});

test.serial('an /api/events/live stream ends with a final event when its API token is revoked', async (t) => {
  const listed = async () => new Set((await forge.api.json<Array<{ id: string }>>('GET', '/api/user/tokens')).map((tk) => tk.id));
  const before = await listed();
  const created = await forge.api.json('POST', '/api/user/tokens', {});
  const publicId = [...(await listed())].find((id) => !before.has(id));
  t.truthy(publicId);
  const stream = await SseStream.open(`${forge.url}/api/events/live`, { authorization: `Bearer ${created.id}` });
  t.is((await stream.next())?.event, 'hello');
  await forge.api.json('DELETE', `/api/user/tokens/${publicId}`);
  const last = (await stream.readUntil((e) => e.event === 'expired', 40_000)).at(-1)!;
  t.is(last.event, 'expired');
  t.regex(JSON.parse(last.data).error, /revoked/);
  t.is(await stream.next(10_000), undefined, 'the stream closed after its final event');
});

test.serial('a task\'s output stream ends at logout and when the member is removed from the project', async (t) => {
  const repo = await makeBareRepo({ 'run.sh': 'echo started\nsleep 120\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const member = await forge.api.json('POST', '/api/users', { login: 'member2', password: 'member-password-2' });
  await forge.api.json('POST', `/api/project/${setup.projectId}/users`, { user_id: member.id });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitForTask(forge.api, setup.projectId, task.id, ['running']);
  const url = `${forge.url}/api/project/${setup.projectId}/tasks/${task.id}/output/stream`;

  const session = await new ApiClient(forge.url).login(ADMIN_LOGIN, ADMIN_PASSWORD);
  const loggedIn = await SseStream.open(url, session.authHeaders());
  await loggedIn.readUntil((e) => e.event === 'line' && e.data.includes('started'), 20_000);
  t.is((await session.post('/api/auth/logout', {})).status, 204);
  const ended = (await loggedIn.readUntil((e) => e.event === 'expired', 40_000)).at(-1)!;
  t.is(ended.event, 'expired');
  t.regex(JSON.parse(ended.data).error, /session/);
  t.is(await loggedIn.next(10_000), undefined, 'the stream closed after its final event');

  const memberApi = await new ApiClient(forge.url).login('member2', 'member-password-2');
  const memberStream = await SseStream.open(url, memberApi.authHeaders());
  await memberStream.readUntil((e) => e.event === 'line' && e.data.includes('started'), 20_000);
  await forge.api.json('DELETE', `/api/project/${setup.projectId}/users/${member.id}`);
  const removed = (await memberStream.readUntil((e) => e.event === 'expired', 40_000)).at(-1)!;
  t.is(removed.event, 'expired');
  t.regex(JSON.parse(removed.data).error, new RegExp(`no longer have access to project ${setup.projectId}`));
  await forge.api.json('POST', `/api/project/${setup.projectId}/tasks/${task.id}/stop`, {});
});

test.serial('cross-site requests with the session cookie are refused; the UI\'s own origin and Bearer tokens are not', async (t) => {
  const session = await new ApiClient(forge.url).login(ADMIN_LOGIN, ADMIN_PASSWORD);
  const cookie = session.sessionCookie!;
  const send = (path: string, headers: Record<string, string>, body = '') =>
    fetch(`${forge.url}${path}`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
  // What a browser sends for a form on another site posting here.
  for (const headers of <Array<Record<string, string>>>[{ origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'http://evil.example' }, { origin: 'null' }]) {
    for (const path of ['/api/user/tokens', '/api/auth/logout', '/api/project/1/tasks/1/stop']) {
      const answer = await send(path, headers);
      t.is(answer.status, 403, `${path} with ${JSON.stringify(headers)}`);
      t.regex((await answer.json()).error, /cross-site request refused/);
    }
  }
  t.is((await session.get('/api/user')).status, 200, 'the session survived the forged logout');
  const own = await fetch(`${forge.url}/api/user/tokens`, { method: 'POST', headers: { cookie, origin: forge.url, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' }, body: '{}' });
  t.is(own.status, 201);
  const token = (await own.json()).id;
  const bearer = await fetch(`${forge.url}/api/user/tokens`, { method: 'POST', headers: { authorization: `Bearer ${token}`, origin: 'http://elsewhere.example', 'content-type': 'application/json' }, body: '{}' });
  t.is(bearer.status, 201, 'Bearer tokens are not sent by browsers on their own, so they are exempt');
});

test.serial('security headers: a CSP, frame protection and nosniff on pages and API; no HSTS over plain HTTP', async (t) => {
  for (const path of ['/', '/api/ping', '/login']) {
    const res = await fetch(`${forge.url}${path}`);
    const csp = res.headers.get('content-security-policy') ?? '';
    t.regex(csp, /default-src 'self'/, path);
    t.regex(csp, /frame-ancestors 'none'/, path);
    t.notRegex(csp, /script-src[^;]*unsafe-inline/, path);
    t.is(res.headers.get('x-frame-options'), 'DENY', path);
    t.is(res.headers.get('x-content-type-options'), 'nosniff', path);
    t.is(res.headers.get('strict-transport-security'), null, path);
  }
});

test.serial('over TLS: HSTS, and a Secure session cookie even when web_host says http://', async (t) => {
  const dir = tempDir();
  await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  const tls = await startForge({
    login: false,
    env: { FORGE_TLS_CERT_FILE: join(dir, 'cert.pem'), FORGE_TLS_KEY_FILE: join(dir, 'key.pem'), FORGE_WEB_HOST: 'http://forge.example.com' },
  });
  t.true(tls.url.startsWith('https://'));
  const ping = await fetch(`${tls.url}/api/ping`);
  t.regex(ping.headers.get('strict-transport-security') ?? '', /max-age=\d+/);
  const login = await fetch(`${tls.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth: ADMIN_LOGIN, password: ADMIN_PASSWORD }) });
  t.is(login.status, 204);
  const cookies = login.headers.getSetCookie();
  const session = cookies.find((c) => c.startsWith('forge_session='));
  t.regex(session ?? '', /;\s*Secure/i);
  t.regex(session ?? '', /HttpOnly/i);
});

test.serial('login throttling: 429 with Retry-After per address and per account; a browser that logged in before still can', async (t) => {
  const proxied = await startForge({ env: { FORGE_TRUSTED_PROXIES: 'loopback' } });
  const from = (address: string, cookie?: string) => (password: string, auth = ADMIN_LOGIN) =>
    fetch(`${proxied.url}/api/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': address, ...(cookie ? { cookie } : {}) }, body: JSON.stringify({ auth, password }),
    });
  // The admin's own browser logs in once from its address and keeps the device cookie.
  const first = await from('198.51.100.7')(ADMIN_PASSWORD);
  t.is(first.status, 204);
  const deviceCookie = /forge_device=[^;]+/.exec(first.headers.get('set-cookie') ?? '')![0];

  const attacker = from('203.0.113.9');
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 20; i++) {
    const answer = await attacker(`wrong-${i}`);
    statuses.push(answer.status);
    if (answer.status === 429) retryAfter = answer.headers.get('retry-after');
  }
  t.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
  t.deepEqual(statuses.slice(10), Array(10).fill(429));
  t.true(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After: ${retryAfter}`);
  t.is((await attacker(ADMIN_PASSWORD)).status, 429, 'the right password does not get through from the throttled address either');
  t.is((await from('192.0.2.44')(ADMIN_PASSWORD)).status, 429, 'the account is throttled for browsers it has not seen');
  t.is((await from('198.51.100.7', deviceCookie)(ADMIN_PASSWORD)).status, 204, 'the admin\'s own browser still logs in');

  // One address trying many accounts is stopped by the per-address limit.
  const sprayer = from('203.0.113.50');
  const spray = [];
  for (let i = 0; i < 12; i++) spray.push((await sprayer('nope', `user${i}`)).status);
  t.is(spray.filter((s) => s === 429).length, 2);
});

test.serial('X-Forwarded-For is ignored unless the peer is a trusted proxy: spoofed addresses are still throttled', async (t) => {
  const direct = await startForge({ login: false });
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) {
    const answer = await fetch(`${direct.url}/api/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.9.8.${i}` }, body: JSON.stringify({ auth: `someone${i}`, password: 'x' }),
    });
    statuses.push(answer.status);
  }
  t.deepEqual(statuses, [...Array(10).fill(401), 429, 429]);
});
