import { Batch } from '../redis/batch.js';
import type { RedisClient } from '../redis/connection.js';
import { channels, keys } from '../redis/keys.js';
import type { RunnerInput } from '../common/model.js';
import type { RunnerState } from '../../protocol/wire.js';
import { constantTimeEqual, hashToken, newToken } from '../common/secrets.js';
import { Collection } from './collection.js';

export interface Runner {
  id: number; project_id: number | null; name: string; tags: string[]; max_parallel_tasks: number;
  webhook: string; enabled: boolean; public_key: string; token_hash: string; created: string;
  /**
   * A one-time registration token issued for this runner (POST …/registration-token): its hash and
   * when it stops working. While one is pending the runner has no token (`token_hash` empty).
   */
  registration_hash?: string; registration_expires?: number;
}

/** How long a runner's one-time registration token works. */
export const REGISTRATION_TOKEN_TTL_MS = 3600_000;

export interface RunnerStatus {
  last_seen: number; version: string; capabilities: string[]; active_tasks: number[]; draining: boolean;
}

export interface RunnerView extends Omit<Runner, 'token_hash' | 'registration_hash' | 'registration_expires'> {
  /** Whether the runner has working credentials (false while it waits to register with a one-time token). */
  registered: boolean;
  status: 'online' | 'offline' | 'disabled'; last_seen: string | null; version: string;
  capabilities: string[]; active_tasks: number; active_task_ids: number[]; draining: boolean;
}

/** Runner records, the token index (hashes only), and the liveness each heartbeat refreshes. */
/**
 * How long a runner found by its token is kept in memory, at most, and how many are kept. Longer
 * than a parked runner's long-poll (25 s by default), so a parked fleet's renewals are answered
 * from memory; changes drop entries at once (`forget`: on runner events, and everything when the
 * event subscription comes back after a disconnect), so the limit only bounds a missed event.
 */
const TOKEN_CACHE_MS = 300_000;
/**
 * How long reportedViewsIn reuses the runners' statuses it read: a status is written about every
 * 2 s anyway, and the online window is 5 s, so a second-old snapshot gives the same first waiting
 * reason (the watchdog refines it) for one Redis command less per task in a burst of creations.
 */
const STATUS_SNAPSHOT_MS = 1000;
const TOKEN_CACHE_MAX = 10_000;
/**
 * How many of the latest `forget` calls are remembered by the id they named, so a token lookup
 * that overlapped changes to other runners still keeps what it read. A fleet registering, or one
 * autoscaled, changes a runner every few milliseconds; by the count alone, a lookup overlapping any
 * change was used once and read again on the runner's next request (a fifth of a freshly registered
 * fleet's first renewals, two Redis round trips each). A lookup older than these is not kept.
 */
const RECENT_FORGETS = 256;

export class RunnerStore {
  private readonly runners: Collection<Runner>;
  private readonly tokenCache = new Map<string, { runner: Runner; until: number }>();
  /** Counts `forget` calls, so a lookup that overlapped one does not keep what it read. */
  private forgotten = 0;
  /** The runner each of the latest RECENT_FORGETS `forget` calls named, oldest first (undefined: every runner). */
  private readonly recentForgets: Array<number | undefined> = [];
  /** Every runner record, kept for reportedViewsIn until a change (a `forget` call) or TOKEN_CACHE_MS. */
  private records: { runners: Runner[]; generation: number; until: number } | undefined;
  /**
   * The runners' statuses as reportedViewsIn last read them, reused for STATUS_SNAPSHOT_MS or until
   * a runner change, with the views made from them (parsing every status per task created cost
   * O(runners) per `POST /tasks`: 4.5 ms p50 with 10 idle runners, 6.6 ms with 100).
   */
  private statusSnapshot: { statuses: Record<string, string>; generation: number; until: number; views?: RunnerView[] } | undefined;
  /**
   * The views reportedViewsIn is reading and building: a burst of creates that finds the snapshot
   * stale shares one read and one build instead of each making its own (with a hundred runners,
   * ten copies of every view per burst, kept long enough to be promoted and to lengthen GC pauses).
   */
  private refreshing: { generation: number; views: Promise<readonly RunnerView[]> } | undefined;

