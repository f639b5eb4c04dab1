import type { IncomingMessage, ServerResponse } from 'node:http';
import { jsonBody } from '../api/body-limits.js';
import { bodyTooLargeMessage, HttpError } from '../api/http.js';

/** What the runner agent sends: read here without body-parser. Anything else goes through body-parser, answered as before. */
const PLAIN_JSON = new Set(['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8']);

/** body-parser's rule (type-is): a request has a body when it declares a length or a transfer encoding. */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || !Number.isNaN(Number(req.headers['content-length']));
}

/**
 * The request's JSON body, read at most `limit` bytes (413 as soon as a body without a declared
 * length goes over), or undefined when it has none or is not JSON — as express.json({limit})
 * would set req.body, with the same error messages. The runner agent's plain, uncompressed JSON is
 * read here; other content types, charsets and encodings go through body-parser itself.
 */
export async function readJsonBody(req: IncomingMessage, res: ServerResponse, limit: number, fallback = jsonBody(limit)): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  const type = req.headers['content-type']?.toLowerCase();
  const encoding = req.headers['content-encoding'];
  if (!type || !PLAIN_JSON.has(type) || (encoding !== undefined && encoding.toLowerCase() !== 'identity')) {
    return bodyParserBody(req, res, fallback);
  }
  return parseStrictJson((await readBounded(req, limit)).toString('utf8'));
}

function bodyParserBody(req: IncomingMessage, res: ServerResponse, parser: ReturnType<typeof jsonBody>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const carrier = req as IncomingMessage & { body?: unknown };
    parser(carrier as never, res as never, (err?: unknown) => (err ? reject(err) : resolve(carrier.body)));
  });
}

export function bodyTooLarge(limit: number): HttpError {
  return new HttpError(413, bodyTooLargeMessage(limit, 'max_body_bytes'));
}

/** The body's bytes; rejects with 413 the moment they pass `limit`. */
function readBounded(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error?: Error) => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      // Answered at once; node:http drains the rest once the answer is written, as it did behind body-parser.
      if (size > limit) finish(bodyTooLarge(limit));
      else chunks.push(chunk);
    };
    const onEnd = () => finish();
    const onError = () => finish(new HttpError(400, 'request aborted'));
    const onClose = () => finish(new HttpError(400, 'request aborted'));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

const FIRST_NON_WHITESPACE = /^[\x20\x09\x0a\x0d]*([^\x20\x09\x0a\x0d]|$)/;

/**
 * JSON.parse as body-parser's strict json does it: an empty body is {}, a body that does not start
 * with an object or array is refused, a leading BOM is dropped (iconv-lite's decoding did), and a
 * syntax error is a 400 "malformed JSON body: ..." with JSON.parse's own message.
 */
export function parseStrictJson(raw: string): unknown {
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  if (text.length === 0) return {};
  try {
    if (text[0] !== '{' && text[0] !== '[') {
      const first = FIRST_NON_WHITESPACE.exec(text)?.[1] || undefined;
      if (first !== '{' && first !== '[') throw strictViolation(text, first);
    }
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `malformed JSON body: ${(err as Error).message}`);
  }
}

/** body-parser's message for a body that is JSON but not an object or array: JSON.parse's error at that character. */
function strictViolation(text: string, first: string | undefined): Error {
  const index = first === undefined ? -1 : text.indexOf(first);
  const partial = index === -1 ? '' : text.slice(0, index) + '#'.repeat(text.length - index);
  try {
    JSON.parse(partial);
    return new SyntaxError('strict violation');
  } catch (err) {
    return new SyntaxError((err as Error).message.replace(/#+/g, (placeholder) => text.substring(index, index + placeholder.length)));
  }
}
