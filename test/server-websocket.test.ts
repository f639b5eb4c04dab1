/**
 * GET /api/ws: the live events of /api/events/live over a WebSocket, with a real `ws` client:
 * authenticated by session cookie or Bearer token, refused cross-site with a cookie, and bounded
 * like the SSE streams (a revoked token ends the socket with an `expired` message).
 */
import test from 'ava';
import { cleanup, makeBareRepo, runTask, setupTemplate, SocketClient, SocketRefused, startForge, type Forge, wsUrl } from './helpers/index.js';

let forge: Forge;
test.before(async () => {
  forge = await startForge();
});
test.after.always(cleanup);

test.serial('with the session cookie it carries task events as they happen, and the dashboard with ?summary=1', async (t) => {
  const api = forge.api;
  const setup = await setupTemplate(api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo hi\n' })).path, app: 'bash', playbook: 'run.sh' });
  const socket = await SocketClient.open(wsUrl(forge.url, '/api/ws?summary=1'), { ...api.authHeaders(), Origin: forge.url });
  const hello = await socket.next();
  t.is(hello.event, 'hello');
  t.is(hello.data.summary, true);
  t.truthy((await socket.readUntil((m) => m.event === 'dashboard')).data.generated);
  const task = await runTask(api, setup);
  const done = await socket.readUntil((m) => m.event === 'task' && m.data.id === task.id && m.data.status === 'success');
  t.is(done.data.project_id, setup.projectId);
  socket.close();
  t.is(await socket.closed, 1005);
});

test.serial('a Bearer token works, and revoking it ends the socket with an expired message', async (t) => {
  const created = await forge.api.json('POST', '/api/user/tokens', { name: 'ws' });
  const socket = await SocketClient.open(wsUrl(forge.url, '/api/ws'), { authorization: `Bearer ${created.id}` });
  t.is((await socket.next()).event, 'hello');
  t.is((await forge.api.delete(`/api/user/tokens/${created.id}`)).status, 204);
  const expired = await socket.readUntil((m) => m.event === 'expired');
  t.regex(expired.data.error, /revoked/);
  t.is(await socket.closed, 1008);
});

test.serial('refused: no credentials (401), a cookie from another site (403), a plain GET (426); a cookie from no page is fine', async (t) => {
  const refusal = async (headers: Record<string, string>) => {
    const err = await t.throwsAsync(SocketClient.open(wsUrl(forge.url, '/api/ws'), headers));
    return err instanceof SocketRefused ? err.status : err?.message;
  };
  t.is(await refusal({}), 401);
  t.is(await refusal({ ...forge.api.authHeaders(), Origin: 'https://evil.example' }), 403);
  t.is(await refusal({ ...forge.api.authHeaders(), 'Sec-Fetch-Site': 'cross-site' }), 403);
  const plain = await forge.api.get('/api/ws');
  t.is(plain.status, 426);
  t.regex(plain.body.error, /WebSocket/);
  // A cookie sent by no browser page (no Origin, no Sec-Fetch-Site) is not a cross-site request.
  const direct = await SocketClient.open(wsUrl(forge.url, '/api/ws'), forge.api.authHeaders());
  t.is((await direct.next()).event, 'hello');
  direct.close();
});