  constructor(private readonly redis: RedisClient, private readonly onlineWindowMs: number) {
    this.runners = new Collection<Runner>(redis, 'runners');
  }

  /** `active` is the API's name for the stored `enabled`; either is accepted. */
  async create(input: Omit<RunnerInput, 'active'> & { active?: boolean; enabled?: boolean; public_key?: string }): Promise<{ runner: Runner; token: string }> {
    const token = newToken();
    const runner = await this.runners.create({
      project_id: input.project_id ?? null, name: input.name, tags: [...new Set(input.tags)],
      max_parallel_tasks: input.max_parallel_tasks, webhook: input.webhook, enabled: input.active ?? input.enabled ?? true,
      public_key: input.public_key ?? '', token_hash: hashToken(token), created: new Date().toISOString(),
    });
    await this.redis.hset(keys.index('runner-token'), runner.token_hash, String(runner.id));
    await this.announce(runner.id);
    return { runner, token };
  }

  get(id: number) {
    return this.runners.get(id);
  }

  list() {
    return this.runners.list();
  }

  /**
   * The runner a token belongs to: looked up by hash, then compared in constant time. Every
   * runner request asks, so found runners are kept for TOKEN_CACHE_MS; a change to a runner
   * (`forget`, on this process at once and on the others by its runner event) drops its entry.
   * The time limit bounds how long a missed event can leave a stale record in use.
   */
  async byToken(token: string): Promise<Runner | undefined> {
    if (!token) return undefined;
    const hash = hashToken(token);
    const cached = this.tokenCache.get(hash);
    if (cached && cached.until > Date.now()) return cached.runner;
    this.tokenCache.delete(hash);
    const generation = this.forgotten;
    const id = await this.redis.hget(keys.index('runner-token'), hash);
    if (!id) return undefined;
    const runner = await this.runners.get(Number(id));
    if (!runner || !constantTimeEqual(runner.token_hash, hash)) return undefined;
    // A change to this runner announced while this read was under way may not be in it: used once, not kept.
    if (this.forgottenSince(generation, runner.id)) return runner;
    if (this.tokenCache.size >= TOKEN_CACHE_MAX) this.tokenCache.clear();
    this.tokenCache.set(hash, { runner, until: Date.now() + TOKEN_CACHE_MS });
    return runner;
  }

  /** Drops what this process keeps about a runner that changed (or every runner). */
  forget(id?: number): void {
    this.forgotten++;
    this.recentForgets.push(id);
    if (this.recentForgets.length > RECENT_FORGETS) this.recentForgets.shift();
    this.records = undefined;
    this.statusSnapshot = undefined;
    for (const [hash, entry] of this.tokenCache) if (id === undefined || entry.runner.id === id) this.tokenCache.delete(hash);
  }

  /** Whether a `forget` since the count was `generation` named runner `id`, or every runner, or is too long ago to tell. */
  private forgottenSince(generation: number, id: number): boolean {
    const since = this.forgotten - generation;
    if (since > this.recentForgets.length) return true;
    for (let i = this.recentForgets.length - since; i < this.recentForgets.length; i++) {
      const named = this.recentForgets[i];
      if (named === undefined || named === id) return true;
    }
    return false;
  }

  async update(id: number, patch: Partial<Omit<Runner, 'id' | 'token_hash'>>): Promise<Runner | undefined> {
    const runner = await this.runners.update(id, patch);
    if (runner) await this.announce(id);
    return runner;
  }

  /**
   * Issues a one-time registration token for a runner (Semaphore's registration-token): its current
   * token and public key stop working at once, and `forge runner register` with the new token gives
   * it fresh credentials (registerWithToken). Only the hash is kept; answers the token and its expiry.
   */
  async issueRegistrationToken(id: number): Promise<{ token: string; expires: number } | undefined> {
    const runner = await this.runners.get(id);
    if (!runner) return undefined;
    const token = newToken();
    const expires = Date.now() + REGISTRATION_TOKEN_TTL_MS;
    const multi = this.redis.multi();
    if (runner.token_hash) multi.hdel(keys.index('runner-token'), runner.token_hash);
    if (runner.registration_hash) multi.hdel(keys.index('runner-registration'), runner.registration_hash);
    await multi.hset(keys.index('runner-registration'), hashToken(token), String(id)).exec();
    await this.runners.update(id, { token_hash: '', public_key: '', registration_hash: hashToken(token), registration_expires: expires });
    await this.announce(id);
    return { token, expires };
  }

