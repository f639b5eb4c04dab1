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

/** A batch the server accepts is bounded in lines and bytes (see outputBatchSchema and the output route's body limit). */
export const BATCH_LINES = 1000;
export const BATCH_BYTES = 256 * 1024;
/** Unacknowledged output above this pauses the task's pipes until the server catches up. */
const HIGH_WATER_BYTES = 2 * 1024 * 1024;
const LOW_WATER_BYTES = 1024 * 1024;
/** The same in lines, since each short line costs far more memory than its text. */
const HIGH_WATER_LINES = 5 * BATCH_LINES;
const LOW_WATER_LINES = 2 * BATCH_LINES;
/** Room kept under max_output_bytes for the truncation line itself. */
const NOTICE_RESERVE_BYTES = 512;

/**
 * Output of one task: numbered lines kept until the server acknowledges them, then dropped.
 * At most one send is in flight; while it is, new lines wait and go in the next batch. Memory is
 * bounded: above HIGH_WATER_BYTES (or _LINES) unacknowledged, push() answers a promise the reader awaits
 * (backpressure), and past `maxBytes` lines are counted, not kept; finish() then adds one line
 * saying how much was dropped.
 */
export class OutputBuffer {
  private pending: OutputLine[] = [];
  private sizes: number[] = [];
  private pendingBytes = 0;
  private seq = 0;
  private keptBytes = 0;
  private truncated = false;
  private dropped = { bytes: 0, lines: 0 };
  private flushing: Promise<void> | undefined;
  private again = false;
  private draining = false;
  private timer: NodeJS.Timeout | undefined;
  private space: { promise: Promise<void>; release: () => void } | undefined;
  rejected = false;

