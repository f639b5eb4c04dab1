import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Router, type Request } from 'express';
import { WebSocketServer, type WebSocket } from 'ws';
import { logger } from '../../protocol/log.js';
import type { AppContext } from '../context.js';
import { resolveUser } from './auth.js';
import { startLiveFeed, wantsSummary } from './dashboard.js';
import { HttpError } from './http.js';
import { crossSiteReason } from './same-origin.js';

const log = logger('live-socket');

export const LIVE_SOCKET_PATH = '/api/ws';
/** A client that stops reading: past this much unsent data its socket is closed rather than buffered without end. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Pings find connections that died without a close; one unanswered ping ends the socket. */
const PING_MS = 30_000;

/** Answers an upgrade we refuse with a plain HTTP response, then drops the connection. */
function refuse(socket: Duplex, status: number, reason: string, message: string): void {
  const body = JSON.stringify({ error: message });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * `GET /api/ws`: the live feed of /api/events/live (task, runner and with ?summary=1 dashboard
 * events) over a WebSocket, as `{event, data}` JSON messages. The upgrade is authenticated like
 * every API call (session cookie or Bearer token) and, carrying a cookie, must come from Forge's own
 * origin (a page elsewhere cannot open it with the user's session). Bounded like the SSE streams:
 * access re-checked every few seconds, an `expired` message and close when it is gone; and a
 * client that does not read or answer pings is disconnected.
 */
export function attachLiveSocket(ctx: AppContext, server: Server): () => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });

  server.on('upgrade', (raw: IncomingMessage, socket: Duplex, head: Buffer) => {
    void (async () => {
      const url = new URL(raw.url ?? '/', 'http://forge');
      if (url.pathname !== LIVE_SOCKET_PATH) return refuse(socket, 404, 'Not Found', `no WebSocket at ${url.pathname}; the live feed is ${LIVE_SOCKET_PATH}`);
      // The auth helpers read only headers, as on any request.
      const req = raw as unknown as Request;
      const crossSite = crossSiteReason(ctx, req, raw.headers.host ?? '');
      if (crossSite) return refuse(socket, 403, 'Forbidden', `cross-site WebSocket refused (${crossSite}): open it from the Forge UI itself, or with an API token (Authorization: Bearer)`);
      const user = await resolveUser(ctx, req);
      if (!user) return refuse(socket, 401, 'Unauthorized', 'not logged in: POST /api/auth/login, or send Authorization: Bearer <API token>');
      req.user = user;
      req.query = Object.fromEntries(url.searchParams);
      wss.handleUpgrade(raw, socket, head, (ws) => serve(ws, req));
    })().catch((err) => {
      log.warn('WebSocket upgrade failed', { error: (err as Error).message });
      refuse(socket, 500, 'Internal Server Error', 'the upgrade failed; try again');
    });
  });

  function serve(ws: WebSocket, req: Request): void {
    let alive = true;
    const stop = startLiveFeed(ctx, req, { summary: wantsSummary(req.query) }, {
      send: (event, data) => {
        if (ws.bufferedAmount > MAX_BUFFERED_BYTES) ws.close(1008, 'too far behind: reconnect');
        else ws.send(JSON.stringify({ event, data }));
      },
      keepAlive: () => {},
      end: () => ws.close(1008, 'access ended'),
    });
    const pinger = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    }, PING_MS);
    pinger.unref();
    ws.on('pong', () => {
      alive = true;
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      clearInterval(pinger);
      stop();
    });
  }

  return () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  };
}

/** A plain GET of /api/ws (no Upgrade header) is told how to use it. */
export function liveSocketRouter(): Router {
  const router = Router();
  router.get('/ws', () => {
    throw new HttpError(426, 'GET /api/ws is a WebSocket: send Upgrade: websocket (use a WebSocket client)');
  });
  return router;
}
