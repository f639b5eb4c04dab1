import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { Router, type Express, type NextFunction, type Request, type Response } from 'express';
import type { AppContext } from '../context.js';
import { errorHandler, HttpError } from '../api/http.js';
import { runnerGatewayRouter } from './router.js';
import { runnerRequestGuard } from './runner-auth.js';

export const RUNNER_API_PATH = '/api/internal/runners';

/** The runner protocol's routes behind their guard (body limits, token, JSON body), mountable at RUNNER_API_PATH. */
export interface RunnerGateway {
  /** The protocol's own routes (for the OpenAPI description). */
  routes: Router;
  /** `routes` behind the guard: what serves RUNNER_API_PATH. */
  guarded: Router;
  /** `guarded` alone in an app of its own, mounted at RUNNER_API_PATH: what the HTTP server hands runner requests. */
  app: Express;
}

/** Machine-to-machine JSON: no page headers, just the one that stops a browser guessing types. */
function noSniff(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  next();
}

/**
 * The runner protocol as a small app of its own: every runner request (a long-poll renewal, a
 * heartbeat a second, output, results) walks only its guard and its routes, not the UI's and API's
 * middleware (page security headers, cookie origin checks, session lookup, every API router's
 * paths). No ETag either: nobody revalidates a POST, and hashing every answer costs.
 */
export function runnerGateway(ctx: AppContext): RunnerGateway {
  const routes = runnerGatewayRouter(ctx);
  const guarded = Router();
  guarded.use(...runnerRequestGuard(ctx), routes);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // The registration rate limit keys on req.ip: believed from the same proxies as the main app.
  app.set('trust proxy', ctx.config.trusted_proxies.length > 0 ? ctx.config.trusted_proxies : false);
  app.use(RUNNER_API_PATH, noSniff, guarded);
  app.use((req: Request) => {
    throw new HttpError(404, `no runner protocol route ${req.method} ${req.originalUrl}`);
  });
  app.use(errorHandler);
  return { routes, guarded, app };
}

/** Whether a request's URL is under RUNNER_API_PATH as the runner agent sends it (exact case). */
export function isRunnerRequest(url: string | undefined): boolean {
  if (!url?.startsWith(RUNNER_API_PATH)) return false;
  const next = url.charCodeAt(RUNNER_API_PATH.length);
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */;
}

/** The HTTP server's request handler: runner requests to the gateway app, everything else to the main app. */
export function splitByArea(gateway: Express, main: Express): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => (isRunnerRequest(req.url) ? gateway : main)(req, res);
}
