import { Job, Queue, Worker } from 'bullmq';
import type { RedisClient } from '../redis/connection.js';
import { channels, keys } from '../redis/keys.js';

/** Where a queue's tasks may go: the project they belong to and the runner tag they require. */
export interface QueueScope { project_id: number; tag: string }

export const JOB_NAME = 'task';
const PREFIX = 'forge';

/**
 * One BullMQ queue per (project, runner tag). The queue *is* the partition: nothing else decides
 * placement. The name carries its own hash tag, so in Redis Cluster every queue's keys share one
 * slot and different queues land on different slots.
 */
export function queueName(scope: QueueScope): string {
  return `{tasks-p${scope.project_id}-${scope.tag || '_'}}`;
}

export interface TaskJobData { task_id: number }

/**
 * The set of task queues, their BullMQ handles, and the wake-up channel. `maybeNonEmpty` lets a
 * claim skip queues known to be empty without a Redis round trip: a queue is marked when a
 * wake-up names it and unmarked just before a fetch that finds nothing.
 */
export class TaskQueues {
  private readonly scopes = new Map<string, QueueScope>();
  private readonly queues = new Map<string, Queue<TaskJobData>>();
  private readonly workers = new Map<string, Worker<TaskJobData>>();
  readonly maybeNonEmpty = new Set<string>();

  constructor(
    private readonly redis: RedisClient,
    private readonly lockDurationMs: number,
  ) {}

  /** Loads every queue ever used, so a restarted server serves jobs left in any of them. */
  async load(): Promise<void> {
    const all = await this.redis.hgetall(keys.queueRegistry());
    for (const [name, raw] of Object.entries(all)) {
      this.scopes.set(name, JSON.parse(raw) as QueueScope);
      this.maybeNonEmpty.add(name);
    }
  }

  /** Called for wake-ups from any server process: learn the queue and mark it as having work. */
  noteWake(name: string, scope: QueueScope): void {
    this.scopes.set(name, scope);
    this.maybeNonEmpty.add(name);
  }

  markAllMaybeNonEmpty(): void {
    for (const name of this.scopes.keys()) this.maybeNonEmpty.add(name);
  }

  list(): Array<[string, QueueScope]> {
    return [...this.scopes.entries()];
  }

  scope(name: string): QueueScope | undefined {
    return this.scopes.get(name);
  }

  queue(name: string): Queue<TaskJobData> {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue<TaskJobData>(name, { connection: this.redis, prefix: PREFIX });
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** A manual-fetch worker per queue (no processor): the gateway hands jobs out itself. */
  async worker(name: string): Promise<Worker<TaskJobData>> {
    let worker = this.workers.get(name);
    if (!worker) {
      worker = new Worker<TaskJobData>(name, null, {
        connection: this.redis, prefix: PREFIX, lockDuration: this.lockDurationMs,
        stalledInterval: Math.max(1000, Math.floor(this.lockDurationMs / 2)), maxStalledCount: 1_000_000,
        autorun: false,
      });
      worker.on('error', () => {});
      this.workers.set(name, worker);
      await worker.startStalledCheckTimer();
    }
    return worker;
  }

  /** A handle on a job by id, without fetching it, for lock and state moves. */
  job(name: string, jobId: string): Job<TaskJobData> {
    return new Job<TaskJobData>(this.queue(name), JOB_NAME, { task_id: 0 }, {}, jobId);
  }

  async add(scope: QueueScope, taskId: number): Promise<string> {
    const name = queueName(scope);
    if (!this.scopes.has(name)) {
      await this.redis.hset(keys.queueRegistry(), name, JSON.stringify(scope));
      this.scopes.set(name, scope);
    }
    await this.queue(name).add(JOB_NAME, { task_id: taskId }, {
      jobId: `task-${taskId}`, removeOnComplete: true, removeOnFail: { count: 1000 },
    });
    await this.wake(name);
    return name;
  }

  /** Tells every server process that `name` has work; each wakes at most one parked runner. */
  async wake(name: string): Promise<void> {
    const scope = this.scopes.get(name);
    await this.redis.publish(channels.wake, JSON.stringify({ queue: name, scope }));
  }

  async counts(name: string): Promise<{ waiting: number; active: number }> {
    const counts = await this.queue(name).getJobCounts('waiting', 'active', 'prioritized');
    return { waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0 };
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((worker) => worker.close(true).catch(() => {})));
    await Promise.all([...this.queues.values()].map((queue) => queue.close().catch(() => {})));
  }
}
