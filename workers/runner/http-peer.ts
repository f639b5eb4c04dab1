import type { z } from 'zod';
import { open, type BoxKeyPair } from '../../protocol/sealed-box.js';
import type {
  ClaimAnswer, ClaimedJob, ConfirmationAnswer, HeartbeatAnswer, HelloAnswer, HelloRequest, JobPayload, JobRef, OutputLine, RegisterAnswer, registerSchema,
  ResultAnswer, RunnerState, RunningAnswer, TaskResult,
} from '../../protocol/wire.js';
import { lateHeartbeatMs } from '../../protocol/wire.js';
import { isRefusal, StatusError, type Peer } from '../../protocol/peer.js';
import type { ForgeHttpClient } from './http-client.js';

/** Every runner-facing path of the server; nothing else in the runner names one. */
const BASE = 'api/internal/runners';
const paths = {
  register: BASE,
  self: BASE,
  hello: `${BASE}/hello`,
  heartbeat: `${BASE}/heartbeat`,
  next: `${BASE}/jobs/next`,
  running: (id: number) => `${BASE}/jobs/${id}/running`,
  output: (id: number) => `${BASE}/jobs/${id}/output`,
  result: (id: number) => `${BASE}/jobs/${id}/result`,
  confirmation: (id: number) => `${BASE}/jobs/${id}/confirmation`,
};

/**
 * The remote runner's Peer: HTTPS to the gateway, job payloads opened with its private key.
 * A refusal (see isRefusal) is thrown as StatusError; any other failure as a plain Error, which
 * callers retry.
 */
export class HttpPeer implements Peer {
  constructor(
    private readonly client: ForgeHttpClient,
    private readonly keys?: BoxKeyPair,
    private longPollSec = 25,
  ) {}

  /**
   * How long a heartbeat may go unanswered before its socket is dropped: a third of the lease, so
   * a heartbeat stuck on a dead connection gives way to the next ones well before the lease runs
   * out (a runner keeps at most two in flight; the default socket timeout is as long as a lease).
   */
  private heartbeatTimeoutMs = 10_000;

  async register(input: z.input<typeof registerSchema>): Promise<RegisterAnswer> {
    return this.call<RegisterAnswer>('POST', paths.register, input);
  }

  async unregister(): Promise<void> {
    await this.call('DELETE', paths.self);
  }

  async hello(state: HelloRequest): Promise<HelloAnswer> {
    const answer = await this.call<HelloAnswer>('POST', paths.hello, state);
    this.longPollSec = answer.long_poll_sec;
    this.heartbeatTimeoutMs = Math.min(30_000, Math.max(2_000, Math.floor(lateHeartbeatMs(answer.lease_sec * 1000))));
    return answer;
  }

  async next(state: RunnerState, signal: AbortSignal): Promise<ClaimedJob | null> {
    let answer;
    try {
      answer = await this.client.request<ClaimAnswer>('POST', paths.next, state, { signal, timeoutMs: (this.longPollSec + 15) * 1000 });
    } catch (err) {
      if (signal.aborted) return null;
      throw retryableUnlessRefused(err);
    }
    if (answer.status === 204 || !answer.body) return null;
    return this.opened(answer.body);
  }

  /** A claimed job's payload opened with this runner's key; a job it cannot open is refused with its reason as the task's error. */
  private async opened({ task_id, attempt, sealed_payload }: ClaimAnswer): Promise<ClaimedJob | null> {
    let payload: JobPayload;
    try {
      if (!this.keys) throw new Error('this runner has no key pair loaded');
      payload = JSON.parse(open(Buffer.from(sealed_payload, 'base64'), this.keys).toString('utf8')) as JobPayload;
    } catch (err) {
      // Refuse the job and say why on the task, rather than leaving it running.
      const now = new Date().toISOString();
      await this.done({ task_id, attempt }, {
        status: 'error', exit_code: null, error: `runner refused the job: ${(err as Error).message}`,
        commit_hash: '', commit_message: '', start: null, end: now,
      }).catch(() => {});
      return null;
    }
    return { task_id, attempt, payload };
  }

  async heartbeat(state: RunnerState): Promise<HeartbeatAnswer> {
    return this.call<HeartbeatAnswer>('POST', paths.heartbeat, state, { timeoutMs: this.heartbeatTimeoutMs });
  }

  async running(job: JobRef, commit: { commit_hash: string; commit_message: string }, lines?: OutputLine[]): Promise<RunningAnswer> {
    return this.call<RunningAnswer>('POST', paths.running(job.task_id), { attempt: job.attempt, ...commit, ...(lines?.length ? { lines } : {}) });
  }

  async log(job: JobRef, lines: OutputLine[]): Promise<number> {
    return (await this.call<{ acked: number }>('POST', paths.output(job.task_id), { attempt: job.attempt, lines })).acked;
  }

  async awaitConfirmation(job: JobRef, signal: AbortSignal): Promise<ConfirmationAnswer> {
    try {
      const answer = await this.client.request<ConfirmationAnswer>('POST', paths.confirmation(job.task_id), { attempt: job.attempt }, { signal, timeoutMs: (this.longPollSec + 15) * 1000 });
      return answer.body;
    } catch (err) {
      throw retryableUnlessRefused(err);
    }
  }

  async done(job: JobRef, result: TaskResult, lines?: OutputLine[], next?: RunnerState): Promise<ClaimedJob | null> {
    const answer = await this.call<ResultAnswer>('POST', paths.result(job.task_id), { attempt: job.attempt, ...result, ...(lines?.length ? { lines } : {}), ...(next ? { next } : {}) });
    return next && answer?.job ? this.opened(answer.job) : null;
  }

  private async call<T>(method: string, path: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<T> {
    try {
      return (await this.client.request<T>(method, path, body, opts)).body;
    } catch (err) {
      throw retryableUnlessRefused(err);
    }
  }
}

/** A refusal stays a StatusError; a 5xx, 408 or 429 becomes a plain Error, which is retried. */
function retryableUnlessRefused(err: unknown): unknown {
  if (err instanceof StatusError && !isRefusal(err)) return new Error(`server answered ${err.status}: ${err.message}`);
  return err;
}
