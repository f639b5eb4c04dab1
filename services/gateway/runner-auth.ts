import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { declaredLengthLimit, jsonBody, OUTPUT_BODY_BYTES, RUNNER_BODY_BYTES } from '../api/body-limits.js';
import { HttpError } from '../api/http.js';
import type { AppContext } from '../context.js';

export const RUNNER_TOKEN_HEADER = 'x-runner-token';

/** Requests that may carry output lines (batches, and since revision 2 the start report and the result) may be larger than the others. */
const OUTPUT_PATH = /^\/jobs\/[^/]+\/(?:output|running|result)$/;
/** Registration is the one runner request without a runner token (it carries the registration token). */
const isRegistration = (req: Request) => req.method === 'POST' && req.path === '/';

/**
 * The runner in X-Runner-Token, as req.runner; 401 otherwise. Runs once: a request already
 * authenticated (by runnerRequestGuard) passes straight on.
 */
export function authenticateRunner(ctx: AppContext): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    if (req.runner) return next();
    const token = req.header(RUNNER_TOKEN_HEADER);
    if (!token) throw new HttpError(401, 'missing X-Runner-Token header');
    const runner = await ctx.stores.runners.byToken(token);
    if (!runner) throw new HttpError(401, 'unknown runner token: the runner was deleted or re-registered; run forge runner register');
    req.runner = runner;
    next();
  };
}

/**
 * In front of /api/internal/runners: refuses an oversized declared body (413), then checks the
 * runner token (401), and only then reads the JSON body, bounded per route. So nobody without a
 * token can make the server read, let alone parse, a body.
 */
export function runnerRequestGuard(ctx: AppContext): RequestHandler[] {
  const authenticate = authenticateRunner(ctx);
  const outputLength = declaredLengthLimit(OUTPUT_BODY_BYTES, 'runner output batch');
  const otherLength = declaredLengthLimit(RUNNER_BODY_BYTES, 'runner request');
  const outputJson = jsonBody(OUTPUT_BODY_BYTES);
  const otherJson = jsonBody(RUNNER_BODY_BYTES);
  const isOutput = (req: Request) => OUTPUT_PATH.test(req.path);
  return [
    (req, res, next) => (isOutput(req) ? outputLength : otherLength)(req, res, next),
    (req, res, next) => (isRegistration(req) ? next() : authenticate(req, res, next)),
    (req, res, next) => (isOutput(req) ? outputJson : otherJson)(req, res, next),
  ];
}
