import { Router, type Request, type Response } from 'express';
import { parse as parseCookie } from 'cookie';
import * as client from 'openid-client';
import { z } from 'zod';
import { logger } from '../../protocol/log.js';
import type { OidcProviderConfig } from '../common/config.js';
import type { User } from '../common/model.js';
import { constantTimeEqual, hashToken, newToken } from '../common/secrets.js';
import type { AppContext } from '../context.js';
import { keys } from '../redis/keys.js';
import { audit } from './audit.js';
import { secureCookies, startSession } from './auth.js';
import { HttpError } from './http.js';

const log = logger('oidc');

/** The browser's half of a login in progress: the state, in a cookie only the callback path receives. */
const STATE_COOKIE = 'forge_oidc_state';
const STATE_COOKIE_PATH = '/api/auth/oidc';
/** How long a login may take at the provider. */
const STATE_TTL_SEC = 600;
const DISCOVERY_TIMEOUT_SEC = 10;

/** A path on this server: starts with one "/" (not "//" or "/\", which browsers read as another host). */
const sameOriginPath = z.string().max(2000).regex(/^\/(?![/\\])[^\s]*$/, 'expected a path on this server, such as /project/1/history');
const loginQuery = z.object({ redirect: sameOriginPath.optional() });
const callbackQuery = z.object({
  state: z.string({ message: 'state: missing; start the login again at the login page' }).min(1).max(512),
  error: z.string().max(200).optional(),
  error_description: z.string().max(1000).optional(),
});

/** What the login step keeps for the callback (in Redis, one use, under the state's hash). */
interface PendingLogin { provider: string; verifier: string; nonce: string; redirect_uri: string; return_to: string }

/** The providers GET /api/auth/login lists (Semaphore's shape: id, name). */
export function oidcProviderList(ctx: AppContext): Array<{ id: string; name: string }> {
  return Object.entries(ctx.config.oidc_providers).map(([id, p]) => ({ id, name: p.display_name || id }));
}

/**
 * OpenID Connect login (authorization code flow with state, nonce and PKCE): /login sends the
 * browser to the provider, /redirect takes it back, finds or creates the Forge user and starts
 * the same session a password login does.
 */
export function oidcRouter(ctx: AppContext): Router {
  const router = Router();
  const discovered = new Map<string, client.Configuration>();

  const providerOf = (req: Request): [string, OidcProviderConfig] => {
    const id = String(req.params.provider_id);
    const provider = Object.hasOwn(ctx.config.oidc_providers, id) ? ctx.config.oidc_providers[id] : undefined;
    if (!provider) throw new HttpError(404, `provider_id: no OIDC provider "${id}"; GET /api/auth/login lists the configured ones`);
    return [id, provider];
  };

  /** The provider's metadata, fetched once (a failure is retried on the next login). */
  const configurationOf = async (id: string, provider: OidcProviderConfig): Promise<client.Configuration> => {
    const known = discovered.get(id);
    if (known) return known;
    const url = new URL(provider.provider_url);
    // Plain HTTP only to a provider on this machine (development, tests); anything else needs TLS.
    const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    try {
      const configuration = await client.discovery(url, provider.client_id, provider.client_secret || undefined, undefined, {
        timeout: DISCOVERY_TIMEOUT_SEC,
        ...(loopback && url.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}),
      });
      discovered.set(id, configuration);
      return configuration;
    } catch (err) {
      log.warn('OIDC discovery failed', { provider: id, url: provider.provider_url, error: (err as Error).message });
      throw new HttpError(502, `OIDC provider "${id}" at ${provider.provider_url} did not answer its discovery document (${(err as Error).message}); try again later, or ask an admin to check oidc_providers.${id}.provider_url`);
    }
  };

  router.get('/auth/oidc/:provider_id/login', forBrowsers(async (req, res) => {
    const [id, provider] = providerOf(req);
    const query = loginQuery.safeParse(req.query);
    if (!query.success) throw new HttpError(400, `redirect: ${query.error.issues[0]!.message}`);
    const configuration = await configurationOf(id, provider);
    const state = client.randomState();
    const pending: PendingLogin = {
      provider: id, verifier: client.randomPKCECodeVerifier(), nonce: client.randomNonce(),
      redirect_uri: provider.redirect_url || `${publicBase(ctx, req)}/api/auth/oidc/${id}/redirect`,
      return_to: query.data.redirect ?? '/',
    };
    await ctx.redis.set(keys.oidcState(hashToken(state)), JSON.stringify(pending), 'EX', STATE_TTL_SEC);
    res.cookie(STATE_COOKIE, state, { httpOnly: true, sameSite: 'lax', secure: secureCookies(ctx, req), maxAge: STATE_TTL_SEC * 1000, path: STATE_COOKIE_PATH });
    const target = client.buildAuthorizationUrl(configuration, {
      redirect_uri: pending.redirect_uri, scope: provider.scopes.join(' '), state, nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(pending.verifier), code_challenge_method: 'S256',
    });
    res.redirect(302, target.href);
  }));

  router.get('/auth/oidc/:provider_id/redirect', forBrowsers(async (req, res) => {
    const [id, provider] = providerOf(req);
    const query = callbackQuery.safeParse(req.query);
    if (!query.success) throw new HttpError(400, query.error.issues[0]!.message);
    const pending = await takePendingLogin(ctx, req, res, query.data.state);
    if (pending.provider !== id) throw new HttpError(400, 'state: this login was started with another provider; start it again at the login page');
    if (query.data.error) {
      throw new HttpError(401, `the OIDC provider refused the login: ${query.data.error}${query.data.error_description ? ` (${query.data.error_description})` : ''}`);
    }
    const configuration = await configurationOf(id, provider);
    const callback = new URL(pending.redirect_uri);
    callback.search = new URL(req.originalUrl, 'http://forge.invalid').search;
    let claims: Record<string, unknown>;
    try {
      const tokens = await client.authorizationCodeGrant(configuration, callback, {
        pkceCodeVerifier: pending.verifier, expectedNonce: pending.nonce, expectedState: query.data.state, idTokenExpected: true,
      });
      const idClaims = tokens.claims()!;
      const userInfo = tokens.access_token ? await client.fetchUserInfo(configuration, tokens.access_token, idClaims.sub) : {};
      claims = { ...userInfo, ...idClaims };
    } catch (err) {
      log.warn('OIDC code exchange failed', { provider: id, error: (err as Error).message });
      throw new HttpError(502, `OIDC provider "${id}" did not confirm the login (${(err as Error).message}); start it again at the login page`);
    }
    const user = await userForClaims(ctx, req, id, provider, claims);
    await startSession(ctx, req, res, user);
    res.redirect(302, pending.return_to);
  }));
  return router;
}

