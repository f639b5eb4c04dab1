/**
 * The runner protocol's HTTP edge, served on node:http without Express (services/gateway/app.ts):
 * what a runner or an attacker sends that is not a well-formed request answers as the Express app
 * did — 413 for a body over the limit (also while reading one without a declared length), 401 before
 * a body is read, 400 naming malformed JSON, 404 JSON for an unknown route, 429 past the
 * registration rate limit — and the server keeps serving afterwards.
 */
import test from 'ava';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { cleanup, type Forge, startForge } from './helpers/index.js';

test.after.always(cleanup);

const BASE = '/api/internal/runners';
let forge: Forge;
let token: string;
test.before(async () => {
  forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_RUNNER_REGISTRATION_TOKEN: 'registration-secret' } });
  token = (await forge.api.json('POST', '/api/runners', { name: 'edge' })).token;
});

const idleState = JSON.stringify({ active: [] });

async function post(path: string, body: BodyInit | undefined, headers: Record<string, string> = {}) {
  const init: RequestInit & { duplex?: 'half' } = { method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': token, ...headers }, body };
  if (body instanceof ReadableStream) init.duplex = 'half';
  const res = await fetch(`${forge.url}${BASE}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, error: (JSON.parse(text || '{}') as { error?: string }).error };
}

/** A body without a declared length (chunked): `total` bytes of `x` in 16 KiB chunks. */
function chunked(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const size = Math.min(16 * 1024, total - sent);
      sent += size;
      controller.enqueue(new Uint8Array(size).fill(120));
    },
  });
}

test.serial('a JSON answer carries its length and nosniff; a gzip body (read by body-parser) is still taken', async (t) => {
  const beat = await post('/heartbeat', idleState);
  t.is(beat.status, 200, beat.text);
  t.is(beat.headers.get('content-type'), 'application/json; charset=utf-8');
  t.is(beat.headers.get('content-length'), String(Buffer.byteLength(beat.text)));
  t.is(beat.headers.get('x-content-type-options'), 'nosniff');
  t.is(beat.headers.get('x-powered-by'), null);
  const zipped = await post('/heartbeat', gzipSync(idleState), { 'content-encoding': 'gzip' });
  t.is(zipped.status, 200, zipped.text);
  t.deepEqual(JSON.parse(zipped.text), JSON.parse(beat.text));
});

test.serial('a body over the limit without a Content-Length answers 413 while it is read, and the server keeps serving', async (t) => {
  const over = await post('/heartbeat', chunked(200 * 1024));
  t.is(over.status, 413);
  t.is(over.error, 'request body is larger than the limit of 65536 bytes (max_body_bytes)');
  const declared = await post('/heartbeat', 'x'.repeat(70 * 1024));
  t.is(declared.status, 413);
  t.is(declared.error, 'request body is larger than the limit of 65536 bytes (runner request)');
  const after = await post('/heartbeat', idleState);
  t.is(after.status, 200, after.text);
});

test.serial('malformed JSON, JSON that is not an object, and a body that is not JSON answer 400 saying so', async (t) => {
  const broken = await post('/heartbeat', '{"active": [');
  t.is(broken.status, 400);
  t.regex(broken.error!, /^malformed JSON body: /);
  const scalar = await post('/heartbeat', ' 123');
  t.is(scalar.status, 400);
  t.regex(scalar.error!, /^malformed JSON body: .*123/);
  const plain = await post('/heartbeat', idleState, { 'content-type': 'text/plain' });
  t.is(plain.status, 400);
  t.is(plain.error, 'the request body must be a JSON object (send Content-Type: application/json)');
  const empty = await post('/jobs/1/output', '');
  t.is(empty.status, 400, 'an empty JSON body is {}: the schema names the missing field');
  t.regex(empty.error!, /^attempt: /);
  const badId = await post('/jobs/abc/output', JSON.stringify({ attempt: 1, lines: [] }));
  t.is(badId.status, 400);
  t.regex(badId.error!, /^task_id: expected a positive whole number/);
});

test.serial('an unknown route answers 404 JSON naming it; routes match as before (any case, a trailing slash)', async (t) => {
  const unknown = await post('/jobs/next/later?x=1', idleState);
  t.is(unknown.status, 404);
  t.is(unknown.error, `no runner protocol route POST ${BASE}/jobs/next/later?x=1`);
  t.is(unknown.headers.get('x-content-type-options'), 'nosniff');
  const wrongMethod = await fetch(`${forge.url}${BASE}/heartbeat`, { headers: { 'x-runner-token': token } });
  t.is(wrongMethod.status, 404);
  t.is((await post('/HEARTBEAT/', idleState)).status, 200);
  // The main app mounts the protocol too: a path whose prefix differs in case reaches it through Express.
  const viaMainApp = await fetch(`${forge.url}/API/Internal/Runners/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': token }, body: idleState });
  t.is(viaMainApp.status, 200, await viaMainApp.clone().text());
  t.deepEqual(Object.keys(await viaMainApp.json() as object).sort(), Object.keys(JSON.parse((await post('/heartbeat', idleState)).text) as object).sort());
});

test.serial('without a token the answer is 401 before the body is read: a body that never ends still gets it', async (t) => {
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const url = new URL(`${forge.url}${BASE}/heartbeat`);
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => {
        resolve({ status: res.statusCode!, body });
        req.destroy();
      });
    });
    req.on('error', reject);
    req.write('{"active": ['); // chunked, and never ended
  });
  t.is(answer.status, 401);
  t.is(JSON.parse(answer.body).error, 'missing X-Runner-Token header');
  const wrong = await post('/heartbeat', idleState, { 'x-runner-token': 'not-a-token' });
  t.is(wrong.status, 401);
  t.regex(wrong.error!, /^unknown runner token/);
});

test.serial('registration is rate-limited per address: the 21st attempt in a minute answers 429 with the standard headers', async (t) => {
  const attempt = () => post('', JSON.stringify({ registration_token: 'wrong', public_key: 'k', name: 'r' }), { 'x-runner-token': '' });
  for (let i = 0; i < 20; i++) {
    const refused = await attempt();
    t.is(refused.status, 401, refused.text);
    t.is(refused.error, 'wrong registration token');
  }
  const limited = await attempt();
  t.is(limited.status, 429);
  t.is(limited.error, 'too many registration attempts from this address; wait a minute and try again');
  t.truthy(limited.headers.get('ratelimit-policy'));
  t.regex(limited.headers.get('ratelimit') ?? '', /remaining=0/);
  t.is((await post('/heartbeat', idleState)).status, 200, 'other runner requests are not limited');
});
