import { logger } from '../protocol/log.js';
import { PeerRejection, type Peer } from '../protocol/peer.js';
import type { JobRef, OutputLine } from '../protocol/wire.js';

const log = logger('agent');

export const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries `fn` with capped exponential backoff until it succeeds, the peer refuses for good, or `give up` says so. */
export async function persist<T>(what: string, fn: () => Promise<T>, giveUp: () => boolean = () => false): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof PeerRejection) {
        log.warn(`${what}: refused by the server`, { status: err.status, error: err.message });
        return undefined;
      }
      if (giveUp()) return undefined;
      if (attempt % 10 === 0) log.warn(`${what} failed; retrying`, { error: (err as Error).message });
      await wait(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
    }
  }
}

/** Output of one task: numbered lines kept until the server acknowledges them, then dropped. */
export class OutputBuffer {
  private pending: OutputLine[] = [];
  private seq = 0;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  rejected = false;

  constructor(private readonly peer: Peer, private readonly job: JobRef, private readonly flushMs: number) {}

  push(line: { time: string; output: string }): void {
    this.pending.push({ seq: ++this.seq, ...line });
    if (this.pending.length >= 500) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.flushMs);
  }

  /** Sends what is unacknowledged; a failed send keeps the lines for the next one. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.flushing) return this.flushing.then(() => (this.pending.length ? this.flush() : undefined));
    if (this.pending.length === 0 || this.rejected) return Promise.resolve();
    const batch = this.pending.slice(0, 2000);
    this.flushing = this.peer
      .log(this.job, batch)
      .then((acked) => {
        this.pending = this.pending.filter((line) => line.seq > acked);
      })
      .catch((err) => {
        if (err instanceof PeerRejection) this.rejected = true;
        else if (!this.timer) this.timer = setTimeout(() => void this.flush(), 500);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  /** Flushes until every line is acknowledged (or the server says the job is no longer ours). */
  async drain(): Promise<void> {
    await persist('sending output', async () => {
      await this.flush();
      if (this.pending.length > 0 && !this.rejected) throw new Error(`${this.pending.length} output lines not yet acknowledged`);
    });
  }
}
