import type { NextFunction, Request, Response } from 'express';
import { HttpError } from './http.js';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const STREAM_ID = /^(\d+)-(\d+)$/;

/**
 * Every number in a query string (and a Last-Event-ID) must fit in a safe integer: a bigger one
 * would reach Redis as something it refuses, which would be a 500. So it is a 400 naming the field,
 * before any route sees it. Routes still check their own ranges.
 */
export function rangeCheckedQuery(req: Request, _res: Response, next: NextFunction): void {
  for (const [name, value] of Object.entries(req.query)) {
    for (const item of [value].flat()) if (typeof item === 'string') check(name, item);
  }
  const lastEventId = req.headers['last-event-id'];
  if (typeof lastEventId === 'string') check('Last-Event-ID', lastEventId);
  next();
}

function check(name: string, raw: string): void {
  const text = raw.trim();
  const parts = STREAM_ID.exec(text)?.slice(1) ?? (NUMBER.test(text) ? [text] : []);
  for (const part of parts) {
    const value = Number(part);
    if (!Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      throw new HttpError(400, `${name}: ${raw.slice(0, 40)} is out of range (numbers here are at most ${Number.MAX_SAFE_INTEGER})`);
    }
  }
}
