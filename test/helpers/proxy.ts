/**
 * A small HTTP proxy on loopback that stands between a runner and Forge, so tests can see and
 * disturb what crosses the wire: record bodies, rewrite answers, drop requests or answers.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onCleanup } from './util.js';

export interface Exchange { method: string; path: string; requestBody: string; status: number; responseBody: string }

type Verdict = 'forward' | 'drop' | 'hang';

export interface ProxyHooks {
  /**
   * Return 'drop' to answer 502 without forwarding (the request is lost), 'hang' never to answer
   * (a dead connection); a promise of a verdict holds the request until it settles.
   */
  beforeForward?: (req: { method: string; path: string; body: string }) => Verdict | Promise<Verdict>;
  /** Rewrite the answer body; return 'lose' to answer 502 after forwarding (the answer is lost). */
  afterForward?: (exchange: Exchange) => string | 'lose' | undefined;
}

export interface TestProxy {
  url: string;
  /** Every request as it arrived (before forwarding: a parked long-poll is here at once). */
  requests: Array<{ method: string; path: string }>;
  /** Completed exchanges, with bodies. */
  exchanges: Exchange[];
  /** How many requests arrived whose path ends with `suffix`. */
  count(suffix: string): number;
  close(): Promise<void>;
}

function readBody(stream: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

export async function startProxy(target: string, hooks: ProxyHooks = {}): Promise<TestProxy> {
  const upstream = new URL(target);
  const exchanges: Exchange[] = [];
  const requests: TestProxy['requests'] = [];
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    requests.push({ method, path });
    const verdict = await hooks.beforeForward?.({ method, path, body });
    if (verdict === 'hang') return; // held open, unanswered, until the client gives up or the proxy closes
    if (verdict === 'drop') {
      res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"proxy dropped the request"}');
      return;
    }
    const forwarded = request({ host: upstream.hostname, port: upstream.port, method, path, headers: { ...req.headers, host: upstream.host } }, async (answer) => {
      const responseBody = await readBody(answer);
      const exchange: Exchange = { method, path, requestBody: body, status: answer.statusCode ?? 0, responseBody };
      exchanges.push(exchange);
      const rewritten = hooks.afterForward?.(exchange);
      if (rewritten === 'lose') {
        res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"proxy lost the answer"}');
        return;
      }
      const out = rewritten ?? responseBody;
      const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(out)) };
      delete headers['transfer-encoding'];
      res.writeHead(answer.statusCode ?? 502, headers).end(out);
    });
    forwarded.on('error', () => res.writeHead(502).end());
    req.on('close', () => {
      if (!res.writableFinished) forwarded.destroy();
    });
    forwarded.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  onCleanup(close);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, exchanges, close,
    count: (suffix) => requests.filter((r) => r.path.endsWith(suffix)).length,
  };
}
