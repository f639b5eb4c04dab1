/**
 * A small HTTP reverse proxy on loopback that spreads requests over several Forge server replicas
 * in turn (round robin per request, as a plain load balancer would), streaming bodies both ways,
 * with claims (`POST …/jobs/next`) on a rotation of their own so they spread evenly whatever the
 * other traffic's rhythm,
 * with no timeouts of its own so runner long-polls pass through. It counts, per upstream, the
 * requests it forwarded and the jobs it carried to runners (`POST …/jobs/next` answered 200, and
 * results whose answer brings the next job: runner protocol revision 3), so a caller can check
 * that every replica served claims. Used by the benchmark and by the scale test.
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamStats { url: string; requests: number; claims: number; errors: number }

export interface RoundRobinProxy {
  url: string;
  /** Per upstream, in the order given. */
  stats(): UpstreamStats[];
  /** Replaces the upstream list (new requests only; requests in flight finish where they are). */
  setUpstreams(urls: string[]): void;
  close(): Promise<void>;
}

const CLAIM_PATH = /\/api\/internal\/runners\/jobs\/next$/;
const RESULT_PATH = /\/api\/internal\/runners\/jobs\/\d+\/result$/;

export async function startRoundRobinProxy(upstreams: string[]): Promise<RoundRobinProxy> {
  let targets: Array<UpstreamStats & { host: string; port: number }> = [];
  const setUpstreams = (urls: string[]) => {
    targets = urls.map((url) => {
      const known = targets.find((t) => t.url === url);
      const parsed = new URL(url);
      return known ?? { url, host: parsed.hostname, port: Number(parsed.port), requests: 0, claims: 0, errors: 0 };
    });
  };
  setUpstreams(upstreams);
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  let nextOther = 0;
  let nextClaim = 0;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const isClaim = req.method === 'POST' && CLAIM_PATH.test(req.url ?? '');
    const target = targets[(isClaim ? nextClaim++ : nextOther++) % targets.length]!;
    target.requests++;
    const forwarded = request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      if (isClaim && answer.statusCode === 200) target.claims++;
      if (answer.statusCode === 200 && req.method === 'POST' && RESULT_PATH.test(req.url ?? '')) {
        // A result's answer is small: read beside the pipe for the job it may bring.
        let body = '';
        answer.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        answer.on('end', () => {
          if ((JSON.parse(body || '{}') as { job?: unknown }).job) target.claims++;
        });
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', (err) => {
      target.errors++;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `proxy: ${target.url}: ${err.message}` }));
      else res.destroy(err);
    });
    // A client that goes away (e.g. a runner stopping mid long-poll) ends the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) forwarded.destroy();
    });
    req.pipe(forwarded);
  });
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => targets.map(({ url, requests, claims, errors }) => ({ url, requests, claims, errors })),
    setUpstreams,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      agent.destroy();
      server.close(() => resolve());
    }),
  };
}
