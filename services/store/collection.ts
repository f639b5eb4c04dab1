import type { RedisClient } from '../redis/connection.js';
import type { Batch } from '../redis/batch.js';
import { keys } from '../redis/keys.js';

/** Records of one kind in one Redis hash, id → JSON. Ids come from a per-kind counter. */
export class Collection<T extends { id: number }> {
  constructor(
    private readonly redis: RedisClient,
    private readonly kind: string,
    private readonly scope = '',
  ) {}

  private get key() {
    return keys.collection(this.kind, this.scope);
  }

  async create(fields: Omit<T, 'id'>): Promise<T> {
    const id = await this.redis.incr(keys.seq(this.kind));
    const record = { ...fields, id } as T;
    await this.redis.hset(this.key, String(id), JSON.stringify(record));
    return record;
  }

  async get(id: number): Promise<T | undefined> {
    const raw = await this.redis.hget(this.key, String(id));
    return raw ? (JSON.parse(raw) as T) : undefined;
  }

  /** `get` as part of a batch of reads sent together. */
  getIn(batch: Batch, id: number): Promise<T | undefined> {
    return batch.add<string | null>((p, reply) => p.hget(this.key, String(id), reply)).then((raw) => (raw ? (JSON.parse(raw) as T) : undefined));
  }

  async list(): Promise<T[]> {
    const all = await this.redis.hvals(this.key);
    return all.map((raw) => JSON.parse(raw) as T).sort((a, b) => a.id - b.id);
  }

  /** `list` as part of a batch of reads sent together. */
  listIn(batch: Batch): Promise<T[]> {
    return batch.add<string[]>((p, reply) => p.hvals(this.key, reply)).then((all) => all.map((raw) => JSON.parse(raw) as T).sort((a, b) => a.id - b.id));
  }

  async put(record: T): Promise<T> {
    await this.redis.hset(this.key, String(record.id), JSON.stringify(record));
    return record;
  }

  async update(id: number, patch: Partial<T>): Promise<T | undefined> {
    const current = await this.get(id);
    if (!current) return undefined;
    return this.put({ ...current, ...patch, id });
  }

  async delete(id: number): Promise<boolean> {
    return (await this.redis.hdel(this.key, String(id))) > 0;
  }

  async deleteAll(): Promise<void> {
    await this.redis.del(this.key);
  }
}
