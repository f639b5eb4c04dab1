import type { PollSignal } from './poll-end.js';
import { logger } from '../../protocol/log.js';
import type { JobPayload } from '../../protocol/wire.js';
import type { Task } from '../common/model.js';
import { buildPayload } from '../dispatch/payload.js';
import { queueName, type QueueScope, type TaskQueues } from '../dispatch/queues.js';
import { projectLimitReason } from '../dispatch/waiting.js';
import type { Stores } from '../store/stores.js';
import { type ClaimMove, type ClaimTerms, isFinal, type MoveCondition, type MoveOptions, type MoveOutcome } from '../store/tasks.js';
import type { Claimant } from './claimant.js';
import type { Leases } from './leases.js';
import type { Parking } from './parking.js';

const log = logger('gateway');

export interface Claim { task: Task; payload: JobPayload }

/** What a hand-off brings a parked poll: its claim, 'full' (its runner's leases fill its slots) or nothing (it claims as if woken). */
export type Handed = Claim | 'full' | null;

/** A new task's hand-off to a parked claimant (Claimer.handOffFor). */
export interface HandOff {
  /** The claim to add to the creation's MULTI (TaskStore.createAndClaim). */
  terms: ClaimTerms;
  /** With the claim's outcome (undefined: the MULTI failed): the parked poll gets its job, or claims on. Resolves once it has; never rejects. */
  settle(claimed: ClaimMove | null | Error | undefined): Promise<void>;
}

/** What the claimer reports to /metrics. */
export interface ClaimCounters {
  /** A claim pass found no job for the claimant. */
  emptyClaim(): void;
  /** A task was handed to a claimant (dispatch latency). */
  claimed(task: Task): void;
  /** A new task went to a claimant parked here in its creation's step (handOffFor). */
  handedOff(): void;
}

/**
 * Hands jobs to claimants: the long-poll (claim, else park until a wake-up), and the claim
 * itself, which moves the task to `starting` and takes its lease in one atomic step.
 */
export class Claimer {
  private rotate = 0;

  constructor(
    private readonly stores: Stores,
    private readonly queues: TaskQueues,
    private readonly leases: Leases,
    private readonly parking: Parking<Handed>,
    private readonly options: { maxTaskDurationSec: number },
    private readonly counters: ClaimCounters,
    /** Reports a task that cannot start (its payload cannot be built) as that attempt's result. */
    private readonly cannotStart: (claimant: Claimant, task: Task, error: string) => Promise<void>,
  ) {}

  /**
   * Long-poll: a job for this claimant, or null when `timeoutMs` passes or `signal` aborts.
   * Between attempts the claimant is parked until a wake-up names a queue it may serve.
   */
  async next(claimant: Claimant, timeoutMs: number, signal?: PollSignal): Promise<Claim | null> {
    const deadline = Date.now() + timeoutMs;
    let rechecked = false;
    // Once the server's count said full, the runner's own report no longer decides how it parks.
    let foundFull = false;
    let woken = false;
    /** What a hand-off brought the last park, if one did: it stands for this pass's claim. */
    let handed: Handed | undefined;
    while (handed !== undefined || (!signal?.aborted && Date.now() < deadline)) {
      const slotWakes = this.parking.slotWakesOf(claimant.runnerId);
      const claimed = handed !== undefined ? handed : await this.tryClaim(claimant, !foundFull, woken);
      handed = undefined;
      if (claimed === 'full') foundFull = true;
      if (rechecked && claimed !== 'full') log.info('a runner parked as full found a free slot on its own recheck: a slot-freed wake-up was missed', { runner_id: claimant.runnerId });
      if (claimed && claimed !== 'full') return claimed;
      // A wake-up that arrived while we were claiming left its queue marked (or counted a freed
      // slot): claim again rather than park past it.
      if (!claimed && this.hasEligibleWork(claimant)) continue;
      if (claimed === 'full' && this.parking.slotWakesOf(claimant.runnerId) !== slotWakes) continue;
      // Full: parked until one of this claimant's tasks ends (a slot-freed wake-up) or the poll ends.
      const parked = await this.parking.park(claimant, claimed === 'full', deadline, signal);
      rechecked = parked === 'recheck';
      woken = parked === 'woken';
      if (typeof parked === 'object') handed = parked.handed;
    }
    return null;
  }

