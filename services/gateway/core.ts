import type { Queue } from 'bullmq';
import { logger } from '../../protocol/log.js';
import { StatusError } from '../../protocol/peer.js';
import type { ConfirmationAnswer, HeartbeatAnswer, OutputLine, RunnerState, RunningAnswer, TaskResult } from '../../protocol/wire.js';
import { ACTIVE_STATUSES, type Task } from '../common/model.js';
import type { QueueScope, TaskQueues } from '../dispatch/queues.js';
import type { EventBus } from '../events.js';
import { channels } from '../redis/keys.js';
import type { Stores } from '../store/stores.js';
import { isFinal, taskEvent } from '../store/tasks.js';
import type { Claimant } from './claimant.js';
import { type Claim, Claimer, type Handed, type HandOff } from './claimer.js';
import { type Lease, Leases, Watchdog } from './leases.js';
import { Parking } from './parking.js';
import type { PollSignal } from './poll-end.js';
import { StartedRuns } from './started-runs.js';

export type { Claimant } from './claimant.js';
export { localClaimant, runnerClaimant } from './claimant.js';
/** The gateway's refusals are the protocol's one status-error class. */
export { StatusError as GatewayError };

const log = logger('gateway');

type AppendOptions = { event?: string; quiet?: boolean };

export interface Completion { task_id: number; attempt: number; result: TaskResult }

/**
 * Finalises a claimant's result under the lease `runnerId` holds: 'lease' when it holds none (the
 * result is refused), undefined when the task was final already, else the task and the lease it held.
 */
export type Finaliser = (completion: Completion, runnerId: number) => Promise<{ task: Task; lease?: Lease } | 'lease' | undefined>;

/** What the gateway reports to /metrics. */
export interface GatewayCounters {
  /** A parked claimant was woken by new work. */
  wake(): void;
  /** A claim pass found no job for the claimant. */
  emptyClaim(): void;
  outputBytes(bytes: number): void;
  /** A task was handed to a claimant (dispatch latency). */
  claimed(task: Task): void;
  /** A new task went to a claimant parked here in its creation's step. */
  handedOff(): void;
  /** Leases renewed instead of judged: every lease after an outage, or those that ran out while heartbeats arrived late. */
  leasesRenewed(why: 'outage' | 'late', count: number): void;
}

/**
 * The server's half of the runner protocol (claim, heartbeat, running, output, result), shared by
 * the HTTP gateway for remote runners and by the in-process local worker. It puts together the
 * parked long-polls (parking.ts), the claim (claimer.ts) and the leases (leases.ts); the verdicts
 * on leases that ran out are here too (requeue, runner lost), called by the watchdog. All state is
 * in Redis except the parked long-polls of this process.
 */
export class GatewayCore {
  readonly parking: Parking<Handed>;
  readonly leases: Leases;
  readonly watchdog: Watchdog;
  private readonly claimer: Claimer;
  /** Runs whose start report this process took: their later lines and result skip a separate lease check. */
  private readonly startedRuns = new StartedRuns();

  constructor(
    private readonly stores: Stores,
    readonly queues: TaskQueues,
    private readonly completions: Queue<Completion>,
    private readonly options: { leaseMs: number; maxTaskDurationSec: number; watchdogMs: number; sweepMs?: number },
    private readonly counters: GatewayCounters = { wake() {}, emptyClaim() {}, outputBytes() {}, claimed() {}, handedOff() {}, leasesRenewed() {} },
  ) {
    this.parking = new Parking<Handed>(queues, () => counters.wake());
    this.leases = new Leases(stores.redis, options.leaseMs);
    this.watchdog = new Watchdog(this.leases, (taskId, lease) => this.judge(taskId, lease), () => this.repairOrphans(), options.watchdogMs,
      (why, count) => counters.leasesRenewed(why, count));
    this.claimer = new Claimer(stores, queues, this.leases, this.parking, options, counters, async (claimant, task, error) => {
      await this.done(claimant, task.id, task.attempt, {
        status: 'error', exit_code: null, error, commit_hash: '', commit_message: '', start: null, end: new Date().toISOString(),
      });
    });
  }

  private bus: EventBus | undefined;

  attach(bus: EventBus): void {
    this.bus = bus;
    this.parking.attach(bus, this.options.sweepMs ?? 1000);
  }

  next(claimant: Claimant, timeoutMs: number, signal?: PollSignal): Promise<Claim | null> {
    return this.claimer.next(claimant, timeoutMs, signal);
  }

  /** A new task's hand-off to a claimant parked here, when one may take it (Claimer.handOffFor). */
  handOffFor(taskId: number, scope: QueueScope, projectLimit: number): HandOff | undefined {
    return this.claimer.handOffFor(taskId, scope, projectLimit);
  }

