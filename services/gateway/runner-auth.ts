import type { IncomingMessage } from 'node:http';
import { jsonBody, OUTPUT_BODY_BYTES, refuseDeclaredLength, RUNNER_BODY_BYTES } from '../api/body-limits.js';
import { HttpError } from '../api/http.js';
import type { AppContext } from '../context.js';
import type { Runner } from '../store/runners.js';

export const RUNNER_TOKEN_HEADER = 'x-runner-token';

/** Requests that may carry output lines (batches, and since revision 2 the start report and the result) may be larger than the others. */
const OUTPUT_PATH = /^\/jobs\/[^/]+\/(?:output|running|result)$/;

/**
 * In front of every runner route, in this order: an oversized declared body is refused (413), then
 * the runner token is checked (401), and only then is the JSON body read, bounded per route. So
 * nobody without a token can make the server read, let alone parse, a body.
 */
export class RunnerRequestGuard {
  private readonly parsers = new Map([OUTPUT_BODY_BYTES, RUNNER_BODY_BYTES].map((limit) => [limit, jsonBody(limit)]));

  constructor(private readonly ctx: AppContext) {}

  /** The body limit of the route at `path` (relative to the protocol's root); 413 when the declared length is over it. */
  checkDeclaredLength(req: IncomingMessage, path: string): number {
    const output = OUTPUT_PATH.test(path);
    const limit = output ? OUTPUT_BODY_BYTES : RUNNER_BODY_BYTES;
    refuseDeclaredLength(req.headers, limit, output ? 'runner output batch' : 'runner request');
    return limit;
  }

  /** Registration is the one runner request without a runner token (it carries the registration token). */
  isRegistration(req: IncomingMessage, path: string): boolean {
    return req.method === 'POST' && path === '/';
  }

  /** The runner in X-Runner-Token; 401 otherwise. */
  async authenticate(req: IncomingMessage): Promise<Runner> {
    const token = req.headers[RUNNER_TOKEN_HEADER];
    if (typeof token !== 'string' || !token) throw new HttpError(401, 'missing X-Runner-Token header');
    const runner = await this.ctx.stores.runners.byToken(token);
    if (!runner) throw new HttpError(401, 'unknown runner token: the runner was deleted or re-registered; run forge runner register');
    return runner;
  }

  /** body-parser bounded to `limit`, for the bodies readJsonBody leaves to it (other types, charsets, encodings). */
  bodyParserFor(limit: number): ReturnType<typeof jsonBody> {
    return this.parsers.get(limit)!;
  }
}
