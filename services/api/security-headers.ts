import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';

/** The UI is built to need nothing inline and nothing from elsewhere (web/index.html carries the same policy). */
const uiPolicy = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

/** Bull Board's page bootstraps with inline script and styles, and takes its fonts from Google; it is admin-only and read-only. */
const queueBoardPolicy = {
  ...uiPolicy,
  'script-src': ["'self'", "'unsafe-inline'"],
  'style-src': ["'self'", "'unsafe-inline'", 'https://fonts.googleapis.com'],
  'font-src': ["'self'", 'data:', 'https://fonts.gstatic.com'],
};

const common = {
  xFrameOptions: { action: 'deny' as const },
  referrerPolicy: { policy: 'same-origin' as const },
  // HSTS is added per request below, only over TLS.
  strictTransportSecurity: false,
};

/** Sets the security headers of an answer to `path`; `secure`: the request came over TLS. */
export type PageHeaders = (req: IncomingMessage, res: ServerResponse, path: string, secure: boolean) => void;

/**
 * Security headers from helmet: a Content-Security-Policy the UI passes, frame protection,
 * nosniff, and HSTS whenever the request came over TLS (served by Forge, or by a trusted proxy
 * that says so in X-Forwarded-Proto). helmet's middlewares set headers and call on at once.
 */
export function pageHeaders(queueBoardPath: string): PageHeaders {
  const ui = helmet({ ...common, contentSecurityPolicy: { useDefaults: false, directives: uiPolicy } });
  const board = helmet({ ...common, contentSecurityPolicy: { useDefaults: false, directives: queueBoardPolicy } });
  const hsts = helmet.strictTransportSecurity({ maxAge: 365 * 24 * 3600, includeSubDomains: false });
  const rethrow = (err?: unknown) => {
    if (err) throw err;
  };
  return (req, res, path, secure) => {
    (path.startsWith(queueBoardPath) ? board : ui)(req, res, rethrow);
    if (secure) hsts(req, res, rethrow);
  };
}

/** pageHeaders for the Express app. */
export function securityHeaders(queueBoardPath: string): RequestHandler {
  const set = pageHeaders(queueBoardPath);
  return (req: Request, res: Response, next: NextFunction) => {
    set(req, res, req.path, req.secure);
    next();
  };
}
