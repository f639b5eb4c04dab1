import { longTaskHeartbeatMs, PROTOCOL_REVISION, type ClaimedJob, type HelloAnswer, type HelloRequest, type JobRef, type OutputLine, type RegisterAnswer, type RunnerState, type TaskResult } from '../../protocol/wire.js';
import { isRefusal, StatusError, type Peer } from '../../protocol/peer.js';
import type { Claimant } from './claimant.js';
import type { Claim } from './claimer.js';
import type { GatewayCore } from './core.js';

/** The in-process Peer: the server's own worker talks to the gateway core directly, nothing sealed. */
export class LocalPeer implements Peer {
  constructor(
    private readonly core: GatewayCore,
    private readonly claimant: Claimant,
    private readonly pollMs = 25_000,
  ) {}

  register(): Promise<RegisterAnswer> {
    return Promise.reject(new StatusError(400, 'the local worker is part of the server; it does not register'));
  }

  unregister(): Promise<void> {
    return Promise.reject(new StatusError(400, 'the local worker is part of the server; it does not register'));
  }

  async hello(_state: HelloRequest): Promise<HelloAnswer> {
    return {
      id: 0, name: this.claimant.name, tags: [], project_id: null, max_parallel_tasks: this.claimant.maxParallel, enabled: true,
      lease_sec: this.core.leases.leaseMs / 1000, heartbeat_ms: 1000, long_poll_sec: this.pollMs / 1000,
      long_task_heartbeat_ms: longTaskHeartbeatMs(1000, this.core.leases.leaseMs),
      protocol: PROTOCOL_REVISION,
    };
  }

  async next(_state: RunnerState, signal: AbortSignal): Promise<ClaimedJob | null> {
    return jobOf(await this.core.next(this.claimant, this.pollMs, signal));
  }

  heartbeat(state: RunnerState) {
    return this.core.heartbeat(this.claimant, state);
  }

  running(job: JobRef, commit: { commit_hash: string; commit_message: string }, lines?: OutputLine[]) {
    return refusalsOnly(() => this.core.running(this.claimant, job.task_id, job.attempt, commit, lines));
  }

  log(job: JobRef, lines: OutputLine[]) {
    return refusalsOnly(() => this.core.log(this.claimant, job.task_id, job.attempt, lines));
  }

  awaitConfirmation(job: JobRef, signal: AbortSignal) {
    return refusalsOnly(() => this.core.awaitConfirmation(this.claimant, job.task_id, job.attempt, this.pollMs, signal));
  }

  async done(job: JobRef, result: TaskResult, lines?: OutputLine[], next?: RunnerState): Promise<ClaimedJob | null> {
    return jobOf(await refusalsOnly(() => this.core.done(this.claimant, job.task_id, job.attempt, result, lines, next && !next.draining ? this.claimant : undefined)));
  }
}

const jobOf = (claimed: Claim | null): ClaimedJob | null => (claimed ? { task_id: claimed.task.id, attempt: claimed.task.attempt, payload: claimed.payload } : null);

/** As over HTTP: a refusal stays a StatusError, any other failure is a plain (retryable) Error. */
async function refusalsOnly<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StatusError && !isRefusal(err)) throw new Error(err.message);
    throw err;
  }
}
