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

/** A positive integer path parameter (at most 2^53 - 1, so it is exact), or 400 naming it. */
/** The query string through a schema; 400 naming each field that does not fit. */
export function parseQuery<T extends z.ZodType>(schema: T, req: Request): z.infer<T> {
  const result = schema.safeParse(req.query);
  if (!result.success) throw new HttpError(400, result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return result.data;
}

export function idParam(req: Request, name: string): number {
  const raw = req.params[name];
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new HttpError(400, `${name}: expected a positive whole number up to ${Number.MAX_SAFE_INTEGER}, got "${String(raw).slice(0, 40)}"`);
  return value;
}

/** JSON errors for everything, including body-parser's malformed JSON and oversized bodies. */
export function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  const e = err as { status?: number; type?: string; message?: string; limit?: number };
  let status = 500;
  let message = 'internal error; the server log has details';
  if (err instanceof HttpError || err instanceof GatewayError) {
    status = err.status;
    message = err.message;
  } else if (err instanceof ValidationError) {
    status = 400;
    message = err.message;
  } else if (e.type === 'entity.parse.failed') {
    status = 400;
    message = `malformed JSON body: ${e.message}`;
  } else if (e.type === 'entity.too.large') {
    status = 413;
    message = `request body is larger than the limit of ${e.limit} bytes (max_body_bytes)`;
  } else if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    status = e.status;
    message = e.message ?? 'bad request';
  } else {
    log.error('unhandled error', { method: req.method, path: req.path, error: (err as Error)?.stack ?? String(err) });
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(status).json({ error: message });
}
