import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './connection.js';

type Reply = (err?: Error | null, value?: unknown) => void;

/**
 * Independent commands gathered on one pipeline and sent in one write, each answering its own
 * promise: a request's reads cost one round trip (and one socket write, the costly part on a VM)
 * instead of one per command. On a Cluster every key in a batch must share one slot.
 */
export class Batch {
  private readonly pipeline: ChainableCommander;
  private readonly pending: Array<Promise<unknown>> = [];

  constructor(redis: RedisClient) {
    this.pipeline = redis.pipeline();
  }

  /** Queues one command: `queue` calls it on the pipeline with `reply` as its callback. */
  add<T>(queue: (pipeline: ChainableCommander, reply: Reply) => void): Promise<T> {
    const answer = new Promise<T>((resolve, reject) => queue(this.pipeline, (err, value) => (err ? reject(err) : resolve(value as T))));
    answer.catch(() => {}); // the caller awaits it after send(); a failed read must not go unhandled meanwhile
    this.pending.push(answer);
    return answer;
  }

  /** Sends everything queued; each command's promise settles with its reply. */
  async send(): Promise<void> {
    if (this.pending.length === 0) return;
    await this.pipeline.exec();
  }
}