  constructor(
    private readonly peer: Peer,
    private readonly job: JobRef,
    private readonly flushMs: number,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** Queues a line; answers a promise when the caller should wait before sending more. */
  push(line: { time: string; output: string }): Promise<void> | undefined {
    if (this.rejected) return undefined;
    const bytes = Buffer.byteLength(line.output);
    if (this.truncated || this.keptBytes + bytes > this.maxBytes - NOTICE_RESERVE_BYTES) {
      this.truncated = true;
      this.dropped.bytes += bytes;
      this.dropped.lines++;
      return undefined;
    }
    this.keptBytes += bytes;
    this.append({ seq: ++this.seq, ...line }, bytes);
    if (this.pendingBytes <= HIGH_WATER_BYTES && this.pending.length <= HIGH_WATER_LINES) return undefined;
    if (!this.space) {
      let release = () => {};
      const promise = new Promise<void>((resolve) => (release = resolve));
      this.space = { promise, release };
    }
    return this.space.promise;
  }

  private append(line: OutputLine, bytes: number): void {
    this.pending.push(line);
    this.sizes.push(bytes);
    this.pendingBytes += bytes;
    if (this.batchReady()) {
      if (!this.flushing) void this.flush();
    } else if (!this.timer && !this.flushing) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs);
    }
  }

  private batchReady(): boolean {
    return this.pending.length >= BATCH_LINES || this.pendingBytes >= BATCH_BYTES;
  }

  /** Starts sending what is unacknowledged, or joins the send in flight (which then goes on with what came since). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    if (this.pending.length === 0 || this.rejected) return Promise.resolve();
    this.flushing = this.sendAll().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async sendAll(): Promise<void> {
    while (this.pending.length > 0 && !this.rejected) {
      this.again = false;
      const batch = this.nextBatch();
      try {
        this.acknowledge(await this.peer.log(this.job, batch));
      } catch (err) {
        if (err instanceof PeerRejection) this.reject();
        else if (!this.timer) this.timer = setTimeout(() => void this.flush(), 500);
        return;
      }
      // A small remainder waits for the timer, so a trickle of lines goes out in batches, not one by one.
      if (!this.again && !this.draining && !this.batchReady()) {
        this.scheduleRest();
        return;
      }
    }
  }

  /** Lines left after a send: at once when a batch is ready or someone asked, else when the window closes. */
  private scheduleRest(): void {
    if (this.pending.length === 0 || this.rejected || this.flushing) return;
    if (this.again || this.draining || this.batchReady()) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.flushMs);
  }

  /**
   * Sends the queued lines (up to one batch) inside another request of the task, `report` (the
   * start report or the result, protocol revision 2), instead of an output request of their own.
   * It waits for a send in flight and is the one send in flight itself, so lines keep their order;
   * the server stores them before it answers, so success acknowledges them. Throws what `report` throws.
   */
  async carry<T>(report: (lines: OutputLine[]) => Promise<T>): Promise<T> {
    while (this.flushing) await this.flushing;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.again = false;
    const batch = this.rejected ? [] : this.nextBatch();
    let sent = () => {};
    this.flushing = new Promise<void>((resolve) => (sent = resolve));
    try {
      const answer = await report(batch);
      if (batch.length > 0) this.acknowledge(batch[batch.length - 1]!.seq);
      return answer;
    } catch (err) {
      if (err instanceof PeerRejection) this.reject();
      throw err;
    } finally {
      this.flushing = undefined;
      sent();
      this.scheduleRest();
    }
  }

  private nextBatch(): OutputLine[] {
    let bytes = 0;
    let count = 0;
    while (count < this.pending.length && count < BATCH_LINES && (count === 0 || bytes + this.sizes[count]! <= BATCH_BYTES)) {
      bytes += this.sizes[count]!;
      count++;
    }
    return this.pending.slice(0, count);
  }

  private acknowledge(acked: number): void {
    let count = 0;
    while (count < this.pending.length && this.pending[count]!.seq <= acked) this.pendingBytes -= this.sizes[count++]!;
    this.pending.splice(0, count);
    this.sizes.splice(0, count);
    if (this.space && this.pendingBytes <= LOW_WATER_BYTES && this.pending.length <= LOW_WATER_LINES) this.releaseSpace();
  }

  private reject(): void {
    this.rejected = true;
    this.pending = [];
    this.sizes = [];
    this.pendingBytes = 0;
    this.releaseSpace();
  }

  private releaseSpace(): void {
    this.space?.release();
    this.space = undefined;
  }

  /**
   * Sends every line queued so far and waits until the server has them, while the task goes on:
   * before a task waits for confirmation, the plan it shows must be stored.
   */
  async settle(): Promise<void> {
    await persist('sending output', async () => {
      while (this.pending.length > 0 && !this.rejected) {
        const first = this.pending[0]!.seq;
        await this.flush();
        if (this.pending.length > 0 && this.pending[0]!.seq === first) throw new Error(`${this.pending.length} output lines not yet acknowledged`);
      }
    });
  }

  /**
   * The task's end: adds the truncation line if output was dropped, then sends the rest of the
   * output and the result (`report`), retrying until the server has both or refuses (answers
   * `report`'s answer, undefined on a refusal). With `carry`
   * the last batch travels inside the result; otherwise, or when more than a batch is left, the
   * lines are all acknowledged first.
   */
  async finish<T>(report: (lines: OutputLine[]) => Promise<T>, carry: boolean): Promise<T | undefined> {
    this.draining = true;
    if (this.dropped.lines > 0 && !this.rejected) {
      // Lines a task prints after this are not expected; they would be dropped and counted again.
      const { bytes, lines } = this.dropped;
      this.append({
        seq: ++this.seq, time: new Date().toISOString(),
        output: `[forge] output truncated to stay within ${this.maxBytes} bytes (max_output_bytes): the last ${bytes} bytes (${lines} lines) this task wrote were dropped`,
      }, 0);
      this.dropped = { bytes: 0, lines: 0 };
    }
    if (!carry || this.nextBatch().length < this.pending.length) {
      await persist('sending output', async () => {
        await this.flush();
        if (this.pending.length > 0 && !this.rejected) throw new Error(`${this.pending.length} output lines not yet acknowledged`);
      });
    }
    return persist('reporting the result', () => (carry ? this.carry(report) : report([])));
  }
}
