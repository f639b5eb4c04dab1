import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { logger } from '../protocol/log.js';
import { lateHeartbeatMs, MAX_UNANSWERED_MS, PROTOCOL_REVISION, YOUNG_TASK_MS, type ClaimedJob, type JobRef, type RunnerState, type TaskResult } from '../protocol/wire.js';
import { executeTask } from './executor/index.js';
import { processLauncher } from './executor/launcher.js';
import { ProcessGroups } from './executor/process-groups.js';
import type { SandboxSettings } from './executor/sandbox.js';
import { isRefusal, StatusError, type Peer } from '../protocol/peer.js';
import { OutputBuffer, wait } from './output-buffer.js';

const log = logger('agent');

/**
 * Output goes out at most this long after a line is printed. Lines printed within the window go
 * together; a task shorter than it sends its output inside the start report and the result only.
 */
const FLUSH_MS = 1000;

export interface AgentOptions {
  peer: Peer;
  maxParallel: number;
  tmpPath: string;
  sshConfigPath: string;
  /** The timer's tick: a beat every tick while any task is young (YOUNG_TASK_MS). */
  heartbeatMs: number;
  /** Once every task is older than YOUNG_TASK_MS, a beat this often; default heartbeatMs. */
  longTaskHeartbeatMs?: number;
  /** The server's lease (hello answer): heartbeats failing for a third of it are worth a warning. Default 30 s. */
  leaseMs?: number;
  /** Names this executor among others sharing tmp_path (e.g. runner-12, local-3000). */
  identity: string;
  version: string;
  capabilities: RunnerState['capabilities'];
  sandbox?: SandboxSettings;
  oneOff?: boolean;
  graceMs?: number;
  /** Flush output at least this often while a task writes (the window a burst of lines is batched in). */
  flushMs?: number;
  /** The runner protocol revision the server speaks (its hello answer); default this build's. */
  protocol?: number;
  hooks?: {
    onStart?: (job: ClaimedJob) => Promise<void>;
    onFinish?: (job: ClaimedJob, result: TaskResult) => Promise<void>;
  };
}

interface Session {
  job: ClaimedJob;
  abort: AbortController;
  lost: boolean;
  /**
   * Its result: once sent, a `lost` in a beat's answer is the result having landed (the lease went
   * with it) or, if it did not, the result's own refusal says so; once answered, beats leave it out.
   */
  report: 'pending' | 'sent' | 'answered';
  done: Promise<void>;
  since: number;
}

/**
 * Sessions are keyed by task and attempt: a task taken away before it started (its lease ran out)
 * may come back to this same runner as the next attempt while the old session still winds down,
 * and the two must not be mistaken for each other.
 */
const sessionKey = (job: JobRef) => `${job.task_id}:${job.attempt}`;

/** `unanswered_ms` as the wire takes it (a whole number of ms within its range), whatever the clock did. */
export const unansweredMs = (elapsed: number): number => Math.min(MAX_UNANSWERED_MS, Math.max(0, Math.round(elapsed)));

/**
 * The executor loop (Woodpecker's agent shape): claim jobs from a Peer up to `maxParallel`,
 * run each with the shared executor, stream output, heartbeat leases, honour stop, report.
 */
export class Agent extends EventEmitter {
  private readonly sessions = new Map<string, Session>();
  private claiming = true;
  private pollAbort = new AbortController();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private slotFreed: (() => void) | undefined;
  private claimedCount = 0;
  private draining = false;

  private readonly groups: ProcessGroups;
  /** Output may travel inside the start report and the result (protocol revision 2). */
  private readonly carriesOutput: boolean;
  /** A result may ask for the next job (protocol revision 3). */
  private readonly resultsClaim: boolean;
  /** A long-poll for a job is in flight. */
  private polling = false;

  constructor(private readonly options: AgentOptions) {
    super();
    this.carriesOutput = (options.protocol ?? PROTOCOL_REVISION) >= 2;
    this.resultsClaim = (options.protocol ?? PROTOCOL_REVISION) >= 3;
    // Processes a previous run of this executor left behind (it was killed) are ended first.
    this.groups = new ProcessGroups(join(options.tmpPath, '.process-groups', options.identity));
    const reaped = this.groups.reapLeftovers();
    if (reaped > 0) log.warn('ended processes left running by a previous run that was killed', { groups: reaped });
  }

