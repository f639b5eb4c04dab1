import { EventEmitter } from 'node:events';
import { Queue, Worker } from 'bullmq';
import { logger } from '../protocol/log.js';
import { ACTIVE_STATUSES, type Task } from './common/model.js';
import type { Completion, GatewayCore } from './gateway/core.js';
import type { AfterTaskReads, Lease } from './store/tasks.js';
import { WaitingReasons } from './dispatch/waiting.js';
import type { RedisClient } from './redis/connection.js';
import type { Stores } from './store/stores.js';

const log = logger('reconciler');
export const COMPLETION_QUEUE = '{forge-completions}';

export function completionQueue(redis: RedisClient): Queue<Completion> {
  return new Queue<Completion>(COMPLETION_QUEUE, { connection: redis, prefix: 'forge' });
}

/**
 * Consumes the completion queue and finalises each task exactly once: the status move is
 * conditional on the task still being active in the same attempt, so a result delivered twice,
 * or a late result after "runner lost", changes nothing. Its timer runs the lease watchdog and
 * refreshes the reasons waiting tasks give.
 */
export class Reconciler extends EventEmitter {
  private worker: Worker<Completion> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly waitingReasons: WaitingReasons;

  constructor(
    private readonly redis: RedisClient,
    private readonly stores: Stores,
    private readonly core: GatewayCore,
    private readonly options: { watchdogMs: number; localMode: boolean; localBusy: () => boolean },
  ) {
    super();
    this.waitingReasons = new WaitingReasons(stores, core.queues);
  }

  start(): void {
    // A runner's own result is finalised in its request; the queue carries the watchdog's verdicts.
    this.core.finaliseWith((completion, runnerId) => this.finalise(completion, runnerId));
    this.worker = new Worker<Completion>(COMPLETION_QUEUE, (job) => this.finalise(job.data), {
      connection: this.redis, prefix: 'forge', concurrency: 20,
    });
    this.worker.on('error', (err) => log.warn('completion worker error', { error: err.message }));
    this.timer = setInterval(() => void this.tick(), this.options.watchdogMs);
    void this.tick(); // at once: leases that ran out while no server was up are judged now
  }

  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.core.watchdog.pass();
      await this.waitingReasons.refresh({ local: this.options.localMode, localBusy: this.options.localBusy() });
    } catch (err) {
      log.warn('watchdog pass failed', { error: (err as Error).message });
    } finally {
      this.ticking = false;
    }
  }

  /**
   * One conditional move (the script also turns a success of a task asked to stop into `stopped`,
   * keeps a start already recorded, drops the lease and the task's extras, and publishes the task event, which frees the
   * runner's slot for parked long-polls). `runnerId`: a runner's own result, accepted only under
   * its lease ('lease' when it holds none).
   */
  async finalise({ task_id, attempt, result }: Completion, runnerId?: number): Promise<{ task: Task; lease?: Lease } | 'lease' | undefined> {
    if (result.error.startsWith('runner lost')) {
      const before = await this.stores.tasks.get(task_id);
      if (before && before.attempt === attempt && ACTIVE_STATUSES.includes(before.status)) {
        // Written before the final status, so live viewers see the reason before the stream ends.
        // A notice takes no line number: lines the runner still sends are kept after it.
        await this.stores.output.notice(task_id, result.end, `[forge] ${result.error}`);
      }
    }
    const moved = await this.stores.tasks.move(task_id, {
      from: ACTIVE_STATUSES, attempt, ...(runnerId === undefined ? {} : { lease: { runner_id: runnerId, attempt } }),
    }, {
      status: result.status, end: result.end, exit_code: result.exit_code, error: result.error,
      ...(result.commit_hash ? { commit_hash: result.commit_hash, commit_message: result.commit_message } : {}),
      ...(result.start ? { start: result.start } : {}),
    }, { drop: true, stopped_if_requested: true, keep_start: true, project_limit: true, drop_extras: true, read_after: true });
    if (moved.outcome === 'lease') return 'lease';
    if (moved.outcome !== 'ok') return undefined; // already final, or a stale attempt
    const { task } = moved;
    // A project at its max_parallel_tasks left its queues parked; one of its slots is free now.
    if (moved.projectLimit) {
      for (const [name, scope] of this.core.queues.list()) if (scope.project_id === task.project_id) await this.core.queues.wake(name);
    }
    log.info('task finished', { task_id, status: task.status, runner: task.runner_name });
    this.emit('finalised', task, moved.after satisfies AfterTaskReads | undefined);
    return { task, lease: moved.heldLease };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.worker?.close();
  }
}
