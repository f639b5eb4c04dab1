import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { logger } from '../../protocol/log.js';
import type { Task } from '../common/model.js';
import type { HeartbeatAnswer, JobPayload, RunnerState, TaskResult } from '../../protocol/wire.js';
import { buildPayload } from '../dispatch/payload.js';
import { type QueueScope, TaskQueues } from '../dispatch/queues.js';
import type { EventBus } from '../events.js';
import { channels, keys } from '../redis/keys.js';
import type { Runner } from '../store/runners.js';
import type { Stores } from '../store/stores.js';
import { isFinal } from '../store/tasks.js';

const log = logger('gateway');

/** Who is asking: a registered remote runner, or the server's own local worker (runner id 0). */
export interface Executor {
  runnerId: number;
  name: string;
  runner: Runner | null;
  maxParallel: number;
  eligible(scope: QueueScope): boolean;
}

export function runnerExecutor(runner: Runner): Executor {
  return {
    runnerId: runner.id, name: runner.name, runner, maxParallel: runner.max_parallel_tasks,
    eligible: (scope) =>
      (runner.project_id === null || runner.project_id === scope.project_id) && (scope.tag === '' || runner.tags.includes(scope.tag)),
  };
}

export function localExecutor(maxParallel: number): Executor {
  return { runnerId: 0, name: 'local', runner: null, maxParallel, eligible: () => true };
}

interface Lease { queue: string; token: string; runner_id: number; attempt: number }
export interface Completion { task_id: number; attempt: number; result: TaskResult }

export class GatewayError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** What the gateway reports to /metrics. */
export interface GatewayCounters {
  /** A parked executor was woken by new work. */
  wake(): void;
  /** A claim pass found no job for the executor. */
  emptyClaim(): void;
  outputBytes(bytes: number): void;
  /** A task was handed to an executor (dispatch latency). */
  claimed(task: Task): void;
}

/** A parked long-poll. `full` ones wait for a slot of their own, not for new work. */
interface Waiter { executor: Executor; full: boolean; wake: () => void }

/**
 * The server's half of the runner protocol (claim, heartbeat, running, output, result), shared by
 * the HTTP gateway for remote runners and by the in-process local worker. All state is in Redis
 * except the parked long-polls of this process.
 */
