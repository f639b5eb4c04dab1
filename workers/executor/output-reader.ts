import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Lines longer than this (in characters) are cut into numbered pieces, so no line is ever too big to send. */
export const MAX_LINE_CHARS = 16 * 1024;

/**
 * Receives each line. Returning a promise asks the reader to pause the pipe until it settles
 * (the consumer's buffer is full): the child then blocks on its full pipe instead of our memory growing.
 */
export type LineSink = (line: string) => void | Promise<void>;

/**
 * Reads a child's pipe line by line, chunk by chunk as the pipe delivers them, with backpressure;
 * resolves when the pipe closes. A line longer than MAX_LINE_CHARS is passed on as pieces marked
 * `[part N]`, never dropped; a last line without a newline is passed on at the end.
 */
export function readLines(stream: Readable, onLine: LineSink): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let part = 0;

  const emit = (text: string, final: boolean): void | Promise<void> => {
    if (part > 0 || !final) part++;
    const line = part > 0 ? `[part ${part}] ${text}` : text;
    if (final) part = 0;
    return onLine(line);
  };

  /** Splits text into lines; answers the first backpressure promise a sink returned, if any. */
  const take = (text: string): Promise<void> | undefined => {
    let waitFor: Promise<void> | undefined;
    const note = (result: void | Promise<void>) => {
      if (result && !waitFor) waitFor = result;
    };
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      if (newline === -1) break;
      let line = partial + text.slice(start, newline);
      partial = '';
      if (line.endsWith('\r')) line = line.slice(0, -1);
      while (line.length > MAX_LINE_CHARS) {
        note(emit(line.slice(0, MAX_LINE_CHARS), false));
        line = line.slice(MAX_LINE_CHARS);
      }
      note(emit(line, true));
      start = newline + 1;
    }
    partial += text.slice(start);
    while (partial.length > MAX_LINE_CHARS) {
      note(emit(partial.slice(0, MAX_LINE_CHARS), false));
      partial = partial.slice(MAX_LINE_CHARS);
    }
    return waitFor;
  };

  return new Promise<void>((resolve) => {
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      const rest = partial + decoder.end();
      partial = '';
      const last = rest ? take(rest + '\n') : undefined;
      void Promise.resolve(last).then(resolve, resolve);
    };
    stream.on('data', (chunk: Buffer) => {
      const pressure = take(decoder.write(chunk));
      if (pressure) {
        stream.pause();
        const resume = () => stream.resume();
        void pressure.then(resume, resume);
      }
    });
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
    // A pipe that reached its end before anyone read it (a process that wrote nothing, its pipe
    // handed over by the launcher) has emitted 'end' already, with nothing left in it.
    if (stream.readableEnded || stream.destroyed) finish();
  });
}
