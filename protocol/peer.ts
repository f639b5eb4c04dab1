import type { ClaimedJob, HeartbeatAnswer, JobRef, RunnerState, TaskResult, OutputLine } from './wire.js';

/**
 * The whole contract between the server and an executor of tasks. The remote runner's HTTP
 * client and the server's in-process local worker both implement it, so the agent loop and
 * the executor are one piece of code for both.
 */
export interface Peer {
  /** Long-poll for the next job; null when the poll timed out or was aborted. */
  next(state: RunnerState, signal: AbortSignal): Promise<ClaimedJob | null>;
  /** Extends the leases of running jobs; answers which to stop and which are no longer ours. */
  heartbeat(state: RunnerState): Promise<HeartbeatAnswer>;
  /** The checkout is done and the app starts; answers whether a stop is already requested. */
  running(job: JobRef, commit: { commit_hash: string; commit_message: string }): Promise<{ stop: boolean }>;
  /** Appends numbered output lines; answers the highest line number the server holds. */
  log(job: JobRef, lines: OutputLine[]): Promise<number>;
  done(job: JobRef, result: TaskResult): Promise<void>;
}

/** A refusal that retrying cannot fix (the job is not, or no longer, this executor's). */
export class PeerRejection extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}
