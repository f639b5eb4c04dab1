import type { ChainableCommander } from 'ioredis';
import { isCluster, type RedisClient } from '../redis/connection.js';
import { channels, keys } from '../redis/keys.js';
import { script } from '../redis/scripts.js';
import type { QueueKeys } from '../store/tasks.js';

/** Where a queue's tasks may go: the project they belong to and the runner tag they require. */
export interface QueueScope { project_id: number; tag: string }

/**
 * One queue per (project, runner tag). The queue *is* the partition: nothing else decides
 * placement. The name carries its own hash tag, so in Redis Cluster every queue's keys share one
 * slot and different queues land on different slots.
 */
export function queueName(scope: QueueScope): string {
  return `{tasks-p${scope.project_id}-${scope.tag || '_'}}`;
}

/** Where the BullMQ version kept a task queue (`forge:<name>:…`), moved from once at load(). */
const BULLMQ_PREFIX = 'forge';
/** BullMQ's per-queue keys besides wait, paused, prioritized and active (its QueueKeys). */
const BULLMQ_SUFFIXES = ['', 'waiting-children', 'id', 'delayed', 'stalled-check', 'completed', 'failed', 'stalled', 'repeat', 'limiter', 'meta', 'events', 'pc', 'marker', 'de'];

/**
 * The task queues: per queue a waiting zset (FIFO by task id; a requeue goes to the head) and an
 * active zset (claimed tasks, scored by when), each step one Lua script (services/redis/lua/
 * queue-*.lua). Forge's own rather than BullMQ's: the gateway's lease decides a task's fate
 * (gateway/leases.ts), so BullMQ's locks, stalled checks, events stream and markers were ~35
 * Redis commands per task doing nothing; this costs about 9 (add, claim, retire).
 *
 * A mark per queue lets a claim skip queues known to be empty without a Redis round trip: a
 * queue is marked when a wake-up names it, and unmarked after a claim that found nothing only if
 * no wake-up came in meanwhile (each mark has its own number), so a claim racing a wake-up never
 * hides work.
 */
export class TaskQueues {
  private readonly scopes = new Map<string, QueueScope>();
  private readonly marks = new Map<string, number>();
  private markCount = 0;
  private readonly runAdd;
  private readonly runClaim;
  private readonly runRequeue;
  private readonly runRetire;
  private readonly runMigrate;

  constructor(private readonly redis: RedisClient) {
    this.runAdd = script(redis, 'queue-add');
    this.runClaim = script(redis, 'queue-claim');
    this.runRequeue = script(redis, 'queue-requeue');
    this.runRetire = script(redis, 'queue-retire');
    this.runMigrate = script(redis, 'queue-migrate');
  }

  /**
   * Loads every queue ever used, so a restarted server serves jobs left in any of them; tasks a
   * BullMQ version of Forge left in its keys move into the queue first (see queue-migrate.lua).
   */
  async load(): Promise<void> {
    const all = await this.redis.hgetall(keys.queueRegistry());
    for (const [name, raw] of Object.entries(all)) {
      await this.migrateFromBullMQ(name);
      this.scopes.set(name, JSON.parse(raw) as QueueScope);
      this.mark(name);
    }
  }