  state(): RunnerState {
    return {
      version: this.options.version, capabilities: this.options.capabilities, draining: this.draining,
      active: [...this.sessions.values()].filter((s) => !s.lost && s.report !== 'answered').map((s) => ({ task_id: s.job.task_id, attempt: s.job.attempt })),
    };
  }

  get activeCount(): number {
    return this.sessions.size;
  }

  /** Runs until drain() or stop(); resolves when every claimed task has been reported. */
  async run(): Promise<void> {
    processLauncher.warm();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.options.heartbeatMs);
    let failures = 0;
    while (this.claiming) {
      if (this.sessions.size >= this.options.maxParallel) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      try {
        this.polling = true;
        const job = await this.options.peer.next(this.state(), this.pollAbort.signal).finally(() => (this.polling = false));
        failures = 0;
        // A job claimed just as a drain began still runs and is reported.
        if (job) this.start(job);
      } catch (err) {
        if (isRefusal(err)) {
          log.error(`the server refused this runner: ${(err as Error).message}`);
          this.emit('rejected', err);
          break;
        }
        failures++;
        if (failures === 1 || failures % 10 === 0) log.warn('cannot reach the server; retrying', { error: (err as Error).message });
        if (this.claiming) await wait(Math.min(5000, 200 * 2 ** Math.min(failures, 5)));
      }
    }
    await this.allReported();
    clearInterval(this.heartbeatTimer);
  }

  /** Until every session is reported, including jobs that results brought meanwhile. */
  private async allReported(): Promise<void> {
    while (this.sessions.size > 0) await Promise.all([...this.sessions.values()].map((s) => s.done));
  }

  private start(job: ClaimedJob): void {
    this.claimedCount++;
    // Beats are owed from the first task on: an idle spell is no unanswered time.
    if (this.sessions.size === 0) this.lastAnsweredAt = performance.now();
    if (this.options.oneOff) this.stopClaiming();
    // This runner was given a later attempt of a task it still runs: the earlier one is no longer ours.
    for (const old of this.sessions.values()) {
      if (old.job.task_id === job.task_id && old.job.attempt < job.attempt) this.notOurs(old, `attempt ${job.attempt} of this task was claimed here`);
    }
    const abort = new AbortController();
    const session: Session = { job, abort, lost: false, report: 'pending', done: Promise.resolve(), since: Date.now() };
    let next: ClaimedJob | null = null;
    session.done = this.runSession(session).then((brought) => void (next = brought)).finally(() => {
      this.sessions.delete(sessionKey(job));
      // The result brought the next job: it takes the slot (a job claimed as a drain began still runs).
      if (next) this.start(next);
      else {
        this.slotFreed?.();
        this.slotFreed = undefined;
      }
      this.emit('finished', job.task_id);
    });
    this.sessions.set(sessionKey(job), session);
    this.emit('started', job.task_id);
  }

  /**
   * The server said this job is not ours (any refusal of running, output or result, or `lost` in
   * a heartbeat answer): end its processes at once and report nothing more.
   */
  private notOurs(session: Session, why: string): void {
    if (session.lost) return;
    log.warn('the server says this task is no longer ours; ending it', { task_id: session.job.task_id, why });
    session.lost = true;
    session.abort.abort();
  }

  /** The session's view of the peer: a refused output batch ends the task like a lost lease. */
  private sessionPeer(session: Session): Peer {
    const peer = this.options.peer;
    return Object.assign(Object.create(peer) as Peer, {
      log: async (job: JobRef, lines: Parameters<Peer['log']>[1]) => {
        try {
          return await peer.log(job, lines);
        } catch (err) {
          if (isRefusal(err)) this.notOurs(session, `output refused: ${(err as Error).message}`);
          throw err;
        }
      },
    });
  }

  /**
   * Reports the start, retrying while the server is unreachable. A refusal means another runner
   * may have the job by now: the app must not run here, so this throws and the executor stops.
   */
  private async reportRunning(session: Session, ref: JobRef, commit: { commit_hash: string; commit_message: string }, output: OutputBuffer): Promise<void> {
    const peer = this.options.peer;
    for (let attempt = 0; !session.abort.signal.aborted; attempt++) {
      try {
        // The lines so far (the clone's) go with the start report when the server takes them there.
        const answer = this.carriesOutput ? await output.carry((lines) => peer.running(ref, commit, lines)) : await peer.running(ref, commit);
        if (answer.stop) session.abort.abort();
        return;
      } catch (err) {
        if (isRefusal(err)) {
          this.notOurs(session, `start refused: ${(err as Error).message}`);
          throw new Error(`the server refused the start of this task: ${(err as StatusError).message}`);
        }
        if (attempt % 10 === 0) log.warn('reporting start failed; retrying', { task_id: ref.task_id, error: (err as Error).message });
        await wait(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
      }
    }
    // Taken away meanwhile (a heartbeat answered lost): the app must not run here either.
    if (session.lost) throw new Error('the server gave this task to another runner before it started here');
  }

  /**
   * Long-polls the server for the decision on this task's plan until there is one. Heartbeats go
   * on meanwhile, so the lease stays alive; a stop (or the duration limit) aborts `signal`.
   */
  private async awaitConfirmation(session: Session, ref: JobRef, signal: AbortSignal): Promise<'confirmed' | 'rejected'> {
    for (let failures = 0; ;) {
      if (signal.aborted) throw new Error('no longer waiting for confirmation');
      try {
        const answer = await this.options.peer.awaitConfirmation(ref, signal);
        if (answer.decision !== 'pending') return answer.decision;
        failures = 0;
      } catch (err) {
        if (signal.aborted) throw err;
        if (isRefusal(err)) {
          this.notOurs(session, `confirmation refused: ${(err as Error).message}`);
          throw err;
        }
        if (failures++ % 10 === 0) log.warn('waiting for confirmation failed; retrying', { task_id: ref.task_id, error: (err as Error).message });
        await delay(Math.min(5000, 100 * 2 ** Math.min(failures, 6)), undefined, { signal }).catch(() => {});
      }
    }
  }

  /** Runs one job and reports it; answers the next job when its result brought one. */
  private async runSession(session: Session): Promise<ClaimedJob | null> {
    const { job } = session;
    const ref: JobRef = { task_id: job.task_id, attempt: job.attempt };
    const output = new OutputBuffer(this.sessionPeer(session), ref, this.options.flushMs ?? FLUSH_MS, job.payload.max_output_bytes);
    log.info('task started', { task_id: job.task_id, attempt: job.attempt, app: job.payload.app });
    await this.options.hooks?.onStart?.(job).catch(() => {});
    const result = await executeTask(job.payload, {
      tmpPath: this.options.tmpPath,
      sshConfigPath: this.options.sshConfigPath,
      signal: session.abort.signal,
      graceMs: this.options.graceMs,
      groups: this.groups,
      sandbox: this.options.sandbox,
      onLine: (line) => output.push(line),
      onRunning: (commit) => this.reportRunning(session, ref, commit, output),
      // The plan is in the output: stored before the task says it waits for its confirmation.
      awaitConfirmation: async (signal) => {
        await output.settle();
        return this.awaitConfirmation(session, ref, signal);
      },
    });
    if (session.lost) {
      log.warn('task was taken away from this runner; not reporting', { task_id: job.task_id });
      return null;
    }
    session.report = 'sent';
    const next = await output.finish((lines) => this.options.peer.done(ref, result, lines, this.asksNext(session)), this.carriesOutput);
    session.report = 'answered';
    await this.options.hooks?.onFinish?.(job, result).catch(() => {});
    log.info('task finished', { task_id: job.task_id, status: result.status });
    return next ?? null;
  }

  /**
   * The state a result sends to ask for this runner's next job (revision 3): only while no poll is
   * in flight, i.e. every slot was taken, so the job fills the slot this task frees.
   */
  private asksNext(session: Session): RunnerState | undefined {
    if (!this.resultsClaim || !this.claiming || this.polling) return undefined;
    const state = this.state();
    return { ...state, active: state.active.filter((a) => sessionKey(a) !== sessionKey(session.job)) };
  }

  /** Heartbeats in flight: a slow one does not hold back the next (at most two at once). */
  private heartbeatsInFlight = 0;
  private lastBeatAt = 0;
  /**
   * When a beat was last answered (or the first of the current tasks began): `unanswered_ms` in
   * each beat. On the monotonic clock: a wall clock set back would make it negative, which the
   * server refuses, and a refused beat ends every task it lists.
   */
  private lastAnsweredAt = performance.now();
  /** When the first of the current run of failed beats was sent, and whether that run was warned about. */
  private failingSince: number | undefined;
  private failingWarned = false;
  async heartbeat(force = false): Promise<void> {
    if (this.heartbeatsInFlight >= 2 || this.sessions.size === 0) return;
    if (!force && !this.beatDue()) return;
    this.heartbeatsInFlight++;
    const sentAt = Date.now();
    this.lastBeatAt = sentAt;
    // How long this runner's beats went unanswered: a beat late by a third of a lease tells the
    // server that it (or Redis) is behind, so it judges no lease until beats are on time again.
    const state = { ...this.state(), unanswered_ms: unansweredMs(performance.now() - this.lastAnsweredAt) };
    try {
      const answer = await this.options.peer.heartbeat(state);
      this.beatAnswered();
      // The answer names tasks; it is about the attempts this heartbeat listed, not a later
      // attempt of the same task claimed while it was in flight, nor one whose result went out
      // meanwhile (see Session.report).
      const listed = (ids: number[]) => state.active.filter((a) => ids.includes(a.task_id)).map((a) => this.sessions.get(sessionKey(a)));
      for (const session of listed(answer.stop)) session?.abort.abort();
      for (const session of listed(answer.lost)) if (session && session.report === 'pending') this.notOurs(session, 'the heartbeat answered lost');
    } catch (err) {
      if (isRefusal(err)) {
        // The server refuses this runner's heartbeat (e.g. the runner was deleted): none of the tasks it listed are ours.
        for (const ref of state.active) {
          const session = this.sessions.get(sessionKey(ref));
          if (session) this.notOurs(session, `heartbeat refused: ${(err as Error).message}`);
        }
      } else {
        log.debug('heartbeat failed', { error: (err as Error).message });
        this.beatFailed(sentAt, state.active.length, err as Error);
      }
    } finally {
      this.heartbeatsInFlight--;
    }
  }

  /**
   * Beats keep the leases of this runner's tasks: when none has been answered for a third of the
   * lease, the server is about to declare the tasks lost (it cannot tell a silent runner from a
   * dead one). Said once per run of failures, so an operator sees it coming and why.
   */
  private beatFailed(sentAt: number, tasks: number, err: Error): void {
    this.failingSince ??= sentAt;
    const failingMs = Date.now() - this.failingSince;
    const leaseMs = this.options.leaseMs ?? 30_000;
    if (this.failingWarned || failingMs < lateHeartbeatMs(leaseMs)) return;
    this.failingWarned = true;
    log.warn(`heartbeats have failed for ${Math.round(failingMs / 1000)} s: the server declares this runner's tasks lost after ${Math.round(leaseMs / 1000)} s without one; check that the server is reachable and that this machine is not overloaded`, {
      tasks, error: err.message,
    });
  }

  private beatAnswered(): void {
    this.lastAnsweredAt = performance.now();
    if (this.failingWarned) log.warn('heartbeats are answered again', { after_s: Math.round((Date.now() - this.failingSince!) / 1000) });
    this.failingSince = undefined;
    this.failingWarned = false;
  }

  /**
   * Whether this tick of the heartbeat timer sends a beat. Tasks younger than half a tick are
   * left out: the claim took their lease moments ago and a stop requested before the start is
   * answered by the start report (short tasks need no beat). A beat every tick while any other
   * task is young (YOUNG_TASK_MS); once all are older, one every longTaskHeartbeatMs (half a tick
   * early is on time: ticks jitter).
   */
  private beatDue(): boolean {
    const now = Date.now();
    const tick = this.options.heartbeatMs;
    let due = false;
    for (const session of this.sessions.values()) {
      const age = now - session.since;
      if (age < tick / 2) continue;
      if (age < YOUNG_TASK_MS) return true;
      due = true;
    }
    return due && now - this.lastBeatAt >= (this.options.longTaskHeartbeatMs ?? tick) - tick / 2;
  }

  stopClaiming(): void {
    this.claiming = false;
    this.pollAbort.abort();
    this.slotFreed?.();
  }

  /**
   * Graceful drain: stop claiming, let running tasks finish; after `timeoutMs` stop them. Every
   * task is reported before this resolves.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    this.stopClaiming();
    void this.heartbeat(true);
    const all = this.allReported();
    const timer = setTimeout(() => {
      for (const session of this.sessions.values()) session.abort.abort();
    }, timeoutMs);
    await all;
    clearTimeout(timer);
  }

  get claimed(): number {
    return this.claimedCount;
  }
}