export class GatewayCore {
  private readonly waiters: Waiter[] = [];
  private rotate = 0;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly stores: Stores,
    readonly queues: TaskQueues,
    private readonly completions: Queue<Completion>,
    private readonly options: { leaseMs: number; maxTaskDurationSec: number },
    private readonly counters: GatewayCounters = { wake() {}, emptyClaim() {}, outputBytes() {}, claimed() {} },
  ) {}

  attach(bus: EventBus): void {
    this.unsubscribe.push(
      bus.on(channels.wake, (message) => {
        const { queue, scope, runner_id } = message as { queue?: string; scope?: QueueScope; runner_id?: number };
        if (runner_id !== undefined) return this.wakeRunner(runner_id);
        if (!queue || !scope) return;
        this.queues.noteWake(queue, scope);
        this.wakeOne(scope);
      }),
    );
  }

  /** Wakes the longest-parked executor that may take work from `scope`: at most one per wake-up. */
  private wakeOne(scope: QueueScope): void {
    const index = this.waiters.findIndex((waiter) => !waiter.full && waiter.executor.eligible(scope));
    if (index < 0) return;
    this.counters.wake();
    this.waiters.splice(index, 1)[0]!.wake();
  }

  /** A slot of this runner freed up: its parked polls may claim again. */
  private wakeRunner(runnerId: number): void {
    for (const waiter of this.waiters.filter((w) => w.executor.runnerId === runnerId)) waiter.wake();
  }

  /**
   * Long-poll: a job for this executor, or null when `timeoutMs` passes or `signal` aborts.
   * Between attempts the executor is parked until a wake-up names a queue it may serve.
   */
  async next(executor: Executor, timeoutMs: number, signal?: AbortSignal): Promise<{ task: Task; payload: JobPayload } | null> {
    const deadline = Date.now() + timeoutMs;
    while (!signal?.aborted && Date.now() < deadline) {
      const claimed = await this.tryClaim(executor);
      if (claimed === 'full') {
        // Parked until one of this executor's tasks ends (a slot-freed wake-up) or the poll times out.
      } else if (claimed) {
        return claimed;
      } else if (this.hasEligibleWork(executor)) {
        continue; // a wake-up arrived while we were claiming
      }
      await new Promise<void>((resolve) => {
        const waiter: Waiter = { executor, full: claimed === 'full', wake: () => done() };
        const timer = setTimeout(() => done(), Math.max(0, deadline - Date.now()));
        const onAbort = () => done();
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiters.push(waiter);
      });
    }
    return null;
  }

  async activeCount(runnerId: number): Promise<number> {
    return this.stores.redis.scard(keys.runnerTasks(runnerId));
  }

  /** One pass over the executor's eligible queues that may hold work. */
  private hasEligibleWork(executor: Executor): boolean {
    return this.queues.list().some(([name, scope]) => this.queues.maybeNonEmpty.has(name) && executor.eligible(scope));
  }

  async tryClaim(executor: Executor): Promise<{ task: Task; payload: JobPayload } | null | 'full'> {
    if (executor.maxParallel > 0 && (await this.activeCount(executor.runnerId)) >= executor.maxParallel) return 'full';
    const candidates = this.queues.list().filter(([name, scope]) => this.queues.maybeNonEmpty.has(name) && executor.eligible(scope));
    if (candidates.length === 0) return null;
    this.rotate = (this.rotate + 1) % candidates.length;
    const ordered = [...candidates.slice(this.rotate), ...candidates.slice(0, this.rotate)];
    for (const [name] of ordered) {
      const claimed = await this.claimFromQueue(executor, name);
      if (claimed) return claimed;
    }
    this.counters.emptyClaim();
    return null;
  }

  private async claimFromQueue(executor: Executor, name: string): Promise<{ task: Task; payload: JobPayload } | null> {
    const worker = await this.queues.worker(name);
    for (;;) {
      this.queues.maybeNonEmpty.delete(name);
      const token = `${executor.runnerId}:${randomUUID()}`;
      const job = await worker.getNextJob(token, { block: false });
      if (!job) return null;
      this.queues.maybeNonEmpty.add(name);
      const taskId = job.data.task_id;
      const task = await this.stores.tasks.get(taskId);
      if (!task || isFinal(task.status) || task.stop_requested) {
        // Stopped while waiting, or already finalised (e.g. its runner was lost): drop the job.
        if (task && !isFinal(task.status)) await this.stores.tasks.transition(taskId, { from: ['waiting', 'starting'] }, { status: 'stopped', end: new Date().toISOString() });
        await job.moveToCompleted('dropped', token, false).catch(() => {});
        continue;
      }
      if (task.status === 'running' || task.status === 'stopping') {
        // The stalled checker handed back a job whose runner died mid-task: that run is lost.
        await this.complete({ task_id: taskId, attempt: task.attempt, result: lostResult(task) });
        await job.moveToCompleted('runner lost', token, false).catch(() => {});
        continue;
      }
      const attempt = task.attempt + 1;
      const projectLimit = (await this.stores.projects.get(task.project_id))?.max_parallel_tasks ?? 0;
      const started = await this.stores.tasks.transition(taskId, { from: ['waiting', 'starting'], project_limit: projectLimit }, {
        status: 'starting', attempt, runner_id: executor.runnerId || null, runner_name: executor.name,
        lease_until: Date.now() + this.options.leaseMs, waiting_reason: '',
      });
      if (!started) {
        const current = await this.stores.tasks.get(taskId);
        if (projectLimit > 0 && current?.status === 'waiting' && !current.stop_requested) {
          // The project runs as many tasks as it may: put the job back at the head and skip this
          // queue until one of the project's tasks ends (the reconciler wakes it then).
          await job.moveToWait(token).catch(() => {});
          this.queues.maybeNonEmpty.delete(name);
          await this.stores.tasks.transition(taskId, { from: ['waiting'] }, { waiting_reason: projectLimitReason(projectLimit) });
          return null;
        }
        await job.moveToCompleted('dropped', token, false).catch(() => {});
        continue;
      }
      const lease: Lease = { queue: name, token, runner_id: executor.runnerId, attempt };
      await this.stores.redis.multi()
        .hset(keys.leases(), String(taskId), JSON.stringify(lease))
        .sadd(keys.runnerTasks(executor.runnerId), String(taskId))
        .exec();
      try {
        const payload = await buildPayload(this.stores, started, this.options.maxTaskDurationSec);
        this.counters.claimed(started);
        return { task: started, payload };
      } catch (err) {
        await this.finish(executor, taskId, attempt, {
          status: 'error', exit_code: null, error: `cannot start: ${(err as Error).message}`,
          commit_hash: '', commit_message: '', start: null, end: new Date().toISOString(),
        });
      }
    }
  }

  private async lease(taskId: number): Promise<Lease | undefined> {
    const raw = await this.stores.redis.hget(keys.leases(), String(taskId));
    return raw ? (JSON.parse(raw) as Lease) : undefined;
  }

  /** The lease if this executor holds it for this attempt; 403 when it never did, 409 when it no longer does. */
  private async ownLease(executor: Executor, taskId: number, attempt: number): Promise<Lease> {
    const lease = await this.lease(taskId);
    if (lease && lease.runner_id === executor.runnerId && lease.attempt === attempt) return lease;
    const task = await this.stores.tasks.get(taskId);
    if (task && (task.runner_id ?? 0) === executor.runnerId && task.attempt >= attempt) {
      throw new GatewayError(409, `task ${taskId} attempt ${attempt} is no longer assigned to this runner (status ${task.status})`);
    }
    throw new GatewayError(403, `task ${taskId} is not assigned to this runner`);
  }

  /** Extends the leases of the executor's running tasks; answers which to stop and which were taken away. */
  async heartbeat(executor: Executor, state: RunnerState): Promise<HeartbeatAnswer> {
    if (executor.runner) {
      await this.stores.runners.touch(new Map([[executor.runnerId, state]]));
    }
    const answer: HeartbeatAnswer = { stop: [], lost: [] };
    for (const { task_id, attempt } of state.active) {
      const lease = await this.lease(task_id);
      if (!lease || lease.runner_id !== executor.runnerId || lease.attempt !== attempt) {
        answer.lost.push(task_id);
        continue;
      }
      const extended = await this.queues.job(lease.queue, `task-${task_id}`).extendLock(lease.token, this.options.leaseMs).catch(() => 0);
      const task = await this.stores.tasks.patch(task_id, { lease_until: Date.now() + this.options.leaseMs });
      if (!extended) log.debug('BullMQ lock could not be extended; the task lease still holds', { task_id });
      if (task?.stop_requested) answer.stop.push(task_id);
    }
    return answer;
  }

  async running(executor: Executor, taskId: number, attempt: number, commit: { commit_hash: string; commit_message: string }): Promise<{ stop: boolean }> {
    await this.ownLease(executor, taskId, attempt);
    const task = await this.stores.tasks.transition(taskId, { from: ['starting'], attempt }, {
      status: 'running', start: new Date().toISOString(), commit_hash: commit.commit_hash, commit_message: commit.commit_message,
    });
    const current = task ?? (await this.stores.tasks.get(taskId));
    return { stop: Boolean(current?.stop_requested) };
  }

  async log(executor: Executor, taskId: number, attempt: number, lines: Array<{ seq: number; time: string; output: string }>): Promise<number> {
    await this.ownLease(executor, taskId, attempt);
    this.counters.outputBytes(lines.reduce((sum, line) => sum + Buffer.byteLength(line.output), 0));
    return this.stores.output.append(taskId, lines);
  }

  async finish(executor: Executor, taskId: number, attempt: number, result: TaskResult): Promise<void> {
    const lease = await this.ownLease(executor, taskId, attempt);
    await this.complete({ task_id: taskId, attempt, result });
    await this.queues.job(lease.queue, `task-${taskId}`).moveToCompleted(result.status, lease.token, false).catch(() => {});
  }

  /** Hands a result to the reconciler. Idempotent: one completion job per task attempt. */
  async complete(completion: Completion): Promise<void> {
    await this.completions.add('completion', completion, {
      jobId: `c-${completion.task_id}-${completion.attempt}`, removeOnComplete: { count: 10_000 }, removeOnFail: { count: 10_000 },
      attempts: 10, backoff: { type: 'exponential', delay: 200 },
    });
  }

  /**
   * At server start: give every active task one more lease, so runners that kept working while
   * the server was down can reconnect and heartbeat before the watchdog judges them lost.
   */
  async graceActiveLeases(): Promise<void> {
    const until = Date.now() + this.options.leaseMs;
    for (const id of await this.stores.tasks.activeIds()) await this.stores.tasks.patch(id, { lease_until: until });
  }

  /** The runner-lost verdict for leases that ran out. A task that never started is requeued instead. */
  async expireLeases(now = Date.now()): Promise<void> {
    for (const task of await this.stores.tasks.getMany(await this.stores.tasks.activeIds())) {
      if (task.lease_until > now) continue;
      if (task.status === 'starting') {
        await this.requeueUnstarted(task, `runner ${task.runner_name} was lost before the task started; requeued`);
      } else {
        await this.complete({ task_id: task.id, attempt: task.attempt, result: lostResult(task) });
        const lease = await this.lease(task.id);
        if (lease) await this.queues.job(lease.queue, `task-${task.id}`).moveToCompleted('runner lost', lease.token, false).catch(() => {});
      }
    }
  }

  /** Puts a claimed task that never started back at the head of its queue. */
  async requeueUnstarted(task: Task, reason: string): Promise<void> {
    const lease = await this.lease(task.id);
    const requeued = await this.stores.tasks.transition(task.id, { from: ['starting'], attempt: task.attempt }, {
      status: 'waiting', runner_id: null, runner_name: '', waiting_reason: reason,
    });
    if (requeued && lease) {
      await this.releaseLease(task.id, lease.runner_id);
      await this.queues.job(lease.queue, `task-${task.id}`).moveToWait(lease.token).catch(() => {});
      await this.queues.wake(lease.queue);
    }
  }

  async releaseLease(taskId: number, runnerId: number): Promise<void> {
    await this.stores.redis.multi().hdel(keys.leases(), String(taskId)).srem(keys.runnerTasks(runnerId), String(taskId)).exec();
    await this.stores.redis.publish(channels.wake, JSON.stringify({ runner_id: runnerId }));
  }

  wakeAll(): void {
    for (const waiter of this.waiters.splice(0)) waiter.wake();
  }

  close(): void {
    for (const off of this.unsubscribe) off();
    this.wakeAll();
  }
}

export const projectLimitReason = (limit: number) => `the project runs its maximum of ${limit} tasks at once; it starts when one ends`;

function lostResult(task: Task): TaskResult {
  return {
    status: 'error', exit_code: null, error: `runner lost: ${task.runner_name || 'the runner'} stopped answering during the task`,
    commit_hash: task.commit_hash, commit_message: task.commit_message, start: task.start, end: new Date().toISOString(),
  };
}
