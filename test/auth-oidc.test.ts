/**
 * OIDC login against a real OpenID provider (oidc-provider on a loopback port): the code flow
 * with state, nonce and PKCE over real HTTP, the user created or linked, the session it starts,
 * and the refusals (forged state, a state from another browser, an unknown or unreachable provider,
 * a redirect to another site).
 */
import test from 'ava';
import { ApiClient, cleanup, type Forge, forgeDirs, forgeEnv, freePort, runForgeCli, startForge } from './helpers/index.js';
import { CookieJar, oidcLoginUntilCallback, type OidcProvider, startOidcProvider } from './helpers/oidc.js';

let forge: Forge;
let idp: OidcProvider;
/** Forge's callback URL: on web_host, as browsers reach Forge. */
let callbackUrl: string;
test.before(async () => {
  idp = await startOidcProvider();
  const closedPort = await freePort();
  forge = await startForge({
    configFile: {
      oidc_providers: {
        local: { display_name: 'Sign in with Local SSO', provider_url: idp.issuer, client_id: 'forge', client_secret: 'forge-client-secret' },
        down: { provider_url: `http://127.0.0.1:${closedPort}`, client_id: 'forge' },
        byname: { display_name: 'By login', provider_url: idp.issuer, client_id: 'forge', client_secret: 'forge-client-secret', match_claim: 'username', username_claim: 'nickname' },
      },
    },
  });
  callbackUrl = `${(await forge.api.json('GET', '/api/info')).web_host}/api/auth/oidc/local/redirect`;
  idp.registerClient({ client_id: 'forge', client_secret: 'forge-client-secret', redirect_uris: [callbackUrl, callbackUrl.replace('/local/', '/byname/')] });
});
test.after.always(cleanup);

/** A browser's login at Forge, walked through the provider up to Forge's callback. */
const untilCallback = (query = '') => oidcLoginUntilCallback(forge.url, 'local', callbackUrl, query);

/** The whole flow for one account: answers Forge's last answer and a client holding the session. */
async function loginAs(account: Parameters<OidcProvider['signInAs']>[0], query = '') {
  idp.signInAs(account);
  const { jar, callback } = await untilCallback(query);
  const res = await jar.fetch(callback);
  return { res, client: sessionOf(jar), text: await res.text() };
}

/** An API client with the browser's session cookie (none if the login did not set one). */
function sessionOf(jar: CookieJar): ApiClient {
  const session = jar.get('forge_session');
  return new ApiClient(forge.url, session ? { cookie: `forge_session=${session}` } : {});
}

test.serial('GET /api/auth/login lists the configured providers; /api/info says OIDC is on', async (t) => {
  const anonymous = forge.api.anonymous();
  const meta = await anonymous.get('/api/auth/login');
  t.is(meta.status, 200);
  t.deepEqual(meta.body.oidc_providers, [{ id: 'local', name: 'Sign in with Local SSO' }, { id: 'down', name: 'down' }, { id: 'byname', name: 'By login' }]);
  t.true(meta.body.login_with_password);
  t.true((await anonymous.get('/api/info')).body.auth_methods.oidc);
});

test.serial('the login sends the browser to the provider with state, nonce and an S256 PKCE challenge', async (t) => {
  idp.signInAs({ sub: 'erin' });
  const { jar, authorizationUrl } = await untilCallback();
  const url = new URL(authorizationUrl);
  t.is(url.origin, idp.issuer);
  const params = url.searchParams;
  t.is(params.get('client_id'), 'forge');
  t.is(params.get('response_type'), 'code');
  t.is(params.get('redirect_uri'), callbackUrl);
  t.is(params.get('scope'), 'openid profile email');
  t.is(params.get('code_challenge_method'), 'S256');
  t.regex(params.get('code_challenge') ?? '', /^[\w-]{43}$/);
  t.truthy(params.get('nonce'));
  t.is(jar.get('forge_oidc_state'), params.get('state') ?? undefined, 'the state is bound to this browser by a cookie');
});

test.serial('a full code flow creates an external user, starts a session that works on /api/user, and returns to the path asked for', async (t) => {
  const { res, client } = await loginAs({ sub: 'alice-sub', email: 'alice@example.test', email_verified: true, preferred_username: 'alice', name: 'Alice A.' }, '?redirect=/project/1/history');
  t.is(res.status, 302);
  t.is(res.headers.get('location'), '/project/1/history');
  const me = await client.get('/api/user');
  t.is(me.status, 200);
  t.like(me.body, { username: 'alice', email: 'alice@example.test', external: true, admin: false });
  // The same account logs in again as the same user.
  const again = await loginAs({ sub: 'alice-sub', email: 'alice@example.test', email_verified: true, preferred_username: 'alice' });
  t.is(again.res.headers.get('location'), '/');
  t.is((await again.client.get('/api/user')).body.id, me.body.id);
  const users = await forge.api.json('GET', '/api/users');
  t.is(users.filter((u: { email: string }) => u.email === 'alice@example.test').length, 1);
  const events = await forge.api.json('GET', '/api/events');
  t.true(events.some((e: { description: string }) => e.description === 'user alice created by OIDC login with provider local'));
});