  /** Whether a one-time registration token is pending (looked up by hash). */
  async isRegistrationToken(token: string): Promise<boolean> {
    return Boolean(token) && (await this.redis.hexists(keys.index('runner-registration'), hashToken(token))) === 1;
  }

  /**
   * Registers the runner a one-time registration token was issued for, with the runner's public key:
   * answers the runner and its new token, or undefined when the token is unknown, used or expired.
   * Removing the token from the index is the claim, so two registrations cannot both use it.
   */
  async registerWithToken(registrationToken: string, publicKey: string): Promise<{ runner: Runner; token: string } | undefined> {
    const hash = hashToken(registrationToken);
    const id = await this.redis.hget(keys.index('runner-registration'), hash);
    if (!id || (await this.redis.hdel(keys.index('runner-registration'), hash)) !== 1) return undefined;
    const runner = await this.runners.get(Number(id));
    if (!runner?.registration_hash || !constantTimeEqual(runner.registration_hash, hash) || (runner.registration_expires ?? 0) < Date.now()) return undefined;
    const token = newToken();
    const registered = await this.runners.update(runner.id, { token_hash: hashToken(token), public_key: publicKey, registration_hash: '', registration_expires: 0 });
    await this.redis.hset(keys.index('runner-token'), hashToken(token), String(runner.id));
    await this.announce(runner.id);
    return registered ? { runner: registered, token } : undefined;
  }

  /** Deleting removes the token index first, so the token stops working at once. */
  async delete(id: number): Promise<boolean> {
    const runner = await this.runners.get(id);
    if (!runner) return false;
    await this.redis.hdel(keys.index('runner-token'), runner.token_hash);
    if (runner.registration_hash) await this.redis.hdel(keys.index('runner-registration'), runner.registration_hash);
    await this.runners.delete(id);
    await this.redis.hdel(keys.runnerStatus(), String(id));
    await this.announce(id);
    return true;
  }

  /** Records that runners were seen just now, with the state they reported; one write for all. */
  async touch(seen: Map<number, RunnerState>): Promise<void> {
    if (seen.size === 0) return;
    const now = Date.now();
    const fields: Record<string, string> = {};
    for (const [id, state] of seen) fields[String(id)] = `{"last_seen":${now},${this.reportedJson(state)}`;
    await this.redis.hset(keys.runnerStatus(), fields);
  }

  /** A RunnerStatus's JSON after last_seen, kept per reported state: a parked fleet is touched every 2 s with the same states. */
  private readonly reported = new WeakMap<RunnerState, string>();
  private reportedJson(state: RunnerState): string {
    let json = this.reported.get(state);
    if (json === undefined) {
      const rest: Omit<RunnerStatus, 'last_seen'> = {
        version: state.version, capabilities: state.capabilities, active_tasks: state.active.map((a) => a.task_id), draining: state.draining,
      };
      json = JSON.stringify(rest).slice(1);
      this.reported.set(state, json);
    }
    return json;
  }

  async status(id: number): Promise<RunnerStatus | undefined> {
    const raw = await this.redis.hget(keys.runnerStatus(), String(id));
    return raw ? (JSON.parse(raw) as RunnerStatus) : undefined;
  }

  async markOffline(id: number): Promise<void> {
    const status = await this.status(id);
    if (status) await this.redis.hset(keys.runnerStatus(), String(id), JSON.stringify({ ...status, last_seen: 0, active_tasks: [] }));
    await this.announce(id);
  }

