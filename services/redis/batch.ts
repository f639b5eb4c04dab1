import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './connection.js';

type Reply = (err?: Error | null, value?: unknown) => void;

/**
 * Independent commands gathered on one pipeline and sent in one write, each answering its own
 * promise: a request's reads cost one round trip (and one socket write, the costly part on a VM)
 * instead of one per command. On a Cluster every key in a batch must share one slot.
 */
export class Batch {
  /**
   * Made at the first command: most batches of a request find everything in the record caches and
   * queue none, and an ioredis pipeline is dear to make (it copies every defined script onto itself).
   */
  private pipeline: ChainableCommander | undefined;

  constructor(private readonly redis: RedisClient) {}

  /** Queues one command: `queue` calls it on the pipeline with `reply` as its callback. */
  add<T>(queue: (pipeline: ChainableCommander, reply: Reply) => void): Promise<T> {
    const pipeline = (this.pipeline ??= this.redis.pipeline());
    const answer = new Promise<T>((resolve, reject) => queue(pipeline, (err, value) => (err ? reject(err) : resolve(value as T))));
    answer.catch(() => {}); // the caller awaits it after send(); a failed read must not go unhandled meanwhile
    return answer;
  }

  /** Sends everything queued; each command's promise settles with its reply. */
  async send(): Promise<void> {
    if (!this.pipeline) return;
    await this.pipeline.exec();
  }
}