test.serial('an existing user with the e-mail address is linked (and marked external), not duplicated', async (t) => {
  const local = await forge.api.json('POST', '/api/users', { username: 'bob', email: 'Bob@Example.test', password: 'bob-password-1' });
  t.false(local.external);
  const { res, client } = await loginAs({ sub: 'bob-at-idp', email: 'bob@example.test', email_verified: true, preferred_username: 'robert' });
  t.is(res.status, 302);
  const me = (await client.get('/api/user')).body;
  t.is(me.id, local.id);
  t.is(me.username, 'bob');
  t.true(me.external);
});

test.serial('match_claim "username" finds the user by the configured username claim, not by e-mail', async (t) => {
  const local = await forge.api.json('POST', '/api/users', { username: 'gina', email: 'gina@corp.test', password: 'gina-password-1' });
  idp.signInAs({ sub: 'gina-sub', email: 'someone-else@example.test', email_verified: true, preferred_username: 'not-gina', nickname: 'gina' });
  const { jar, callback } = await oidcLoginUntilCallback(forge.url, 'byname', callbackUrl.replace('/local/', '/byname/'));
  t.is((await jar.fetch(callback)).status, 302);
  t.like((await sessionOf(jar).get('/api/user')).body, { id: local.id, username: 'gina', email: 'gina@corp.test', external: true });
});

test.serial('an unverified e-mail address does not log in or link', async (t) => {
  const { res, client, text } = await loginAs({ sub: 'mallory', email: 'bob@example.test', email_verified: false, preferred_username: 'mallory' });
  t.is(res.status, 403);
  t.regex(JSON.parse(text).error, /not verified the e-mail address bob@example\.test/);
  t.is((await client.get('/api/user')).status, 401);
});

test.serial('a forged state is refused, and so is a real state from another browser; neither logs in', async (t) => {
  idp.signInAs({ sub: 'carol', email: 'carol@example.test', email_verified: true, preferred_username: 'carol' });
  const { jar, callback: callbackHref } = await untilCallback();
  const callback = new URL(callbackHref);
  const forged = new URL(callback);
  forged.searchParams.set('state', 'forged-state-value');
  const refused = await jar.fetch(forged.href);
  t.is(refused.status, 400);
  t.regex((await refused.json()).error, /^state: does not match the login this browser started/);
  t.falsy(jar.get('forge_session'));
  // The genuine callback, sent by a browser that did not start this login (login CSRF).
  const otherBrowser = new CookieJar();
  const stolen = await otherBrowser.fetch(callback.href);
  t.is(stolen.status, 400);
  t.falsy(otherBrowser.get('forge_session'));
  t.false((await forge.api.json('GET', '/api/users')).some((u: { username: string }) => u.username === 'carol'));
});

test.serial('a state is good for one login only', async (t) => {
  idp.signInAs({ sub: 'dave', email: 'dave@example.test', email_verified: true, preferred_username: 'dave' });
  const { jar, callback } = await untilCallback();
  const state = jar.get('forge_oidc_state')!;
  t.is((await jar.fetch(callback)).status, 302);
  const replay = await fetch(callback, { redirect: 'manual', headers: { cookie: `forge_oidc_state=${state}` } });
  t.is(replay.status, 400);
  t.regex((await replay.json()).error, /^state: unknown or expired/);
});

test.serial('errors a user can hit answer clearly: unknown provider 404, unreachable provider 502, another site as redirect 400', async (t) => {
  const unknown = await fetch(`${forge.url}/api/auth/oidc/nope/login`, { redirect: 'manual' });
  t.is(unknown.status, 404);
  t.regex((await unknown.json()).error, /^provider_id: no OIDC provider "nope"/);
  const down = await fetch(`${forge.url}/api/auth/oidc/down/login`, { redirect: 'manual' });
  t.is(down.status, 502);
  t.regex((await down.json()).error, /OIDC provider "down" at http:\/\/127\.0\.0\.1:\d+ did not answer.*oidc_providers\.down\.provider_url/);
  for (const target of ['//evil.example/x', 'https://evil.example/', '/\\evil.example']) {
    const res = await fetch(`${forge.url}/api/auth/oidc/local/login?redirect=${encodeURIComponent(target)}`, { redirect: 'manual' });
    t.is(res.status, 400, target);
    t.regex((await res.json()).error, /^redirect: expected a path on this server/);
  }
  const noState = await fetch(`${forge.url}/api/auth/oidc/local/redirect?code=abc`, { redirect: 'manual' });
  t.is(noState.status, 400);
  t.regex((await noState.json()).error, /^state: missing/);
});

test.serial('FORGE_OIDC_PROVIDERS takes the providers as JSON; a provider without client_id stops the server naming the key', async (t) => {
  const fromEnv = await startForge({ env: { FORGE_OIDC_PROVIDERS: JSON.stringify({ envsso: { provider_url: idp.issuer, client_id: 'forge' } }) } });
  t.deepEqual((await fromEnv.api.anonymous().get('/api/auth/login')).body.oidc_providers, [{ id: 'envsso', name: 'envsso' }]);
  await fromEnv.stop();
  const bad = await runForgeCli(['server'], { env: forgeEnv(forgeDirs(), { FORGE_OIDC_PROVIDERS: JSON.stringify({ sso: { provider_url: idp.issuer } }) }), timeoutMs: 30_000 });
  t.not(bad.code, 0);
  t.regex(bad.stdout + bad.stderr, /oidc_providers\.sso\.client_id/);
});
