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

const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: { count: 1000 } };
/** BullMQ's token for "move without checking the lock". */
const NO_LOCK = '0';

/**
 * The set of task queues, their BullMQ handles, and the wake-up channel. A mark per queue lets a
 * claim skip queues known to be empty without a Redis round trip: a queue is marked when a
 * wake-up names it, and unmarked after a fetch that found nothing only if no wake-up came in
 * meanwhile (each mark has its own number), so a claim racing a wake-up never hides work.
 *
 * BullMQ is only the list of jobs here: its lock and stalled checker never decide a task's fate
 * (the gateway's lease does; see gateway/leases.ts), so no stalled checker runs and the gateway
 * moves jobs without lock tokens.
 */
export class TaskQueues {
  private readonly scopes = new Map<string, QueueScope>();
  private readonly queues = new Map<string, Queue<TaskJobData>>();
  private readonly workers = new Map<string, Worker<TaskJobData>>();
  private readonly marks = new Map<string, number>();
  private markCount = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly lockDurationMs: number,
  ) {}

  /** Loads every queue ever used, so a restarted server serves jobs left in any of them. */
  async load(): Promise<void> {
    const all = await this.redis.hgetall(keys.queueRegistry());
    for (const [name, raw] of Object.entries(all)) {
      this.scopes.set(name, JSON.parse(raw) as QueueScope);
      this.mark(name);
    }
  }

  /** Called for wake-ups from any server process: learn the queue and mark it as having work. */
  noteWake(name: string, scope: QueueScope): void {
    this.scopes.set(name, scope);
    this.mark(name);
  }

  markAllMaybeNonEmpty(): void {
    for (const name of this.scopes.keys()) this.mark(name);
  }

  /** The queue may hold work; answers the mark's number. */
  mark(name: string): number {
    this.marks.set(name, ++this.markCount);
    return this.markCount;
  }

  /** The number of the queue's current mark, or undefined when it is known to be empty. */
  markOf(name: string): number | undefined {
    return this.marks.get(name);
  }

  /** A fetch that began at mark `seen` found nothing: unmark unless a wake-up marked it since. */
  unmarkIf(name: string, seen: number | undefined): void {
    if (this.marks.get(name) === seen) this.marks.delete(name);
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
        skipStalledCheck: true, skipLockRenewal: true, autorun: false,
      });
      worker.on('error', () => {});
      this.workers.set(name, worker);
    }
    return worker;
  }

  /** A handle on a task's job, without fetching it, for state moves. */
  job(name: string, taskId: number): Job<TaskJobData> {
    return new Job<TaskJobData>(this.queue(name), JOB_NAME, { task_id: taskId }, JOB_OPTIONS, `task-${taskId}`);
  }

  /** The task's job back at the head of its queue (no lock token: the lease is the claim). */
  async requeue(name: string, taskId: number): Promise<void> {
    await this.job(name, taskId).moveToWait(NO_LOCK);
  }

  /** The task's job leaves its queue for good. */
  async retire(name: string, taskId: number, outcome: string): Promise<void> {
    await this.job(name, taskId).moveToCompleted(outcome, NO_LOCK, false).catch(() => {});
  }

  /** The queue's active jobs: task id and when the job was fetched (ms). */
  async activeJobs(name: string): Promise<Array<{ taskId: number; fetchedAt: number }>> {
    const jobs = await this.queue(name).getActive(0, -1);
    return jobs.map((job) => ({ taskId: (job.data as TaskJobData).task_id, fetchedAt: job.processedOn ?? 0 }));
  }

  /** Jobs waiting in each of these queues, one round trip per queue, sent together. */
  async waitingCounts(names: string[]): Promise<number[]> {
    return Promise.all(names.map((name) => this.redis.llen(`${PREFIX}:${name}:wait`)));
  }

  async add(scope: QueueScope, taskId: number): Promise<string> {
    const name = queueName(scope);
    if (!this.scopes.has(name)) {
      await this.redis.hset(keys.queueRegistry(), name, JSON.stringify(scope));
      this.scopes.set(name, scope);
    }
    await this.queue(name).add(JOB_NAME, { task_id: taskId }, { jobId: `task-${taskId}`, ...JOB_OPTIONS });
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
