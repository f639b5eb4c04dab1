import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Express } from 'express';
import type { AppContext } from '../context.js';
import { sendJson } from '../gateway/answers.js';
import { readJsonBody } from '../gateway/json-body.js';
import { authenticatedUser } from './auth.js';
import { jsonBody, refuseDeclaredLength } from './body-limits.js';
import { errorAnswer, positiveId } from './http.js';
import { QUEUE_BOARD_PATH } from './queue-board.js';
import { refuseCrossSite } from './same-origin.js';
import { pageHeaders } from './security-headers.js';
import { createTaskAsAsked } from './tasks.js';

/** The plain spelling of the route: digits for the project, no query string (nothing for rangeCheckedQuery to check). */
const PLAIN_PATH = /^\/api\/project\/(\d+)\/tasks\/?$/;

/** A route the HTTP server serves itself when `takes` says so, ahead of the Express app. */
export interface DirectRoute {
  takes(req: IncomingMessage): boolean;
  handle: RequestListener;
}

/**
 * `POST /api/project/:project_id/tasks`, the most frequent authenticated request, on node:http
 * without Express, as the runner protocol is (services/gateway/app.ts): Express's routing, its
 * request and response wrappers and body-parser were a fifth of the request's server CPU. It walks
 * the Express app's guards in the same order: security headers, the cross-site check, the
 * declared body length (413 before anything is read), authentication (401 before the body is
 * read), the bounded JSON body; then the same handler (createTaskAsAsked). Statuses, messages,
 * bodies and headers are the app's (errorAnswer is its error handler's mapping), without an ETag.
 * Any other spelling of the path (case, an encoded character, a query string, a Last-Event-ID
 * header) goes to the Express app, which serves it as before.
 */
export function directTaskCreate(ctx: AppContext, app: Express): DirectRoute {
  const setPageHeaders = pageHeaders(QUEUE_BOARD_PATH);
  const limit = ctx.config.max_body_bytes;
  const bodyParser = jsonBody(limit);
  // Express's own trust function (the `trust proxy` setting): X-Forwarded-Proto counts only from a trusted proxy.
  const trusted = app.get('trust proxy fn') as (address: string | undefined, hop: number) => boolean;

  /** req.protocol as Express works it out. */
  const protocolOf = (req: IncomingMessage): string => {
    const own = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    if (!trusted(req.socket.remoteAddress, 0)) return own;
    const header = req.headers['x-forwarded-proto'];
    return (typeof header === 'string' ? header : own).split(',')[0]!.trim();
  };

  async function serve(req: IncomingMessage, res: ServerResponse, path: string, protocol: string): Promise<void> {
    refuseCrossSite(ctx, req, protocol);
    refuseDeclaredLength(req.headers, limit, 'max_body_bytes');
    const user = await authenticatedUser(ctx, req);
    const body = await readJsonBody(req, res, limit, bodyParser);
    const projectId = positiveId('project_id', PLAIN_PATH.exec(path)![1]);
    sendJson(res, 201, await createTaskAsAsked(ctx, { body, headers: req.headers, method: 'POST', path, user }, projectId));
  }

  return {
    takes: (req) => req.method === 'POST' && req.headers['last-event-id'] === undefined && PLAIN_PATH.test(req.url ?? ''),
    handle: (req, res) => {
      const path = req.url!;
      const failed = (err: unknown) => {
        const { status, message } = errorAnswer(err, { method: req.method, path });
        if (res.headersSent) res.end();
        else sendJson(res, status, { error: message });
      };
      try {
        const protocol = protocolOf(req);
        setPageHeaders(req, res, path, protocol === 'https');
        serve(req, res, path, protocol).catch(failed);
      } catch (err) {
        failed(err);
      }
    },
  };
}

