import type { Batch } from '../redis/batch.js';
import type { RedisClient } from '../redis/connection.js';

/**
 * Ids of one sequence (an INCR counter) with the next one taken ahead by this process, so creating
 * a record needs no round trip of its own for its id: as one id is handed out the next is taken,
 * and that INCR leaves in the same socket write as the tick's other commands (coalesce-writes.ts),
 * such as the MULTI that stores the record. Ids stay in creation order within a process; replicas
 * interleave theirs, and an id taken ahead and never used (a restart) is a gap, as a failed
 * creation has always left one. A reconnect drops the spare: Redis may have lost what it knew.
 */
export class SpareIds {
  private spare: Promise<number> | undefined;

  constructor(private readonly redis: RedisClient, private readonly key: string) {
    redis.on('ready', () => (this.spare = undefined));
  }

  /**
   * The next id: the spare (taken, or its INCR on its way), with a new spare taken; with none, one
   * INCRBY 2 for both, on `batch` when given (sent with the caller's other reads) or alone.
   */
  take(batch?: Batch): Promise<number> {
    const spare = this.spare;
    if (spare) {
      this.keep(this.redis.incr(this.key));
      return spare;
    }
    const pair = batch ? batch.add<number>((pipeline, reply) => pipeline.incrby(this.key, 2, reply)) : this.redis.incrby(this.key, 2);
    this.keep(pair);
    return pair.then((last) => last - 1);
  }

  private keep(next: Promise<number>): void {
    this.spare = next;
    // A spare that failed is not handed out: the next take asks again.
    next.catch(() => {
      if (this.spare === next) this.spare = undefined;
    });
  }
}
