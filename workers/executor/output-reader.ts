import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** Reads a child's pipe line by line; resolves when the pipe closes. */
export function readLines(stream: Readable, onLine: (line: string) => void): Promise<void> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', onLine);
  return new Promise<void>((done) => lines.once('close', () => done()));
}
