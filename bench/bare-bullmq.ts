/**
 * The baseline: plain BullMQ add → process on the same redis-server Forge uses, with a no-op
 * processor. A Queue adds `n` jobs (at most `inflight` adds at once, as the benchmark creates
 * Forge tasks), one Worker processes them with `concurrency`; the figure is jobs per second from
 * the first add to the last 'completed' event. Prints one JSON line per repetition.
 *
 * usage: tsx bench/bare-bullmq.ts REDIS_URL N CONCURRENCY INFLIGHT REPS
 */
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';

const [url, nArg, concArg, inflightArg, repsArg] = process.argv.slice(2);
const n = Number(nArg ?? 500);
const concurrency = Number(concArg ?? 40);
const inflight = Number(inflightArg ?? 8);
const reps = Number(repsArg ?? 3);

async function once(rep: number): Promise<{ jobs: number; seconds: number; jobs_per_s: number }> {
  const name = `bench-bare-${process.pid}-${rep}`;
  // Separate connections, as a separate producer and consumer would have.
  const producer = new Redis(url!, { maxRetriesPerRequest: null });
  const consumer = new Redis(url!, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection: producer, prefix: 'bench' });
  let completed = 0;
  let last = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  const worker = new Worker(name, async () => {}, { connection: consumer, prefix: 'bench', concurrency });
  worker.on('completed', () => {
    completed++;
    if (completed === n) {
      last = performance.now();
      resolveAll();
    }
  });
  await worker.waitUntilReady();
  await queue.waitUntilReady();
  const first = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < n) {
      const i = next++;
      await queue.add('task', { task_id: i }, { jobId: `task-${i}`, removeOnComplete: true, removeOnFail: { count: 1000 } });
    }
  }));
  await all;
  await worker.close();
  await queue.obliterate({ force: true }).catch(() => {});
  await queue.close();
  producer.disconnect();
  consumer.disconnect();
  const seconds = (last - first) / 1000;
  return { jobs: n, seconds, jobs_per_s: n / seconds };
}

// A warm-up round (connections, script loading), then the measured ones.
await once(-1);
for (let rep = 0; rep < reps; rep++) process.stdout.write(JSON.stringify(await once(rep)) + '\n');
process.exit(0);
