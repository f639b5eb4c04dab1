import type { ServerResponse } from 'node:http';

/** Machine-to-machine JSON: of the page headers only the one that stops a browser guessing types, on every answer. */
const NOSNIFF = ['X-Content-Type-Options', 'nosniff'];

/** A JSON answer in one write: status, headers and body together, with its length. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, [...NOSNIFF, 'Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body))]);
  res.end(body);
}

/** An answer without a body (204). */
export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, NOSNIFF);
  res.end();
}
