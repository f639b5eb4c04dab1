import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { StatusError } from '../../protocol/peer.js';

export interface ClientOptions {
  baseUrl: string;
  token?: string;
  caFile?: string;
  insecureSkipVerify?: boolean;
}

/**
 * JSON over HTTP(S) to the Forge server (only HttpPeer knows its paths), on a keep-alive agent. A private CA (tls_ca_file) or,
 * for tests only, skipping verification (tls_insecure_skip_verify) is supported.
 */
export class ForgeHttpClient {
  private readonly agent: http.Agent;
  private readonly base: URL;

  constructor(private readonly options: ClientOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : options.baseUrl + '/');
    this.agent = this.base.protocol === 'https:'
      ? new https.Agent({
        keepAlive: true, ca: options.caFile ? readFileSync(options.caFile) : undefined, rejectUnauthorized: !options.insecureSkipVerify,
      })
      : new http.Agent({ keepAlive: true });
  }

  setToken(token: string): void {
    this.options.token = token;
  }

  /** Sends a JSON request; resolves with status and parsed body, rejects with StatusError for 4xx/5xx. */
  request<T>(method: string, path: string, body?: unknown, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<{ status: number; body: T }> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, {
        method, agent: this.agent, signal: opts.signal, timeout: opts.timeoutMs ?? 30_000,
        headers: {
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
          ...(this.options.token ? { 'X-Runner-Token': this.options.token } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = undefined;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            const message = (parsed as { error?: string } | undefined)?.error ?? `HTTP ${status}`;
            reject(new StatusError(status, message));
          } else resolve({ status, body: parsed as T });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within ${(opts.timeoutMs ?? 30_000) / 1000} s`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