/**
 * A browser finds itself on these paths by navigation, so it gets an error as the login page with
 * the message (302 /login?oidc_error=…); API clients get the JSON error with its status.
 */
function forBrowsers(handler: (req: Request, res: Response) => Promise<void>) {
  return async (req: Request, res: Response) => {
    try {
      await handler(req, res);
    } catch (err) {
      if (!(err instanceof HttpError) || req.accepts(['json', 'html']) !== 'html') throw err;
      res.redirect(302, `/login?oidc_error=${encodeURIComponent(err.message)}`);
    }
  };
}

/** The login the state names, once: it must also be the state this browser's cookie holds (no login CSRF). */
async function takePendingLogin(ctx: AppContext, req: Request, res: Response, state: string): Promise<PendingLogin> {
  const cookieState = parseCookie(req.headers.cookie ?? '')[STATE_COOKIE];
  res.clearCookie(STATE_COOKIE, { path: STATE_COOKIE_PATH, httpOnly: true, sameSite: 'lax', secure: secureCookies(ctx, req) });
  if (!cookieState || !constantTimeEqual(cookieState, state)) {
    throw new HttpError(400, 'state: does not match the login this browser started (or it expired); start the login again at the login page');
  }
  const raw = await ctx.redis.getdel(keys.oidcState(hashToken(state)));
  if (!raw) throw new HttpError(400, `state: unknown or expired (a login must finish within ${STATE_TTL_SEC / 60} minutes); start it again at the login page`);
  return JSON.parse(raw) as PendingLogin;
}

/** The Forge user for the provider's claims: found by the match claim and marked external, or created. */
async function userForClaims(ctx: AppContext, req: Request, id: string, provider: OidcProviderConfig, claims: Record<string, unknown>): Promise<User> {
  const claim = (name: string) => (typeof claims[name] === 'string' ? (claims[name] as string).trim() : '');
  const email = claim(provider.email_claim);
  const username = claim(provider.username_claim) || email;
  const matchName = provider.match_claim === 'email' ? provider.email_claim : provider.username_claim;
  const matchValue = provider.match_claim === 'email' ? email : username;
  if (!matchValue) {
    throw new HttpError(403, `the OIDC provider sent no "${matchName}" claim to find the user by; ask an admin to check oidc_providers.${id}.${provider.match_claim}_claim and scopes`);
  }
  if (provider.match_claim === 'email' && claims.email_verified === false) {
    throw new HttpError(403, `the OIDC provider has not verified the e-mail address ${email}; verify it there, then log in again`);
  }
  const users = ctx.stores.users;
  const existing = await users.findBy(provider.match_claim === 'email' ? 'email' : 'login', matchValue);
  if (existing) {
    if (existing.external) return existing;
    const linked = (await users.update(existing.id, { external: true }))!;
    req.user = linked;
    await audit(ctx, req, { project_id: null, object_type: 'user', object_id: linked.id, description: `user ${linked.login} linked to OIDC provider ${id}` });
    return linked;
  }
  let created: User;
  try {
    // External users log in at the provider: the password is random and never shown.
    created = await users.create({ login: username, name: claim(provider.name_claim) || username, email, password: newToken(), admin: false, external: true });
  } catch (err) {
    throw new HttpError(409, `cannot create the user from OIDC provider ${id}: ${(err as Error).message}; ask an admin to link or rename that user`);
  }
  req.user = created;
  await audit(ctx, req, { project_id: null, object_type: 'user', object_id: created.id, description: `user ${created.login} created by OIDC login with provider ${id}` });
  return created;
}

/** Where browsers reach this server: web_host (without a trailing slash), else the address of this request. */
function publicBase(ctx: AppContext, req: Request): string {
  return ctx.config.web_host ? ctx.config.web_host.replace(/\/+$/, '') : `${req.protocol}://${req.headers.host ?? 'localhost'}`;
}
