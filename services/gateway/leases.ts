import { logger } from '../../protocol/log.js';
import { lateHeartbeatMs, type RunnerState } from '../../protocol/wire.js';
import type { RedisClient } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { script } from '../redis/scripts.js';
import type { Lease } from '../store/tasks.js';

export type { Lease };

const log = logger('watchdog');

/** A heartbeat rewrites an unchanged runner status at most this often. */
const STATUS_REWRITE_MS = 1500;

/**
 * What one watchdog pass found: leases to judge, or leases renewed instead (every lease after an
 * outage; those that ran out while heartbeats arrive late).
 */
export type WatchdogPass = { graced: number; why: 'outage' | 'late' } | { expired: Array<{ taskId: number; lease: Lease }> };

/**
 * The one record of every claim: a lease per task (who holds it, for which attempt, from which
 * queue) with one expiry in a sorted set, on Redis's clock. Leases are taken and dropped in the
 * same atomic step as the task's status (TaskStore.transition); here they are checked, extended
 * by heartbeats (one round trip for all of a runner's tasks), and judged by the watchdog's pass,
 * which after an outage renews them all instead. All of it lives in the {forge} slot.
 */
export class Leases {
  private readonly runHeartbeat;
  private readonly runCheck;
  private readonly runExpired;

  constructor(private readonly redis: RedisClient, readonly leaseMs: number) {
    this.runHeartbeat = script(redis, 'lease-heartbeat');
    this.runCheck = script(redis, 'lease-check');
    this.runExpired = script(redis, 'lease-expired');
  }

  /**
   * A runner's heartbeat: records it as seen (runner id 0, the local worker, has no record),
   * extends every lease it still holds, answers which of its tasks to stop and which are lost.
   */
  async heartbeat(runnerId: number, state: RunnerState): Promise<{ stop: number[]; lost: number[] }> {
    const status = runnerId ? this.statusToWrite(runnerId, state) : '';
    const pairs = state.active.flatMap((a) => [String(a.task_id), String(a.attempt)]);
    if (pairs.length === 0 && status === '') return { stop: [], lost: [] }; // nothing to extend, nothing to record
    const late = (state.unanswered_ms ?? 0) >= lateHeartbeatMs(this.leaseMs);
    if (late && Date.now() - this.lateSaidAt >= this.leaseMs) {
      // Once a lease at most: when beats are late, they are late by the hundred.
      this.lateSaidAt = Date.now();
      log.warn('a heartbeat arrived after going unanswered for a third of the lease: the server or Redis is behind; leases that run out meanwhile are renewed, not judged', { runner_id: runnerId, unanswered_s: Math.round(state.unanswered_ms! / 1000) });
    }
    const [stop, lost] = (await this.runHeartbeat(
      keys.leases(), keys.leaseExpiry(), keys.runnerStatus(), keys.prefix(keys.task(0)), keys.leasesLate(),
      String(runnerId), String(this.leaseMs), status, late ? '1' : '0', ...pairs,
    )) as [number[], number[]];
    return { stop, lost };
  }

  /**
   * The runner's status JSON, or '' when this process wrote the same state (all but last_seen) for
   * it less than STATUS_REWRITE_MS ago: a beat a second would rewrite it for nothing, and the
   * online window (5 s) is longer: written about every 2 s, as the parked runners' touch.
   */
  private statusToWrite(runnerId: number, state: RunnerState): string {
    const now = Date.now();
    const reported = JSON.stringify({ version: state.version, capabilities: state.capabilities, active_tasks: state.active.map((a) => a.task_id), draining: state.draining });
    const last = this.written.get(runnerId);
    if (last && last.reported === reported && now - last.at < STATUS_REWRITE_MS) return '';
    if (this.written.size >= 100_000) this.written.clear();
    this.written.set(runnerId, { reported, at: now });
    return `{"last_seen":${now},${reported.slice(1)}`;
  }

  private lateSaidAt = 0;

  /** What this process last wrote as each runner's status (see statusToWrite). */
  private readonly written = new Map<number, { reported: string; at: number }>();

  /** The lease, if this runner holds it for this attempt and no verdict took it away; `extend` renews it. */
  async held(taskId: number, runnerId: number, attempt: number, extend = false): Promise<Lease | undefined> {
    const raw = (await this.runCheck(
      keys.leases(), keys.leaseExpiry(),
      String(taskId), String(runnerId), String(attempt), String(extend ? this.leaseMs : 0),
    )) as string | null;
    return raw ? (JSON.parse(raw) as Lease) : undefined;
  }

  async get(taskId: number): Promise<Lease | undefined> {
    const raw = await this.redis.hget(keys.leases(), String(taskId));
    return raw ? (JSON.parse(raw) as Lease) : undefined;
  }

  /**
   * The watchdog's look at the clock (see lease-expired.lua). A gap between passes longer than
   * `stallMs` means nobody could heartbeat: every lease is renewed instead of judged.
   */
  async pass(stallMs: number, limit = 500): Promise<WatchdogPass> {
    const flat = (await this.runExpired(
      keys.leaseExpiry(), keys.leases(), keys.leaseClock(), keys.leasesLate(), String(this.leaseMs), String(stallMs), String(limit),
    )) as Array<number | string>;
    if (flat[0] !== -1) return { graced: Number(flat[0]), why: flat[1] === 'late' ? 'late' : 'outage' };
    const expired: Array<{ taskId: number; lease: Lease }> = [];
    for (let i = 1; i < flat.length; i += 2) expired.push({ taskId: Number(flat[i]), lease: JSON.parse(String(flat[i + 1])) as Lease });
    return { expired };
  }

  /** For each task, whether it has a lease (held or being judged), in one round trip. */
  async exist(taskIds: number[]): Promise<boolean[]> {
    if (taskIds.length === 0) return [];
    return (await this.redis.hmget(keys.leases(), ...taskIds.map(String))).map((raw) => raw !== null);
  }

  async activeCount(runnerId: number): Promise<number> {
    return this.redis.scard(keys.runnerTasks(runnerId));
  }
}

/**
 * The one judge of leases. Each pass looks at Redis's clock once (Leases.pass): after an outage
 * every lease is renewed; otherwise each lease that ran out gets its verdict from `judge`.
 * The task queues are only lists (see dispatch/queues.ts).
 */
export class Watchdog {
  private readonly stallMs: number;
  private readonly repairEvery: number;
  private passes = 0;

  constructor(
    private readonly leases: Leases,
    private readonly judge: (taskId: number, lease: Lease) => Promise<void>,
    /** Looks for queue jobs no claim stands behind; run about once a lease. */
    private readonly repair: () => Promise<void>,
    intervalMs: number,
    private readonly renewed: (why: 'outage' | 'late', count: number) => void = () => {},
  ) {
    // Passes run every intervalMs from every server; a gap this long means none could run.
    this.stallMs = Math.max(3 * intervalMs, Math.floor(leases.leaseMs / 2));
    this.repairEvery = Math.max(1, Math.round(leases.leaseMs / intervalMs));
  }

  async pass(): Promise<void> {
    if (++this.passes % this.repairEvery === 0) await this.repair();
    const found = await this.leases.pass(this.stallMs);
    if ('graced' in found) {
      if (found.graced > 0) this.renewed(found.why, found.graced);
      if (found.why === 'late') log.warn('leases that ran out were renewed, not judged: heartbeats arrive late (the server or Redis is behind)', { leases: found.graced });
      else if (found.graced > 0) log.info('leases renewed after an outage of the server or Redis', { leases: found.graced });
      return;
    }
    for (const { taskId, lease } of found.expired) await this.judge(taskId, lease);
  }
}
