import type { IncomingMessage } from 'node:http';
import { Router, type NextFunction, type Request, type Response } from 'express';
import { parse as parseCookie } from 'cookie';
import { loginInput, type User } from '../common/model.js';
import type { AppContext } from '../context.js';
import { declaredLengthLimit, jsonBody, LOGIN_BODY_BYTES } from './body-limits.js';
import { HttpError, parseBody } from './http.js';
import { LoginThrottle } from './login-throttle.js';

export const SESSION_COOKIE = 'forge_session';

declare module 'express-serve-static-core' {
  interface Request {
    user?: User;
  }
}

export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

export function sessionCookie(req: IncomingMessage): string | undefined {
  return parseCookie(req.headers.cookie ?? '')[SESSION_COOKIE];
}

/** The caller from a Bearer API token, else from the session cookie; undefined when neither is valid. */
export async function resolveUser(ctx: AppContext, req: IncomingMessage): Promise<User | undefined> {
  const token = bearerToken(req);
  if (token) return ctx.stores.users.userForApiToken(token);
  const session = sessionCookie(req);
  return session ? ctx.stores.users.userForSession(session) : undefined;
}

/** Requires a logged-in caller (Bearer API token or session cookie); 401 otherwise. */
export function requireUser(ctx: AppContext) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    req.user = await authenticatedUser(ctx, req);
    next();
  };
}

/** The caller (see resolveUser), or 401 saying how to log in. */
export async function authenticatedUser(ctx: AppContext, req: IncomingMessage): Promise<User> {
  const user = await resolveUser(ctx, req);
  if (!user) throw new HttpError(401, 'not logged in: POST /api/auth/login, or send Authorization: Bearer <API token>');
  return user;
}

export function requireAdmin(req: Request, _res: Response, next: NextFunction): void {
  if (!req.user?.admin) throw new HttpError(403, 'this needs an admin user');
  next();
}

/** Cookies are Secure whenever the browser reaches Forge over TLS (Forge's own, or a trusted proxy's), or web_host says https. */
export function secureCookies(ctx: AppContext, req: Request): boolean {
  return req.secure || Boolean(ctx.config.tls_cert_file) || ctx.config.web_host.startsWith('https:');
}

/** Starts a login session for the user: the session cookie every login method sets. */
export async function startSession(ctx: AppContext, req: Request, res: Response, user: User): Promise<void> {
  const session = await ctx.stores.users.createSession(user.id, ctx.config.session_ttl_sec);
  res.cookie(SESSION_COOKIE, session, { httpOnly: true, sameSite: 'lax', secure: secureCookies(ctx, req), maxAge: ctx.config.session_ttl_sec * 1000, path: '/' });
}

/** Login (throttled: see LoginThrottle) and logout, open to anyone. */
export function loginRouter(ctx: AppContext): Router {
  const router = Router();
  const throttle = new LoginThrottle(ctx.redis);
  const limit = Math.min(LOGIN_BODY_BYTES, ctx.config.max_body_bytes);
  router.post('/auth/login', declaredLengthLimit(limit, 'max_body_bytes'), jsonBody(limit), async (req, res) => {
    const input = parseBody(loginInput, req.body);
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const cookies = parseCookie(req.headers.cookie ?? '');
    const trustedDevice = await throttle.isTrustedDevice(cookies, input.auth);
    const wait = await throttle.retryAfter(address, input.auth, trustedDevice);
    if (wait !== undefined) {
      res.setHeader('Retry-After', String(wait));
      throw new HttpError(429, `too many failed logins; try again in ${wait} s`);
    }
    const user = await ctx.stores.users.authenticate(input.auth, input.password);
    if (!user) {
      await throttle.failed(address, input.auth, trustedDevice);
      throw new HttpError(401, 'wrong login or password');
    }
    await startSession(ctx, req, res, user);
    await throttle.issueDeviceCookie(res, input.auth, secureCookies(ctx, req));
    res.status(204).end();
  });
  router.post('/auth/logout', async (req, res) => {
    const session = sessionCookie(req);
    if (session) await ctx.stores.users.deleteSession(session);
    res.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure: secureCookies(ctx, req) });
    res.status(204).end();
  });
  return router;
}
