/**
 * Probe: what a message between processes costs on this machine when they were idle, against
 * back to back. A single dispatch is a chain of such hops (client → server → Redis → server →
 * runner, and the POST's answer), each sent after the processes slept 20–60 ms between tasks, so
 * the same chain costs more than in a busy run. Here: a Redis PING from this process, and an HTTP
 * request to a small Node server that answers after one Redis GET (two hops each way), each sent
 * back to back and after an idle gap.
 *
 *   npx tsx bench/probe-idle-hops.ts [requests per gap, default 200]
 */
import { Agent, request } from 'node:http';
import { Redis } from 'ioredis';
import { freePort, projectRoot, runProbe, sleep, spawnTracked, startRedis, tempDir } from './lib/procs.js';
import { percentile } from './lib/stats.js';

const SERVER = `
import http from 'node:http';
import { Redis } from 'ioredis';
const redis = new Redis(Number(process.env.REDIS_PORT), '127.0.0.1');
http.createServer(async (_req, res) => { const value = await redis.get('k'); res.end(String(value)); })
  .listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

runProbe(async () => {
  const count = Number(process.argv[2] ?? 200);
  const { port: redisPort } = await startRedis(tempDir('forge-probe-hops-'));
  const redis = new Redis(redisPort, '127.0.0.1');
  await redis.set('k', 'v');
  const port = await freePort();
  const server = spawnTracked(process.execPath, ['--input-type=module', '-e', SERVER], { cwd: projectRoot, env: { ...process.env, PORT: String(port), REDIS_PORT: String(redisPort) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const get = () => new Promise<void>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/', agent }, (res) => res.resume().on('end', resolve)).on('error', reject).end();
  });
  const timed = async (fn: () => Promise<unknown>, gapMs: number) => {
    const ms: number[] = [];
    for (let i = 0; i < count; i++) {
      if (gapMs > 0) await sleep(gapMs);
      const start = performance.now();
      await fn();
      ms.push(performance.now() - start);
    }
    return `p50 ${percentile(ms, 50).toFixed(2)} p90 ${percentile(ms, 90).toFixed(2)} ms`;
  };
  for (let i = 0; i < 50; i++) await get(); // warm-up
  for (const gap of [0, 40, 0, 40]) {
    console.log(`gap ${String(gap).padStart(2)} ms: Redis PING ${await timed(() => redis.ping(), gap)}; HTTP → Node → Redis GET → answer ${await timed(get, gap)}`);
  }
  redis.disconnect();
  agent.destroy();
});