  /**
   * A job for this claimant if one can be claimed now, never waiting: the next job a result asks
   * for (revision 3). No queue it may serve has work by this server's marks: null at once, with no
   * Redis command. The result's final move dropped its lease, so the slots are counted by the move
   * that takes the next one (as for a woken poll), not in a round trip before it.
   */
  private async claimNow(claimant: Claimant): Promise<Claim | null> {
    const claimed = await this.claimer.tryClaim(claimant, true, true);
    return claimed === 'full' ? null : claimed;
  }

  /** The lease if this claimant holds it for this attempt; 403 when it never did, 409 when it no longer does. */
  private async ownLease(claimant: Claimant, taskId: number, attempt: number, extend = false): Promise<Lease> {
    const lease = await this.leases.held(taskId, claimant.runnerId, attempt, extend);
    if (lease) return lease;
    return this.refuse(claimant, taskId, attempt);
  }

  private async refuse(claimant: Claimant, taskId: number, attempt: number): Promise<never> {
    const task = await this.stores.tasks.get(taskId);
    if (task && (task.runner_id ?? 0) === claimant.runnerId && task.attempt >= attempt) {
      throw new StatusError(409, `task ${taskId} attempt ${attempt} is no longer assigned to this runner (status ${task.status}): end it`);
    }
    throw new StatusError(403, `task ${taskId} is not assigned to this runner`);
  }

  /** Extends the leases of the claimant's tasks in one round trip; answers which to stop and which were taken away. */
  async heartbeat(claimant: Claimant, state: RunnerState): Promise<HeartbeatAnswer> {
    return this.leases.heartbeat(claimant.runnerId, state);
  }

  /**
   * The start report: the lease check (renewing it) and the move to `running` are one script. Lines
   * printed before it (revision 2) are stored next, and one task event tells live views of both;
   * answers the highest line held. A repeated report is answered the same.
   */
  async running(claimant: Claimant, taskId: number, attempt: number, commit: { commit_hash: string; commit_message: string }, lines: OutputLine[] = []): Promise<RunningAnswer> {
    const moved = await this.stores.tasks.move(taskId, { from: ['starting'], attempt, lease: { runner_id: claimant.runnerId, attempt } }, {
      status: 'running', start: new Date().toISOString(), commit_hash: commit.commit_hash, commit_message: commit.commit_message,
    }, { extend_ms: this.leases.leaseMs, quiet: lines.length > 0 });
    if (moved.outcome === 'lease') return this.refuse(claimant, taskId, attempt);
    // The lease is held: refused only unless this attempt is now running here.
    const current = moved.outcome === 'ok' ? moved.task : await this.stores.tasks.get(taskId);
    if (!current || current.attempt !== attempt || !['running', 'stopping'].includes(current.status)) return this.refuse(claimant, taskId, attempt);
    this.startedRuns.add(claimant.runnerId, taskId, attempt);
    if (lines.length === 0) return { stop: Boolean(current.stop_requested) };
    const acked = await this.appendOutput(taskId, attempt, lines, { event: taskEvent(current) });
    return { stop: Boolean(current.stop_requested), acked };
  }