  /**
   * A task being created goes straight to a claimant parked on this server that may take it, if
   * one is: the claim of its queue's head rides in the creation's MULTI (TaskStore.createAndClaim),
   * so the job needs no wake-up through Redis and no claim of its own, and the task event carries
   * no wake-up for other servers. The claim is the one a woken poll makes (the same script, the same
   * conditions: the runner's slots and the project's limit counted in the move). `settle` with the
   * MULTI's outcome hands the claim to the parked poll, or resumes it; a job it left waiting (a
   * refused move, an older task at the head, an error) is woken for the others as usual.
   */
  handOffFor(taskId: number, scope: QueueScope, projectLimit: number): HandOff | undefined {
    if (!this.queues.inOneStepWithRecords) return undefined;
    const taken = this.parking.take(scope);
    if (!taken) return undefined;
    const name = queueName(scope);
    const seen = this.queues.markOf(name);
    const { claimant } = taken;
    return {
      terms: { queue: this.queues.keysOf(name), ...this.claimTerms(claimant, name, projectLimit) },
      settle: async (claimed) => {
        let handed: Handed = null;
        /** Whether the new task may still wait with no wake-up out for it. */
        let leftUnwoken = claimed !== undefined;
        try {
          if (claimed instanceof Error) throw claimed;
          if (claimed) {
            if (claimed.waiting === 0) this.queues.unmarkIf(name, seen);
            const outcome = await this.taken(claimant, name, claimed.taskId, claimed.moved);
            if (outcome !== 'again') handed = outcome;
            const claim = handed === 'full' ? null : handed;
            if (claim) this.counters.handedOff();
            // Not when its runner took it, when its project's limit holds it (no runner may take it
            // now), or when the full runner's requeue woke the queue itself.
            leftUnwoken = claim?.task.id !== taskId && claimed.moved.outcome !== 'limit' && claimed.moved.outcome !== 'full';
          }
        } catch (err) {
          log.warn('a new task\'s hand-off to a parked runner failed; it waits for the next claim', { task_id: taskId, error: (err as Error).message });
        } finally {
          taken.handOver(handed);
        }
        if (leftUnwoken) void this.queues.wake(name).catch(() => {}); // else the wake-up sweep finds it
      },
    };
  }

  private eligibleQueues(claimant: Claimant): string[] {
    return this.queues.list().filter(([name, scope]) => this.queues.markOf(name) !== undefined && claimant.eligible(scope)).map(([name]) => name);
  }

  private hasEligibleWork(claimant: Claimant): boolean {
    return this.eligibleQueues(claimant).length > 0;
  }

  /**
   * A claim, or null when there is nothing to claim, or 'full' when the claimant's tasks fill its
   * slots. With a free slot by the claimant's own report (`trustReport`) and nothing to claim, the
   * slots are not counted (a Redis round trip, most of a parked poll's cost): the poll parks for new
   * work. The move that takes a lease counts them too, atomically, and refuses a full runner.
   * A claim that a wake-up brought to a parked poll (`woken`) leaves the first count to that move:
   * one round trip less on the way to an idle runner. A poll that finds work as it arrives counts
   * first: it often comes right after its runner's result, whose lease the reconciler may not have
   * dropped yet, and a job taken and put back would cost more than the count.
   */
  async tryClaim(claimant: Claimant, trustReport = false, woken = false): Promise<Claim | null | 'full'> {
    const reportsFreeSlot = trustReport && claimant.reportedActive !== undefined && (claimant.maxParallel === 0 || claimant.reportedActive < claimant.maxParallel);
    if (reportsFreeSlot && !this.hasEligibleWork(claimant)) return null;
    const countFirst = !(reportsFreeSlot && woken);
    if (claimant.maxParallel > 0 && countFirst && (await this.leases.activeCount(claimant.runnerId)) >= claimant.maxParallel) return 'full';
    const candidates = this.eligibleQueues(claimant);
    if (candidates.length === 0) return null;
    this.rotate = (this.rotate + 1) % candidates.length;
    for (const name of [...candidates.slice(this.rotate), ...candidates.slice(0, this.rotate)]) {
      const claimed = await this.claimFrom(claimant, name);
      if (claimed) return claimed;
    }
    this.counters.emptyClaim();
    return null;
  }

  /** The max_parallel_tasks of a queue's project, from the kept record (0: no limit); `true` when unknown here. */
  private async projectLimit(name: string): Promise<true | number> {
    const scope = this.queues.scope(name);
    const project = scope ? await this.stores.projects.get(scope.project_id) : undefined;
    return project ? project.max_parallel_tasks ?? 0 : true;
  }

