import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import { logger } from '../../protocol/log.js';
import { describeZodError, ValidationError } from '../../protocol/validation.js';
import { GatewayError } from '../gateway/core.js';

const log = logger('api');

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export const notFound = (what: string) => new HttpError(404, `${what} not found`);

/** Parses a request body with a schema; a failure is a 400 that names each bad field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (body === undefined || body === null || typeof body !== 'object') {
    throw new HttpError(400, 'the request body must be a JSON object (send Content-Type: application/json)');
  }
  const result = schema.safeParse(body);
  if (!result.success) throw new HttpError(400, describeZodError(result.error));
  return result.data;
}

/** The query string through a schema; 400 naming each field that does not fit. */
export function parseQuery<T extends z.ZodType>(schema: T, req: Request): z.infer<T> {
  const result = schema.safeParse(req.query);
  if (!result.success) throw new HttpError(400, result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return result.data;
}

/** A positive integer path parameter, or 400 naming it. */
export function idParam(req: Request, name: string): number {
  return positiveId(name, req.params[name]);
}

/** A path parameter's text as a positive integer (at most 2^53 - 1, so it is exact), or 400 naming it. */
export function positiveId(name: string, raw: unknown): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new HttpError(400, `${name}: expected a positive whole number up to ${Number.MAX_SAFE_INTEGER}, got "${String(raw).slice(0, 40)}"`);
  return value;
}

/** The 413's message: the limit, and which setting or kind of request it belongs to. */
export const bodyTooLargeMessage = (limit: number, what: string) => `request body is larger than the limit of ${limit} bytes (${what})`;

/**
 * The status and `{error}` message an error answers with, including body-parser's malformed JSON and
 * oversized bodies; a 500 is logged with its stack (`where` says which request), its answer says nothing.
 */
export function errorAnswer(err: unknown, where: { method?: string; path: string }): { status: number; message: string } {
  const e = err as { status?: number; type?: string; message?: string; limit?: number };
  if (err instanceof HttpError || err instanceof GatewayError) return { status: err.status, message: err.message };
  if (err instanceof ValidationError) return { status: 400, message: err.message };
  if (e.type === 'entity.parse.failed') return { status: 400, message: `malformed JSON body: ${e.message}` };
  if (e.type === 'entity.too.large') return { status: 413, message: bodyTooLargeMessage(e.limit!, 'max_body_bytes') };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return { status: e.status, message: e.message ?? 'bad request' };
  log.error('unhandled error', { method: where.method, path: where.path, error: (err as Error)?.stack ?? String(err) });
  return { status: 500, message: 'internal error; the server log has details' };
}

/** JSON errors for everything (see errorAnswer). */
export function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  const { status, message } = errorAnswer(err, { method: req.method, path: req.path });
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(status).json({ error: message });
}
