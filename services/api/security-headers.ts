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

/**
 * Security headers from helmet: a Content-Security-Policy the UI passes, frame protection,
 * nosniff, and HSTS whenever the request came over TLS (served by Forge, or by a trusted proxy
 * that says so in X-Forwarded-Proto).
 */
export function securityHeaders(queueBoardPath: string): RequestHandler {
  const ui = helmet({ ...common, contentSecurityPolicy: { useDefaults: false, directives: uiPolicy } });
  const board = helmet({ ...common, contentSecurityPolicy: { useDefaults: false, directives: queueBoardPolicy } });
  const hsts = helmet.strictTransportSecurity({ maxAge: 365 * 24 * 3600, includeSubDomains: false });
  return (req: Request, res: Response, next: NextFunction) => {
    const headers = req.path.startsWith(queueBoardPath) ? board : ui;
    headers(req, res, (err?: unknown) => {
      if (err || !req.secure) return next(err);
      hsts(req, res, next);
    });
  };
}