  private async claimFrom(claimant: Claimant, name: string): Promise<Claim | null | 'full'> {
    for (;;) {
      const head = await this.takeHead(claimant, name);
      if (!head) return null;
      const outcome = await this.taken(claimant, name, head.taskId, head.moved);
      if (outcome !== 'again') return outcome;
    }
  }

  /**
   * A queue's head taken for this claimant, by its move's outcome: the claim; null when the
   * project is at its limit; 'full' when the runner's slots are; 'again' when this job could not
   * be claimed (gone, final, asked to stop, or its payload cannot be built) and the next may be.
   */
  private async taken(claimant: Claimant, name: string, taskId: number, moved: MoveOutcome): Promise<Claim | null | 'full' | 'again'> {
    if (moved.outcome === 'limit') {
      // The project runs as many tasks as it may: the job goes back to the head and this queue
      // is skipped until one of the project's tasks ends (the reconciler wakes it then).
      await this.queues.requeue(name, taskId);
      this.queues.unmarkIf(name, this.queues.markOf(name));
      await this.stores.tasks.transition(taskId, { from: ['waiting'] }, { waiting_reason: projectLimitReason(moved.limit) });
      return null;
    }
    if (moved.outcome === 'full') {
      // The runner's own report said it had a free slot, but its leases fill them (a report
      // behind its tasks): the job goes back to the head, and its wake-up on to another runner.
      await this.queues.requeue(name, taskId, { wake: true });
      return 'full';
    }
    if (moved.outcome !== 'ok') {
      await this.notClaimed(name, taskId);
      return 'again';
    }
    const started = moved.task;
    try {
      const payload = await buildPayload(this.stores, started, this.options.maxTaskDurationSec, moved.extras);
      this.counters.claimed(started);
      return { task: started, payload };
    } catch (err) {
      await this.cannotStart(claimant, started, `cannot start: ${(err as Error).message}`);
      return 'again';
    }
  }

  /**
   * The queue's head and its task's move to this claimant: the task must be waiting, not asked to
   * stop, its project below its max_parallel_tasks (as this server keeps the project record; else
   * the script reads it) and the runner below its own; the attempt goes up and the lease is taken.
   * On a single Redis the claim and the move are one script; on a Cluster two, in turn.
   */
  private async takeHead(claimant: Claimant, name: string): Promise<{ taskId: number; moved: MoveOutcome } | null> {
    const { cond, patch, options } = this.claimTerms(claimant, name, await this.projectLimit(name));
    if (this.queues.inOneStepWithRecords) return this.queues.claimWith(name, (queue) => this.stores.tasks.claimAndMove(queue, cond, patch, options));
    const taskId = await this.queues.claim(name);
    return taskId === null ? null : { taskId, moved: await this.stores.tasks.move(taskId, cond, patch, options) };
  }

  /** A claim's move for this claimant (see takeHead); `projectLimit` as within_project_limit takes it. */
  private claimTerms(claimant: Claimant, name: string, projectLimit: true | number): { cond: MoveCondition; patch: Partial<Task>; options: MoveOptions } {
    return {
      cond: { from: ['waiting'], not_stop_requested: true, within_project_limit: projectLimit, within_runner_slots: claimant.maxParallel },
      patch: { status: 'starting', runner_id: claimant.runnerId || null, runner_name: claimant.name, lease_until: Date.now() + this.leases.leaseMs, waiting_reason: '' },
      options: { next_attempt: true, read_extras: true, take: { lease: { queue: name, runner_id: claimant.runnerId, attempt: 0 }, runner_id: claimant.runnerId, lease_ms: this.leases.leaseMs } },
    };
  }

  /** A claimed job whose task could not start: gone or final (the job retires), asked to stop, or claimed already. */
  private async notClaimed(name: string, taskId: number): Promise<void> {
    const task = await this.stores.tasks.get(taskId);
    if (!task || isFinal(task.status)) {
      await this.queues.retire(name, taskId); // stopped while waiting, or already final
    } else if (task.status !== 'waiting') {
      // Held under a lease by another claim (a job moved back by hand): its holder finishes it and retires the job.
      log.warn('a queued job belongs to a task that is already claimed; left to its lease', { task_id: taskId, status: task.status });
    } else if (task.stop_requested) {
      await this.stores.tasks.transition(taskId, { from: ['waiting'] }, { status: 'stopped', end: new Date().toISOString() });
      await this.queues.retire(name, taskId);
    }
  }
}
