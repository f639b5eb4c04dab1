import type { PollSignal } from './poll-end.js';
import { FINAL_STATUSES, type TaskStatus } from '../common/model.js';
import type { QueueScope, TaskQueues } from '../dispatch/queues.js';
import type { EventBus } from '../events.js';
import { logger } from '../../protocol/log.js';
import { channels } from '../redis/keys.js';
import type { Claimant } from './claimant.js';

const log = logger('gateway');

/**
 * How often a claimant parked because it is full looks at its slots again without a wake-up, in
 * sweeps. Its freed slot wakes it (pub/sub); this only repairs a wake-up that was lost, and a lost
 * subscription (a reconnect) makes every full claimant look at once. Every sweep would be one
 * Redis round trip per second for every busy runner.
 */
const FULL_RECHECK_SWEEPS = 5;

/**
 * A parked long-poll. `full` ones wait for a slot of their own, not for new work. `hold` stops its
 * timer and abort listener (it was taken for a hand-off); `handOver` ends its wait with what the
 * hand-off brought.
 */
interface Waiter<H> { claimant: Claimant; full: boolean; wake: () => void; hold: () => void; handOver: (handed: H) => void }

/** How a parked long-poll's wait ended: a wake-up, its full-recheck time, its end, or what a hand-off brought it. */
export type ParkOutcome<H> = 'woken' | 'recheck' | 'ended' | { handed: H };

/** A parked claimant taken out of parking for a job handed to it directly; `handOver` ends its wait. */
export interface TakenClaimant<H> { claimant: Claimant; handOver(handed: H): void }

/**
 * The long-polls parked in this server process and the wake-ups that release them. A wake-up
 * for a queue releases the longest-parked claimant that may serve it (one per wake-up); a freed
 * slot releases that runner's own polls. Wake-ups go through Redis pub/sub and can be missed
 * (a reconnect, a claim racing a park), so a sweep every `sweepMs` wakes one claimant for each
 * queue that held waiting jobs on two sweeps in a row while claimants that may serve it were
 * parked here (one sighting may be a wake-up still on its way). A claimant parked because it is
 * full looks again at its own slots every FULL_RECHECK_SWEEPS × `sweepMs`, and at once when the
 * wake-up subscription comes back after a disconnect.
 */
export class Parking<H = never> {
  /** In parking order (a Set iterates in insertion order): the longest-parked first, each left in O(1). */
  private readonly waiters = new Set<Waiter<H>>();
  private readonly unsubscribe: Array<() => void> = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private sweepMs = 1000;
  /** Queues the last sweep saw holding waiting jobs next to parked claimants. */
  private suspects = new Set<string>();
  /** Slot-freed wake-ups per runner, counted, so a claim that found it full can tell one came meanwhile. */
  private readonly slotWakes = new Map<number, number>();

  constructor(
    private readonly queues: TaskQueues,
    private readonly onWake: () => void = () => {},
  ) {}

  attach(bus: EventBus, sweepMs: number): void {
    this.unsubscribe.push(
      bus.on(channels.wake, (message) => {
        const { queue, scope, runner_id } = message as { queue?: string; scope?: QueueScope; runner_id?: number };
        if (runner_id !== undefined) return this.wakeRunner(runner_id);
        if (!queue || !scope) return;
        this.queues.noteWake(queue, scope);
        this.wakeOne(scope);
      }),
    );
    // A task that ended freed a slot of its runner: its final task event says which; a new task's
    // event names the queue it joined (one PUBLISH for the live views and the parked polls, not two).
    this.unsubscribe.push(
      bus.on(channels.taskEvents, (message) => {
        const { type, status, runner_id, project_id, queue, runner_tag } = message as {
          type?: string; status?: string; runner_id?: number | null; project_id?: number; queue?: string; runner_tag?: string;
        };
        if (type !== 'task') return;
        if (runner_id !== undefined && FINAL_STATUSES.includes(status as TaskStatus)) this.wakeRunner(runner_id ?? 0);
        else if (status === 'waiting' && typeof queue === 'string' && typeof project_id === 'number') {
          const scope = { project_id, tag: runner_tag ?? '' };
          this.queues.noteWake(queue, scope);
          this.wakeOne(scope);
        }
      }),
    );
    // Slot-freed wake-ups published while the subscription was down are lost: full claimants look again.
    this.unsubscribe.push(bus.onReconnect(() => {
      for (const waiter of [...this.waiters].filter((w) => w.full)) waiter.wake();
    }));
    this.sweepMs = sweepMs;
    this.sweepTimer = setInterval(() => void this.sweep(), sweepMs);
    this.sweepTimer.unref();
  }

