import type { ClaimedJob, JobRef, RunnerState, TaskResult, OutputLine } from '../../protocol/wire.js';
import { type Executor, GatewayCore, GatewayError } from './core.js';
import { PeerRejection, type Peer } from '../../protocol/peer.js';

/** The in-process Peer: the server's own worker talks to the gateway core directly, nothing sealed. */
export class LocalPeer implements Peer {
  constructor(
    private readonly core: GatewayCore,
    private readonly executor: Executor,
    private readonly pollMs = 25_000,
  ) {}

  async next(_state: RunnerState, signal: AbortSignal): Promise<ClaimedJob | null> {
    const claimed = await this.core.next(this.executor, this.pollMs, signal);
    return claimed ? { task_id: claimed.task.id, attempt: claimed.task.attempt, payload: claimed.payload } : null;
  }

  heartbeat(state: RunnerState) {
    return this.core.heartbeat(this.executor, state);
  }

  running(job: JobRef, commit: { commit_hash: string; commit_message: string }) {
    return rejectAs(() => this.core.running(this.executor, job.task_id, job.attempt, commit));
  }

  log(job: JobRef, lines: OutputLine[]) {
    return rejectAs(() => this.core.log(this.executor, job.task_id, job.attempt, lines));
  }

  done(job: JobRef, result: TaskResult) {
    return rejectAs(() => this.core.finish(this.executor, job.task_id, job.attempt, result));
  }
}

async function rejectAs<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof GatewayError && err.status < 500) throw new PeerRejection(err.status, err.message);
    throw err;
  }
}
