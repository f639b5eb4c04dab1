import type { RedisClient } from '../redis/connection.js';
import type { Batch } from '../redis/batch.js';
import { keys } from '../redis/keys.js';
import { LIST, type RecordCache } from './record-cache.js';

const parse = <T>(raw: string | null): T | undefined => (raw ? (JSON.parse(raw) as T) : undefined);
const parseAll = <T extends { id: number }>(all: string[]): T[] => all.map((raw) => JSON.parse(raw) as T).sort((a, b) => a.id - b.id);

/**
 * Records of one kind in one Redis hash, id → JSON. Ids come from a per-kind counter. With a
 * `cache`, reads are answered from this process's memory when it has them and every write drops
 * and announces the hash (record-cache.ts); `update` reads Redis itself, not a kept copy.
 */
export class Collection<T extends { id: number }> {
  constructor(
    private readonly redis: RedisClient,
    private readonly kind: string,
    private readonly scope = '',
    private readonly cache?: RecordCache,
  ) {}

  private get key() {
    return keys.collection(this.kind, this.scope);
  }

  private async changed(): Promise<void> {
    if (this.cache) await this.cache.changed(this.key);
  }

  async create(fields: Omit<T, 'id'>): Promise<T> {
    const id = await this.redis.incr(keys.seq(this.kind));
    const record = { ...fields, id } as T;
    await this.redis.hset(this.key, String(id), JSON.stringify(record));
    await this.changed();
    return record;
  }

  async get(id: number): Promise<T | undefined> {
    const load = () => this.redis.hget(this.key, String(id));
    return parse<T>(await (this.cache ? this.cache.read(this.key, String(id), load) : load()));
  }

  /** `get` as part of a batch of reads sent together (not sent at all when kept). */
  getIn(batch: Batch, id: number): Promise<T | undefined> {
    const kept = this.cache?.lookup(this.key, String(id));
    if (kept !== undefined) return Promise.resolve(parse<T>(kept as string | null));
    const mark = this.cache?.mark() ?? 0;
    return batch.add<string | null>((p, reply) => p.hget(this.key, String(id), reply)).then((raw) => {
      this.cache?.keep(this.key, String(id), raw, mark);
      return parse<T>(raw);
    });
  }

  async list(): Promise<T[]> {
    const load = () => this.redis.hvals(this.key);
    return parseAll<T>(await (this.cache ? this.cache.read(this.key, LIST, load) : load()));
  }

  /** `list` as part of a batch of reads sent together (not sent at all when kept). */
  listIn(batch: Batch): Promise<T[]> {
    const kept = this.cache?.lookup(this.key, LIST);
    if (kept !== undefined) return Promise.resolve(parseAll<T>(kept as string[]));
    const mark = this.cache?.mark() ?? 0;
    return batch.add<string[]>((p, reply) => p.hvals(this.key, reply)).then((all) => {
      this.cache?.keep(this.key, LIST, all, mark);
      return parseAll<T>(all);
    });
  }

  async put(record: T): Promise<T> {
    await this.redis.hset(this.key, String(record.id), JSON.stringify(record));
    await this.changed();
    return record;
  }

  async update(id: number, patch: Partial<T>): Promise<T | undefined> {
    const current = parse<T>(await this.redis.hget(this.key, String(id)));
    if (!current) return undefined;
    return this.put({ ...current, ...patch, id });
  }

  async delete(id: number): Promise<boolean> {
    const deleted = (await this.redis.hdel(this.key, String(id))) > 0;
    await this.changed();
    return deleted;
  }

  async deleteAll(): Promise<void> {
    await this.redis.del(this.key);
    await this.changed();
  }
}