  /**
   * Parks until a wake-up, the deadline or the abort; `full`: only this runner's freed slot wakes
   * it, and it looks again every FULL_RECHECK_SWEEPS sweeps (answering 'recheck') in case that wake-up was missed.
   */
  park(claimant: Claimant, full: boolean, deadline: number, signal?: PollSignal): Promise<ParkOutcome<H>> {
    return new Promise((resolve) => {
      const hold = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(waiter);
      };
      const done = (why: ParkOutcome<H>) => {
        hold();
        resolve(why);
      };
      const waiter: Waiter<H> = { claimant, full, wake: () => done('woken'), hold, handOver: (handed) => done({ handed }) };
      const recheckMs = this.sweepMs * FULL_RECHECK_SWEEPS;
      const recheck = full && Date.now() + recheckMs < deadline;
      const timer = setTimeout(() => done(recheck ? 'recheck' : 'ended'), Math.max(0, (recheck ? Date.now() + recheckMs : deadline) - Date.now()));
      const onAbort = () => done('ended');
      if (signal?.aborted) return done('ended');
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /**
   * Takes the longest-parked claimant that may take work from `scope` out of parking, for a job
   * handed to it directly (Claimer.handOffFor): its poll waits, past its deadline and its end,
   * until `handOver`. A poll whose client left meanwhile is seen by its caller afterwards.
   */
  take(scope: QueueScope): TakenClaimant<H> | undefined {
    const waiter = this.eligibleWaiter(scope);
    if (!waiter) return undefined;
    this.onWake();
    waiter.hold();
    return { claimant: waiter.claimant, handOver: (handed) => waiter.handOver(handed) };
  }

  /** Wakes the longest-parked claimant that may take work from `scope`: at most one per wake-up. */
  wakeOne(scope: QueueScope): boolean {
    const waiter = this.eligibleWaiter(scope);
    if (!waiter) return false;
    this.onWake();
    waiter.wake();
    return true;
  }

  /** The longest-parked claimant waiting for work that may take it from `scope`. */
  private eligibleWaiter(scope: QueueScope): Waiter<H> | undefined {
    for (const waiter of this.waiters) if (!waiter.full && waiter.claimant.eligible(scope)) return waiter;
    return undefined;
  }

  /** A slot of this runner freed up: its parked polls may claim again. */
  wakeRunner(runnerId: number): void {
    this.slotWakes.set(runnerId, this.slotWakesOf(runnerId) + 1);
    for (const waiter of [...this.waiters].filter((w) => w.claimant.runnerId === runnerId)) waiter.wake();
  }

  /** The long-polls parked here now: waiting for work, and waiting for a slot of their own (full). */
  counts(): { waiting: number; full: number } {
    let full = 0;
    for (const waiter of this.waiters) if (waiter.full) full++;
    return { waiting: this.waiters.size - full, full };
  }

  /** How many slot-freed wake-ups this process has seen for the runner. */
  slotWakesOf(runnerId: number): number {
    return this.slotWakes.get(runnerId) ?? 0;
  }

  /** Repairs lost wake-ups: one round trip per queue that a parked claimant here may serve. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    if (!this.someWaiter((w) => !w.full)) {
      this.suspects.clear();
      return;
    }
    this.sweeping = true;
    try {
      const served = this.queues.list().filter(([, scope]) => this.someWaiter((w) => !w.full && w.claimant.eligible(scope)));
      const waiting = await this.queues.waitingCounts(served.map(([name]) => name));
      const suspects = new Set<string>();
      served.forEach(([name, scope], index) => {
        if (!waiting[index]) return;
        if (!this.suspects.has(name)) {
          suspects.add(name);
          return;
        }
        this.queues.noteWake(name, scope);
        if (this.wakeOne(scope)) log.info('wake-up sweep: a queue held waiting jobs while a runner that may serve it stayed parked; woke it', { queue: name });
      });
      this.suspects = suspects;
    } catch {
      // Redis is away: the next sweep tries again.
    } finally {
      this.sweeping = false;
    }
  }

  private someWaiter(test: (waiter: Waiter<H>) => boolean): boolean {
    for (const waiter of this.waiters) if (test(waiter)) return true;
    return false;
  }

  wakeAll(): void {
    const all = [...this.waiters];
    this.waiters.clear();
    for (const waiter of all) waiter.wake();
  }

  close(): void {
    clearInterval(this.sweepTimer);
    for (const off of this.unsubscribe) off();
    this.wakeAll();
  }
}
