import type { z } from 'zod';
import type {
  ClaimedJob, ConfirmationAnswer, HeartbeatAnswer, HelloAnswer, HelloRequest, JobRef, OutputLine, RegisterAnswer, registerSchema, RunnerState, RunningAnswer,
  TaskResult,
} from './wire.js';

/**
 * The whole conversation between the server and an executor of tasks, from registering to the
 * result of each job. The remote runner's HTTP client and the server's in-process local worker
 * both implement it, so the agent loop and the executor are one piece of code for both.
 */
export interface Peer {
  /** Adds this runner with the server's registration token; answers its id and token. */
  register(input: z.input<typeof registerSchema>): Promise<RegisterAnswer>;
  /** Removes this runner on the server; its token stops working. */
  unregister(): Promise<void>;
  /** First contact of a start: uploads the public key once, answers who the server says we are. */
  hello(state: HelloRequest): Promise<HelloAnswer>;
  /** Long-poll for the next job; null when the poll timed out or was aborted. */
  next(state: RunnerState, signal: AbortSignal): Promise<ClaimedJob | null>;
  /** Extends the leases of running jobs; answers which to stop and which are no longer ours. */
  heartbeat(state: RunnerState): Promise<HeartbeatAnswer>;
  /**
   * The checkout is done and the app starts; answers whether a stop is already requested. `lines`
   * (only to a server of protocol revision 2) are output stored before the start takes effect.
   */
  running(job: JobRef, commit: { commit_hash: string; commit_message: string }, lines?: OutputLine[]): Promise<RunningAnswer>;
  /** Appends numbered output lines; answers the highest line number the server holds. */
  log(job: JobRef, lines: OutputLine[]): Promise<number>;
  /**
   * A plan is ready and waits for confirmation: the first call moves the task to
   * `waiting_confirmation`; each call is a long-poll answered as soon as someone confirms or
   * rejects it, or `pending` when the poll ran out (ask again). Leases keep running on heartbeats.
   */
  awaitConfirmation(job: JobRef, signal: AbortSignal): Promise<ConfirmationAnswer>;
  /**
   * The result; `lines` (only to a server of protocol revision 2) are the last output, stored before
   * the task is final. With `next` (the runner's state after this task; revision 3) the answer is
   * the runner's next job when one can be claimed at once, instead of a poll for it; else null.
   */
  done(job: JobRef, result: TaskResult, lines?: OutputLine[], next?: RunnerState): Promise<ClaimedJob | null>;
}

/**
 * An answer with a status, on either side: the server throws it to answer that status, the
 * runner's client throws it for any 4xx/5xx answer. From a `Peer` it means a refusal that
 * retrying cannot change (see `isRefusal`): the job, or the runner, is not (or no longer) ours.
 */
export class StatusError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** 4xx other than 408 and 429: asking again gets the same answer. */
export function isRefusal(err: unknown): boolean {
  return err instanceof StatusError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
}

/** The name the agent loop and output buffer knew a refusal by; the same class. */
export { StatusError as PeerRejection };