  /**
   * The executing side's plan is ready: the task moves to `waiting_confirmation` (once), then this
   * waits until confirm or reject changes the task record (a task event wakes it at once) or
   * `timeoutMs` passes (`pending`: the caller asks again). The lease is not touched here: the
   * runner's heartbeats keep it, so a waiting task is never judged lost while its runner lives.
   */
  async awaitConfirmation(claimant: Claimant, taskId: number, attempt: number, timeoutMs: number, signal?: AbortSignal): Promise<ConfirmationAnswer> {
    await this.ownLease(claimant, taskId, attempt);
    const decided = async (task: Task | undefined): Promise<ConfirmationAnswer | undefined> => {
      if (!task || task.attempt !== attempt || !ACTIVE_STATUSES.includes(task.status)) {
        throw new StatusError(409, `task ${taskId} attempt ${attempt} is no longer active here (status ${task?.status ?? 'deleted'}): end it`);
      }
      if (!task.confirmation) return undefined;
      // Taking the decision: a confirmed task is running (applying) again.
      if (task.status === 'confirmed') await this.stores.tasks.transition(taskId, { from: ['confirmed'], attempt }, { status: 'running' });
      return { decision: task.confirmation };
    };
    // Confirm and reject set `confirmation` together with their status, so a running task with none has not been asked yet.
    if (!(await decided(await this.stores.tasks.get(taskId)))) {
      await this.stores.tasks.transition(taskId, { from: ['running'], attempt }, { status: 'waiting_confirmation', confirmation: '' });
    }
    const until = Date.now() + timeoutMs;
    let wake: () => void = () => {};
    const off = this.bus?.on(channels.taskEvents, (message) => {
      if ((message as { id?: number }).id === taskId) wake();
    });
    try {
      while (!signal?.aborted && Date.now() < until) {
        const changed = new Promise<void>((resolve) => (wake = resolve));
        const answer = await decided(await this.stores.tasks.get(taskId));
        if (answer) return answer;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, until - Date.now()));
          const done = () => { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); };
          signal?.addEventListener('abort', done, { once: true });
          void changed.then(done);
        });
      }
      return { decision: 'pending' };
    } finally {
      off?.();
    }
  }

  /**
   * Stores output of an attempt this claimant holds. Lines of an attempt the watchdog already
   * judged lost are still kept (they are what that run printed), as long as no other attempt began:
   * a run this process saw start is such an attempt for good (a started attempt is never requeued),
   * so its lines need no lease check.
   */
  async log(claimant: Claimant, taskId: number, attempt: number, lines: OutputLine[]): Promise<number> {
    if (this.startedRuns.has(claimant.runnerId, taskId, attempt)) return this.appendOutput(taskId, attempt, lines);
    const held = await this.leases.held(taskId, claimant.runnerId, attempt);
    return this.storeOutput(claimant, taskId, attempt, lines, Boolean(held));
  }

  /** `log` once the lease is checked: refused unless held, or late lines of this claimant's run. */
  private async storeOutput(claimant: Claimant, taskId: number, attempt: number, lines: OutputLine[], held: boolean, options: AppendOptions = {}): Promise<number> {
    if (!held) {
      const task = await this.stores.tasks.get(taskId);
      const lateLinesOfThisRun = task && (task.runner_id ?? 0) === claimant.runnerId && task.attempt === attempt && task.start !== null;
      if (!lateLinesOfThisRun) return this.refuse(claimant, taskId, attempt);
    }
    return this.appendOutput(taskId, attempt, lines, options);
  }

  /** See OutputStore.append: `event` is the task event that goes with these lines, `quiet` when a move publishes it next. */
  private appendOutput(taskId: number, attempt: number, lines: OutputLine[], options: AppendOptions = {}): Promise<number> {
    this.counters.outputBytes(lines.reduce((sum, line) => sum + Buffer.byteLength(line.output), 0));
    return this.stores.output.append(taskId, attempt, lines, options);
  }

  /**
   * The runner's result for an attempt it holds, finalised before the answer: the runner retries
   * until it is answered, so the request itself is the durable hand-over (no completion job, and
   * its ~40 Redis commands, on this path). Its last output lines (revision 2) are stored first, as
   * `log` would store them, so none lands after the task is final (whose task event tells live
   * views of them too). The lease check is part of the final move.
   * `claimNext`: the claimant's next job is claimed once the result is in (revision 3; `claimNow`),
   * beside the finished job's retirement: the two leave in one socket write.
   */
  async done(claimant: Claimant, taskId: number, attempt: number, result: TaskResult, lines: OutputLine[] = [], claimNext?: Claimant): Promise<Claim | null> {
    const completion = { task_id: taskId, attempt, result };
    const retireAndClaim = async (queue: string | undefined) => (await Promise.all([
      queue === undefined ? undefined : this.queues.retire(queue, taskId),
      claimNext ? this.claimNow(claimNext) : null,
    ]))[1];
    if (!this.finaliser) {
      // No reconciler in this process: the completion queue takes it, after a separate lease check.
      const lease = await this.leases.held(taskId, claimant.runnerId, attempt);
      if (lines.length > 0) await this.storeOutput(claimant, taskId, attempt, lines, Boolean(lease));
      if (!lease) return this.refuse(claimant, taskId, attempt);
      await this.complete(completion);
      return retireAndClaim(lease.queue);
    }
    if (lines.length > 0) {
      if (this.startedRuns.has(claimant.runnerId, taskId, attempt)) await this.appendOutput(taskId, attempt, lines, { quiet: true });
      else await this.storeOutput(claimant, taskId, attempt, lines, Boolean(await this.leases.held(taskId, claimant.runnerId, attempt)), { quiet: true });
    }
    const finalised = await this.finaliser(completion, claimant.runnerId);
    if (finalised === 'lease') return this.refuse(claimant, taskId, attempt);
    this.startedRuns.delete(claimant.runnerId, taskId, attempt);
    return retireAndClaim(finalised?.lease?.queue);
  }

  private finaliser: Finaliser | undefined;

  /** Results reported by a claimant are finalised by `finalise` at once (the reconciler's). */
  finaliseWith(finalise: Finaliser): void {
    this.finaliser = finalise;
  }

  /** Hands a result to the reconciler. Idempotent: one completion job per task attempt. */
  async complete(completion: Completion): Promise<void> {
    await this.completions.add('completion', completion, {
      jobId: `c-${completion.task_id}-${completion.attempt}`, removeOnComplete: { count: 10_000 }, removeOnFail: { count: 10_000 },
      attempts: 10, backoff: { type: 'exponential', delay: 200 },
    });
  }

  /** The verdict on a lease that ran out: a task that never started is requeued, a running one is lost. */
  async judge(taskId: number, lease: Lease): Promise<void> {
    const task = await this.stores.tasks.get(taskId);
    if (!task || task.attempt !== lease.attempt || !ACTIVE_STATUSES.includes(task.status)) {
      // Finished meanwhile: the reconciler drops the lease; nothing to decide.
      return;
    }
    if (task.status === 'starting') {
      await this.requeueUnstarted(task, `runner ${task.runner_name} was lost before the task started; requeued`);
      return;
    }
    // What the runner last reported tells a silent runner (not seen for a lease) from one whose
    // beats arrived without this task: the log line says which, for whoever looks into it.
    const seen = task.runner_id ? await this.stores.runners.status(task.runner_id).catch(() => undefined) : undefined;
    log.warn('runner lost', {
      task_id: taskId, runner: task.runner_name, attempt: task.attempt,
      runner_last_seen_s_ago: seen?.last_seen ? Math.round((Date.now() - seen.last_seen) / 100) / 10 : null,
      runner_reported_this_task: seen ? seen.active_tasks.includes(taskId) : null,
    });
    await this.complete({ task_id: task.id, attempt: task.attempt, result: lostResult(task) });
    await this.queues.retire(lease.queue, taskId);
  }

  /**
   * Puts a claimed task that never started back at the head of its queue: the task is `waiting`
   * again and its lease gone in one atomic step, then the job moves back to the head with one
   * wake-up (one script). A server dying between the two steps leaves the job active under no lease:
   * `repairOrphans` moves it back later.
   */
  async requeueUnstarted(task: Task, reason: string): Promise<void> {
    const lease = await this.leases.get(task.id);
    const requeued = await this.stores.tasks.transition(task.id, { from: ['starting'], attempt: task.attempt }, {
      status: 'waiting', runner_id: null, runner_name: '', waiting_reason: reason,
    }, { drop: true });
    if (!requeued) return;
    const queue = lease?.queue ?? task.queue;
    await this.queues.requeue(queue, task.id, { wake: true }).catch((err: Error) => log.warn('cannot move a requeued job back to its queue', { task_id: task.id, error: err.message }));
    if (lease) await this.slotFreed(lease.runner_id);
  }

  /**
   * Jobs left active with no claim behind them (a server died between the steps of a requeue or
   * a claim): one fetched longer than a lease ago whose task is `waiting` with no lease goes back
   * to the head of its queue, one whose task is final leaves it. A claim takes milliseconds, so
   * a job that old is no claim in progress.
   */
  async repairOrphans(): Promise<void> {
    for (const [name] of this.queues.list()) {
      const old = (await this.queues.activeJobs(name)).filter(({ fetchedAt }) => Date.now() - fetchedAt >= this.options.leaseMs);
      // A job under a lease has its claim: one read for all of them, so the thousands of a busy
      // fleet's long tasks cost one command a pass, not a record read each.
      const leased = await this.leases.exist(old.map(({ taskId }) => taskId));
      for (const { taskId } of old.filter((_, i) => !leased[i])) {
        const task = await this.stores.tasks.get(taskId);
        if (!task || isFinal(task.status)) {
          await this.queues.retire(name, taskId);
        } else if (task.status === 'waiting' && !(await this.leases.get(taskId))) {
          log.warn('a waiting task\'s job was left active with no claim; moved back to its queue', { task_id: taskId });
          await this.queues.requeue(name, taskId, { wake: true });
        }
      }
    }
  }

  /** One of this runner's slots is free: its parked polls may claim again (on every server). */
  async slotFreed(runnerId: number): Promise<void> {
    await this.stores.redis.publish(channels.wake, JSON.stringify({ runner_id: runnerId }));
  }

  activeCount(runnerId: number): Promise<number> {
    return this.leases.activeCount(runnerId);
  }

  wakeAll(): void {
    this.parking.wakeAll();
  }

  close(): void {
    this.parking.close();
  }
}

function lostResult(task: Task): TaskResult {
  return {
    status: 'error', exit_code: null, error: `runner lost: ${task.runner_name || 'the runner'} stopped answering during the task`,
    commit_hash: task.commit_hash, commit_message: task.commit_message, start: task.start, end: new Date().toISOString(),
  };
}
