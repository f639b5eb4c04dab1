import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { logger } from '../../protocol/log.js';

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
  let stopping = false;
  let current = await launch(binary, args, socket, dir);
  // Supervise: a redis-server that dies under a running Forge is started again on the same
  // socket and AOF; clients reconnect by themselves.
  const supervise = (exited: Promise<number | null>) => {
    void exited.then(async (code) => {
      if (stopping) return;
      log.error('embedded redis-server exited; restarting it', { code, log: join(dir, 'redis.log') });
      for (let attempt = 1; !stopping; attempt++) {
        try {
          current = await launch(binary, args, socket, dir);
          if (stopping) current.child.kill('SIGTERM'); // Forge began stopping meanwhile
          else supervise(current.exited);
          return;
        } catch (err) {
          log.error('restarting the embedded redis-server failed; retrying', { attempt, error: (err as Error).message });
          await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
        }
      }
    });
  };
  supervise(current.exited);
  // Last resort when Forge exits without stop() (an uncaught error, process.exit): SIGTERM lets
  // redis-server flush its AOF and go, instead of running on alone in its own process group.
  const stopOnExit = () => {
    stopping = true;
    if (current.child.exitCode === null && current.child.signalCode === null) current.child.kill('SIGTERM');
  };
  process.once('exit', stopOnExit);
  return {
    url: socket,
    async stop() {
      process.removeListener('exit', stopOnExit);
      stopping = true;
      if (current.child.exitCode !== null || current.child.signalCode !== null) return;
      current.child.kill('SIGTERM');
      // SIGTERM flushes the AOF and exits within a second; one that does not (stopped, wedged) is killed.
      const killLater = setTimeout(() => current.child.kill('SIGKILL'), EXIT_GRACE_MS);
      await current.exited;
      clearTimeout(killLater);
    },
  };
}

/** How long a stopping redis-server gets after SIGTERM before SIGKILL. */
const EXIT_GRACE_MS = 10_000;

/** Starts redis-server and waits until it answers on the socket. */
async function launch(binary: string, args: string[], socket: string, dir: string): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
  // Its own process group: a Ctrl-C in Forge's terminal reaches Forge, which then stops Redis itself.
  const child: ChildProcess = spawn(binary, args, { stdio: 'ignore', detached: true });
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
  return { child, exited };
}
