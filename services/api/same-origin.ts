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
    if (SAFE_METHODS.has(req.method) || bearerToken(req)) return next();
    const site = req.headers['sec-fetch-site'];
    if (typeof site === 'string') {
      if (site === 'same-origin' || site === 'none') return next();
      throw refused(`Sec-Fetch-Site is "${site}"`);
    }
    const origin = req.headers.origin;
    if (origin === undefined) return next();
    if (ownOrigins(ctx, req).has(origin)) return next();
    throw refused(`Origin ${origin} is not this server`);
  };
}

function ownOrigins(ctx: AppContext, req: Request): Set<string> {
  const origins = new Set<string>([`${req.protocol}://${req.headers.host ?? ''}`]);
  try {
    if (ctx.config.web_host) origins.add(new URL(ctx.config.web_host).origin);
  } catch {
    // web_host is validated at start; nothing to add
  }
  return origins;
}

const refused = (why: string) =>
  new HttpError(403, `cross-site request refused (${why}): changes need a request from the Forge UI itself, or an API token (Authorization: Bearer)`);
