import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { coalesceWrites } from './coalesce-writes.js';

export type RedisClient = Redis | Cluster;

/**
 * Opens a connection for any of the address forms Forge accepts:
 *   redis://[user:pass@]host:port[/db], rediss://… (TLS), a unix socket path (or unix:///path),
 *   redis-cluster://host:port,host:port (Redis Cluster seeds),
 *   redis-sentinel://[:pass@]host:port,host:port/master-name (Sentinel).
 * BullMQ needs maxRetriesPerRequest: null on every connection it blocks on.
 */
export function createRedis(url: string, extra: RedisOptions = {}): RedisClient {
  return coalesceWrites(connect(url, extra));
}

function connect(url: string, extra: RedisOptions): RedisClient {
  const base: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true, ...extra };
  if (url.startsWith('/') || url.startsWith('unix://')) {
    return new Redis({ ...base, path: url.replace(/^unix:\/\//, '') });
  }
  if (url.startsWith('redis-cluster://')) {
    const seeds = url.slice('redis-cluster://'.length).split(',').map(parseHostPort);
    return new Cluster(seeds, { redisOptions: base, enableReadyCheck: true });
  }
  if (url.startsWith('redis-sentinel://')) {
    const parsed = new URL(url.replace('redis-sentinel://', 'http://'));
    const hosts = url.slice('redis-sentinel://'.length).split('/')[0]!.replace(/^.*@/, '');
    const name = parsed.pathname.replace(/^\//, '') || 'mymaster';
    return new Redis({ ...base, sentinels: hosts.split(',').map(parseHostPort), name, password: parsed.password || undefined });
  }
  if (url.startsWith('redis://') || url.startsWith('rediss://')) return new Redis(url, base);
  throw new Error(`redis_url "${url}" is not a redis://, rediss://, redis-cluster://, redis-sentinel:// address or a unix socket path`);
}

function parseHostPort(text: string): { host: string; port: number } {
  const [host, port] = text.trim().split(':');
  return { host: host || '127.0.0.1', port: Number(port || 6379) };
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/** Waits until the client is ready, or fails with a message that says where it tried. */
export async function waitReady(client: RedisClient, url: string, timeoutMs = 15_000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`cannot reach Redis at ${url} within ${timeoutMs / 1000}s: check FORGE_REDIS_URL, or unset it to use the embedded redis-server`));
    }, timeoutMs);
    const onReady = () => { cleanup(); resolve(); };
    const cleanup = () => { clearTimeout(timer); client.off('ready', onReady); };
    client.on('ready', onReady);
  });
}
