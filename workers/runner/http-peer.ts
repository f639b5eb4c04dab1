import { open, type BoxKeyPair } from '../../protocol/sealed-box.js';
import type { ClaimAnswer, ClaimedJob, HeartbeatAnswer, JobPayload, JobRef, RunnerState, TaskResult, OutputLine } from '../../protocol/wire.js';
import { PeerRejection, type Peer } from '../../protocol/peer.js';
import { ForgeHttpClient, HttpError } from './http-client.js';

const BASE = 'api/internal/runners';

/** The remote runner's Peer: HTTPS long-poll to the gateway, job payloads opened with its private key. */
export class HttpPeer implements Peer {
  constructor(
    private readonly client: ForgeHttpClient,
    private readonly keys: BoxKeyPair,
    private readonly longPollSec: number,
  ) {}

  async next(state: RunnerState, signal: AbortSignal): Promise<ClaimedJob | null> {
    let answer;
    try {
      answer = await this.client.request<ClaimAnswer>('POST', `${BASE}/jobs/next`, state, { signal, timeoutMs: (this.longPollSec + 15) * 1000 });
    } catch (err) {
      if (signal.aborted) return null;
      throw permanent(err, [401, 403]);
    }
    if (answer.status === 204 || !answer.body) return null;
    const { task_id, attempt, sealed_payload } = answer.body;
    let payload: JobPayload;
    try {
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
    return (await this.call<HeartbeatAnswer>('POST', `${BASE}/heartbeat`, state, [401])).body;
  }

  async running(job: JobRef, commit: { commit_hash: string; commit_message: string }): Promise<{ stop: boolean }> {
    return (await this.call<{ stop: boolean }>('POST', `${BASE}/jobs/${job.task_id}/running`, { attempt: job.attempt, ...commit })).body;
  }

  async log(job: JobRef, lines: OutputLine[]): Promise<number> {
    return (await this.call<{ acked: number }>('POST', `${BASE}/jobs/${job.task_id}/output`, { attempt: job.attempt, lines })).body.acked;
  }

  async done(job: JobRef, result: TaskResult): Promise<void> {
    await this.call('POST', `${BASE}/jobs/${job.task_id}/result`, { attempt: job.attempt, ...result });
  }

  private async call<T>(method: string, path: string, body: unknown, permanentStatuses = [401, 403, 404, 409]) {
    try {
      return await this.client.request<T>(method, path, body);
    } catch (err) {
      throw permanent(err, permanentStatuses);
    }
  }
}

/** 4xx answers that retrying cannot change become PeerRejection; the rest stay retryable. */
function permanent(err: unknown, statuses: number[]): unknown {
  if (err instanceof HttpError && (statuses.includes(err.status) || (err.status >= 400 && err.status < 500 && err.status !== 429 && err.status !== 408))) {
    return new PeerRejection(err.status, err.message);
  }
  return err;
}
