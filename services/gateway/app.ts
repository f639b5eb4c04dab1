import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { RouteRef } from '../api/openapi.js';
import { errorAnswer, HttpError } from '../api/http.js';
import type { AppContext } from '../context.js';
import { runnerRoutes } from './router.js';
import { RouteTable } from './route-table.js';
import { RunnerRequestGuard } from './runner-auth.js';
import { readJsonBody } from './json-body.js';
import { sendJson } from './answers.js';

export const RUNNER_API_PATH = '/api/internal/runners';

/** The runner protocol: its routes (for the OpenAPI description) and what serves RUNNER_API_PATH. */
export interface RunnerGateway {
  /** Every route with its full path (`/api/internal/runners/jobs/:task_id/result`). */
  routes: RouteRef[];
  /** Serves a request whose URL is under RUNNER_API_PATH (any case, as Express matched it). */
  handle: RequestListener;
}

/**
 * The runner protocol on node:http, without Express: every runner request (a long-poll renewal, a
 * heartbeat a second, output, results) costs one route-table look-up, its guard (declared length,
 * token, bounded JSON body) and its handler, and its answer is one write. Statuses, messages and
 * bodies are the ones the Express app gave (errorAnswer is its error handler's); only `nosniff` of
 * the page headers, no ETag.
 */
export function runnerGateway(ctx: AppContext): RunnerGateway {
  const table = new RouteTable(runnerRoutes(ctx));
  const guard = new RunnerRequestGuard(ctx);
  const handle: RequestListener = (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    // Relative to the protocol's root ('/' for the root itself), not decoded: as Express's req.path under its mount.
    const path = (query === -1 ? url : url.slice(0, query)).slice(RUNNER_API_PATH.length) || '/';
    serve(req, res, path).catch((err: unknown) => answerError(req, res, path, err));
  };
  async function serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const limit = guard.checkDeclaredLength(req, path);
    const runner = guard.isRegistration(req, path) ? undefined : await guard.authenticate(req);
    const body = await readJsonBody(req, res, limit, guard.bodyParserFor(limit));
    const found = table.match(req.method, path);
    if (!found) throw new HttpError(404, `no runner protocol route ${req.method} ${req.url}`);
    await found.route.handle({ req, res, runner: runner!, body, params: found.params });
  }
  const routes = table.routes.map((route) => ({ method: route.method, path: route.path === '/' ? RUNNER_API_PATH : `${RUNNER_API_PATH}${route.path}` }));
  return { routes, handle };
}

/** An error as the Express app's errorHandler answered it (a body left unread is drained by node:http, as before). */
function answerError(req: IncomingMessage, res: ServerResponse, path: string, err: unknown): void {
  const { status, message } = errorAnswer(err, { method: req.method, path });
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, status, { error: message });
}

/** Whether a request's URL is under RUNNER_API_PATH as the runner agent sends it (exact case). */
export function isRunnerRequest(url: string | undefined): boolean {
  if (!url?.startsWith(RUNNER_API_PATH)) return false;
  const next = url.charCodeAt(RUNNER_API_PATH.length);
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */;
}

/** The HTTP server's request handler: runner requests to the gateway, everything else to the main app. */
export function splitByArea(gateway: RequestListener, main: RequestListener): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => (isRunnerRequest(req.url) ? gateway : main)(req, res);
}