  /**
   * Runners with their live state. Active tasks come from the server's own leases (one read per
   * runner); `reportedActivity` uses what each runner last reported instead, two reads in all,
   * for hot paths that only need an estimate.
   */
  async views(filter: (runner: Runner) => boolean = () => true, options: { reportedActivity?: boolean } = {}): Promise<RunnerView[]> {
    const [all, statuses] = await Promise.all([this.runners.list(), this.redis.hgetall(keys.runnerStatus())]);
    const runners = all.filter(filter);
    // Every runner's lease set in one pipeline (one socket write, not one per runner).
    const leased = options.reportedActivity ? undefined : await this.leaseSets(runners.map((r) => r.id));
    return this.viewsOf(runners, statuses, leased);
  }

  /**
   * Every runner's view with the activity each last reported (views(…, {reportedActivity: true})),
   * its reads queued on `batch`: the statuses unless read less than STATUS_SNAPSHOT_MS ago; the
   * records only when this process keeps none from since the last runner change (`forget` drops
   * both, as it drops cached tokens); a read already under way is shared. For creating a task,
   * whose first waiting reason is an estimate the watchdog refines.
   */
  reportedViewsIn(batch: Batch): Promise<readonly RunnerView[]> {
    const generation = this.forgotten;
    const now = Date.now();
    const kept = this.records && this.records.generation === generation && this.records.until > now ? this.records.runners : undefined;
    const current = this.statusSnapshot && this.statusSnapshot.generation === generation && this.statusSnapshot.until > now ? this.statusSnapshot : undefined;
    if (kept && current?.views) return Promise.resolve(current.views);
    if (this.refreshing?.generation === generation) return this.refreshing.views;
    const records = kept ? Promise.resolve(kept) : this.runners.listIn(batch);
    const statuses = current ? Promise.resolve(current.statuses) : batch.add<Record<string, string>>((p, reply) => p.hgetall(keys.runnerStatus(), reply));
    const views = Promise.all([records, statuses]).then(([runners, statuses]) => {
      const views = this.viewsOf(runners, statuses);
      // Read while no change was announced: kept until the next one.
      if (generation !== this.forgotten) return views;
      if (!kept) this.records = { runners, generation, until: Date.now() + TOKEN_CACHE_MS };
      this.statusSnapshot = { statuses, generation, until: current?.until ?? now + STATUS_SNAPSHOT_MS, views };
      return views;
    });
    this.refreshing = { generation, views };
    const done = () => {
      if (this.refreshing?.views === views) this.refreshing = undefined;
    };
    views.then(done, done);
    return views;
  }

  private async leaseSets(ids: number[]): Promise<string[][]> {
    const batch = new Batch(this.redis);
    const sets = Promise.all(ids.map((id) => batch.add<string[]>((p, reply) => p.smembers(keys.runnerTasks(id), reply))));
    await batch.send();
    return sets;
  }

  /** reportedViewsIn on a batch of its own: the kept views, or their reads in one round trip. */
  async reportedViews(): Promise<readonly RunnerView[]> {
    const batch = new Batch(this.redis);
    const views = this.reportedViewsIn(batch);
    await batch.send();
    return views;
  }

  /** Views of these runners from their statuses; `leased`: each one's active task ids from the leases (else as reported). */
  private viewsOf(runners: Runner[], statuses: Record<string, string>, leased?: string[][]): RunnerView[] {
    const statusOf = (id: number) => (statuses[String(id)] ? (JSON.parse(statuses[String(id)]!) as RunnerStatus) : undefined);
    const now = Date.now();
    return runners.map(({ token_hash, registration_hash: _hash, registration_expires: _expires, ...runner }, index) => {
      const status = statusOf(runner.id);
      const active = leased ? leased[index]!.map(Number) : (status?.active_tasks ?? []);
      const online = Boolean(status && now - status.last_seen <= this.onlineWindowMs);
      return {
        ...runner,
        registered: Boolean(token_hash),
        status: !runner.enabled ? 'disabled' : online ? 'online' : 'offline',
        last_seen: status?.last_seen ? new Date(status.last_seen).toISOString() : null,
        version: status?.version ?? '', capabilities: status?.capabilities ?? [],
        active_tasks: active.length,
        active_task_ids: active,
        draining: Boolean(online && status?.draining),
      };
    });
  }

  private async announce(id: number): Promise<void> {
    this.forget(id);
    await this.redis.publish(channels.runnerEvents, JSON.stringify({ type: 'runner', id }));
  }
}
