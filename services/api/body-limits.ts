import type { IncomingHttpHeaders } from 'node:http';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { bodyTooLargeMessage, HttpError } from './http.js';

/** Runner output batches: 1000 lines of up to 16 Ki characters, JSON-escaped, fit well under this. */
export const OUTPUT_BODY_BYTES = 8 * 1024 * 1024;
/** Every other runner request (state, start, result, registration) is small. */
export const RUNNER_BODY_BYTES = 64 * 1024;
/** Login is a login and a password. */
export const LOGIN_BODY_BYTES = 16 * 1024;

/**
 * 413 at once when the declared Content-Length is over `limit`: nothing of the body is read, so a
 * client cannot make the server buffer it, authenticated or not. Bodies without a length are
 * bounded while read by the JSON parser with the same limit.
 */
export function declaredLengthLimit(limit: number, what: string): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    refuseDeclaredLength(req.headers, limit, what);
    next();
  };
}

/** The check itself (declaredLengthLimit's, and the runner gateway's without Express): throws the 413. */
export function refuseDeclaredLength(headers: IncomingHttpHeaders, limit: number, what: string): void {
  if (Number(headers['content-length'] ?? 0) > limit) throw new HttpError(413, bodyTooLargeMessage(limit, what));
}

/** A JSON body parser bounded to `limit` bytes (413 above; see errorHandler). */
export function jsonBody(limit: number): RequestHandler {
  return express.json({ limit });
}
