import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { AppContext } from '../context.js';
import { bearerToken } from './auth.js';
import { HttpError } from './http.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * CSRF protection: a request with an unsafe method that does not carry a Bearer token (so a
 * browser may have attached the session cookie by itself) must come from Forge's own origin.
 * Browsers say where a request comes from in Sec-Fetch-Site (modern ones) or Origin; a request
 * with neither is not from a browser page, so it cannot be a cross-site forgery.
 */
export function sameOriginForCookies(ctx: AppContext) {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (SAFE_METHODS.has(req.method)) return next();
    refuseCrossSite(ctx, req, req.protocol);
    next();
  };
}

/** sameOriginForCookies's check of an unsafe request that came over `protocol`: a 403 saying why. */
export function refuseCrossSite(ctx: AppContext, req: IncomingMessage, protocol: string): void {
  const why = crossSiteReason(ctx, req, `${protocol}://${req.headers.host ?? ''}`);
  if (why) throw refused(why);
}

/**
 * Why a request that may carry the session cookie did not come from Forge's own origin, or
 * undefined when it did (or carries a Bearer token, or comes from no browser page). `self` is the
 * origin the request was sent to (a WebSocket upgrade gives the bare host: any scheme of it counts).
 */
export function crossSiteReason(ctx: AppContext, req: IncomingMessage, self: string): string | undefined {
  if (bearerToken(req)) return undefined;
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin' || site === 'none' ? undefined : `Sec-Fetch-Site is "${site}"`;
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  const own = ownOrigins(ctx, self.includes('://') ? [self] : [`http://${self}`, `https://${self}`]);
  return own.has(origin) ? undefined : `Origin ${origin} is not this server`;
}

function ownOrigins(ctx: AppContext, self: string[]): Set<string> {
  const origins = new Set<string>(self);
  try {
    if (ctx.config.web_host) origins.add(new URL(ctx.config.web_host).origin);
  } catch {
    // web_host is validated at start; nothing to add
  }
  return origins;
}

const refused = (why: string) =>
  new HttpError(403, `cross-site request refused (${why}): changes need a request from the Forge UI itself, or an API token (Authorization: Bearer)`);