  private async migrateFromBullMQ(name: string): Promise<number> {
    const old = (suffix: string) => `${BULLMQ_PREFIX}:${name}:${suffix}`;
    return Number(await this.runMigrate(
      old('wait'), old('paused'), old('prioritized'), old('active'), keys.queueWait(name), keys.queueActive(name),
      old(''), String(Date.now()), ...BULLMQ_SUFFIXES,
    ));
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

  /** A claim that began at mark `seen` found nothing: unmark unless a wake-up marked it since. */
  unmarkIf(name: string, seen: number | undefined): void {
    if (this.marks.get(name) === seen) this.marks.delete(name);
  }

  list(): Array<[string, QueueScope]> {
    return [...this.scopes.entries()];
  }

  scope(name: string): QueueScope | undefined {
    return this.scopes.get(name);
  }

  /** Queues a new task at the tail and wakes the servers, in one step; a task is never queued twice. */
  async add(scope: QueueScope, taskId: number): Promise<string> {
    const name = queueName(scope);
    if (!this.scopes.has(name)) {
      await this.redis.hset(keys.queueRegistry(), name, JSON.stringify(scope));
      this.scopes.set(name, scope);
    }
    await this.runAdd(keys.queueWait(name), keys.queueActive(name), String(taskId), channels.wake, this.wakeMessage(name, scope));
    return name;
  }

  /**
   * A new task's place in its queue, as part of the MULTI that stores it, so the record and the
   * queue are written in one step. Only on a single Redis: on a Cluster the queue's keys are in a
   * slot of their own, which a MULTI cannot span (see inOneStepWithRecords). A new task id was
   * never queued nor claimed, so a plain `ZADD NX` does (no queue-add.lua and its check of the
   * active set), and the wake-up is the task's own creation event: the caller publishes `wake`
   * with it in the same MULTI (Parking takes a `waiting` task event naming a queue as its
   * wake-up). `written` must be called once the MULTI succeeded.
   */
  addNewIn(multi: ChainableCommander, scope: QueueScope, taskId: number): { name: string; wake: { queue: string; runner_tag: string }; written: () => void } {
    const name = queueName(scope);
    const known = this.scopes.has(name);
    if (!known) multi.hset(keys.queueRegistry(), name, JSON.stringify(scope));
    multi.zadd(keys.queueWait(name), 'NX', taskId, String(taskId));
    return { name, wake: { queue: name, runner_tag: scope.tag }, written: () => known || this.scopes.set(name, scope) };
  }

  /** Whether a queue's writes can share a MULTI with the records' (one Redis, not a Cluster). */
  get inOneStepWithRecords(): boolean {
    return !isCluster(this.redis);
  }

  /**
   * The head of the queue, moved to its active set: its task id, or null when it is empty. A
   * claim that finds the queue empty, or empties it, unmarks it (unless a wake-up marked it since).
   */
  async claim(name: string): Promise<number | null> {
    const claimed = await this.claimWith(name, async (queue) => {
      const head = (await this.runClaim(queue.wait, queue.active, String(Date.now()))) as [string, number] | null;
      return head && { taskId: Number(head[0]), waiting: head[1] };
    });
    return claimed ? claimed.taskId : null;
  }

  /**
   * A claim from `name` made by `run` on the queue's two zsets (`claim`'s own script, or one that
   * also moves the task: queue-claim-move.lua), answering how many still wait. A queue it found
   * empty (null), or emptied, is unmarked, unless a wake-up marked it meanwhile.
   */
  async claimWith<T extends { waiting: number }>(name: string, run: (queue: QueueKeys) => Promise<T | null>): Promise<T | null> {
    const seen = this.marks.get(name);
    const claimed = await run(this.keysOf(name));
    if (!claimed || claimed.waiting === 0) this.unmarkIf(name, seen);
    return claimed;
  }

  /** A queue's waiting and active zsets. */
  keysOf(name: string): QueueKeys {
    return { wait: keys.queueWait(name), active: keys.queueActive(name) };
  }

  /** The task back at the head of its queue (the lease, not this list, is the claim); `wake`: wake the servers too. */
  async requeue(name: string, taskId: number, options: { wake?: boolean } = {}): Promise<void> {
    await this.runRequeue(keys.queueWait(name), keys.queueActive(name), String(taskId), channels.wake, options.wake ? this.wakeMessage(name) : '');
  }

  /** The task leaves its queue for good, whether claimed or still waiting. */
  async retire(name: string, taskId: number): Promise<void> {
    await this.runRetire(keys.queueWait(name), keys.queueActive(name), String(taskId));
  }

  /** The queue's claimed tasks: task id and when it was claimed (ms). */
  async activeJobs(name: string): Promise<Array<{ taskId: number; fetchedAt: number }>> {
    const flat = await this.redis.zrange(keys.queueActive(name), '0', '-1', 'WITHSCORES');
    const jobs: Array<{ taskId: number; fetchedAt: number }> = [];
    for (let i = 0; i < flat.length; i += 2) jobs.push({ taskId: Number(flat[i]), fetchedAt: Number(flat[i + 1]) });
    return jobs;
  }

  /** Tasks waiting in each of these queues, one round trip per queue, sent together. */
  async waitingCounts(names: string[]): Promise<number[]> {
    return Promise.all(names.map((name) => this.redis.zcard(keys.queueWait(name))));
  }

  /** The first `limit` task ids waiting in a queue, head first. */
  async waitingIds(name: string, limit: number): Promise<number[]> {
    return (await this.redis.zrange(keys.queueWait(name), '0', String(limit - 1))).map(Number);
  }

  async counts(name: string): Promise<{ waiting: number; active: number }> {
    const [waiting, active] = await Promise.all([this.redis.zcard(keys.queueWait(name)), this.redis.zcard(keys.queueActive(name))]);
    return { waiting, active };
  }

  /** The task at the head of the queue (the next to be claimed), or null. */
  async head(name: string): Promise<number | null> {
    return (await this.waitingIds(name, 1))[0] ?? null;
  }

  /** Tells every server process that `name` has work; each wakes at most one parked runner. */
  async wake(name: string): Promise<void> {
    await this.redis.publish(channels.wake, this.wakeMessage(name));
  }

  private wakeMessage(name: string, scope = this.scopes.get(name)): string {
    return JSON.stringify({ queue: name, scope });
  }

  /** A deleted project's queues: their keys and registry entries go. */
  async deleteProject(projectId: number): Promise<void> {
    const registry = await this.redis.hgetall(keys.queueRegistry());
    for (const [name, raw] of Object.entries(registry)) {
      if ((JSON.parse(raw) as QueueScope).project_id !== projectId) continue;
      await this.migrateFromBullMQ(name); // drops keys a BullMQ version left, if any
      await this.redis.del(keys.queueWait(name), keys.queueActive(name));
      await this.redis.hdel(keys.queueRegistry(), name);
      this.scopes.delete(name);
      this.marks.delete(name);
    }
  }
}
