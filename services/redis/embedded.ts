import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { logger } from '../common/log.js';

const log = logger('redis');

export interface EmbeddedRedis {
  url: string;
  stop(): Promise<void>;
}

export class RedisServerMissingError extends Error {
  constructor() {
    super(
      'redis-server was not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; ' +
        'macOS: brew install redis), or point Forge at an existing Redis with FORGE_REDIS_URL=redis://host:6379',
    );
  }
}

function findRedisServer(): string {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path) throw new RedisServerMissingError();
  return path;
}

async function pingSocket(socket: string): Promise<boolean> {
  if (!existsSync(socket)) return false;
  const client = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Starts a private redis-server on a unix socket under `dataDir/redis` (no TCP port), with AOF on so
 * records, queues and output survive restarts. If one is already answering on that socket (a
 * previous Forge that was killed), it is adopted rather than started twice.
 */
export async function startEmbeddedRedis(dataDir: string): Promise<EmbeddedRedis> {
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = join(dir, 'redis.sock');
  if (await pingSocket(socket)) {
    log.info('adopting the embedded redis-server already running', { socket });
    return { url: socket, stop: async () => {} };
  }
  const binary = findRedisServer();
  const args = [
    '--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--daemonize', 'no',
    '--maxmemory-policy', 'noeviction', '--logfile', join(dir, 'redis.log'),
  ];
  const child: ChildProcess = spawn(binary, args, { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let started = false;
  for (let attempt = 0; attempt < 200 && !started; attempt++) {
    const early = await Promise.race([exited, new Promise((r) => setTimeout(() => r('wait'), 50))]);
    if (early !== 'wait') throw new Error(`redis-server exited with code ${early} at start; see ${join(dir, 'redis.log')}`);
    started = await pingSocket(socket);
  }
  if (!started) {
    child.kill('SIGKILL');
    throw new Error(`redis-server did not answer on ${socket} within 10 s; see ${join(dir, 'redis.log')}`);
  }
  log.info('embedded redis-server started', { socket, pid: child.pid });
  return {
    url: socket,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
