import { WebSocket } from 'ws';

/**
 * A real WebSocket client (the `ws` library) that queues what it receives, so a test can await
 * messages in order: `openSocket(url, headers)` resolves once open (rejects with the HTTP status
 * of a refused upgrade); `next()` answers the next message parsed as JSON; `closed` resolves with
 * the close code.
 */
export class SocketClient {
  private readonly queue: unknown[] = [];
  private readonly waiters: Array<(message: unknown) => void> = [];
  readonly closed: Promise<number>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data));
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.queue.push(message);
    });
    this.closed = new Promise((resolve) => socket.on('close', (code) => resolve(code)));
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<SocketClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      const client = new SocketClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_req, res) => reject(new SocketRefused(res.statusCode ?? 0)));
      socket.once('error', reject);
    });
  }

  next(timeoutMs = 60_000): Promise<any> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no WebSocket message within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  }

  /** Reads messages until one satisfies `match`, answering it. */
  async readUntil(match: (message: any) => boolean, timeoutMs = 60_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = await this.next(Math.max(1, deadline - Date.now()));
      if (match(message)) return message;
    }
  }

  close(): void {
    this.socket.close();
  }
}

export class SocketRefused extends Error {
  constructor(readonly status: number) {
    super(`WebSocket upgrade refused with HTTP ${status}`);
  }
}

/** The ws:// URL of a path on a server whose http(s):// root is `baseUrl`. */
export const wsUrl = (baseUrl: string, path: string) => baseUrl.replace(/^http/, 'ws') + path;
