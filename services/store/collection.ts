import type { RedisClient } from '../redis/connection.js';
import type { Batch } from '../redis/batch.js';
import { keys } from '../redis/keys.js';
import { script } from '../redis/scripts.js';
import { LIST, type RecordCache, type Reply } from './record-cache.js';

const parse = <T>(raw: string | null): T | undefined => (raw ? (JSON.parse(raw) as T) : undefined);
const parseAll = <T extends { id: number }>(all: string[]): T[] => all.map((raw) => JSON.parse(raw) as T).sort((a, b) => a.id - b.id);

/**
 * How often a change is made anew because others changed the record between its read and its
 * write. Every refusal means another change landed, so all of them progress; with n made at
 * once the last lands at its n-th try at worst. Reaching this takes a record written without pause.
 */
const CHANGE_TRIES = 100;
/** What an attempt on a record answers when the record changed since it was read: read it and try again. */
const AGAIN = Symbol('again');

/** A record as read from Redis: its hash and field, its JSON (`read`) and the record parsed from it (`before`). */
export interface RecordRead<T> { hash: string; field: string; read: string; before: T }

/**
 * Writes a changed record only if Redis still holds `read` for it (the JSON the change was made
 * from): true when written, false when the record changed since, and the change is made anew.
 */
export type SwapWrite<T> = (args: RecordRead<T> & { json: string; record: T }) => Promise<boolean>;

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

  /** A new id from the kind's counter (for a record written by `writeWith`). */
  nextId(): Promise<number> {
    return this.redis.incr(keys.seq(this.kind));
  }

  async create(fields: Omit<T, 'id'>): Promise<T> {
    const id = await this.nextId();
    const record = { ...fields, id } as T;
    await this.redis.hset(this.key, String(id), JSON.stringify(record));
    await this.changed();
    return record;
  }

  /** A read answered from the cache when it keeps it (with a batch: nothing queued then), else `load`'s. */
  private read<R extends Reply>(field: string, load: () => Promise<R>): Promise<R> {
    // `load` runs before read's first await: a batch's command is queued before the batch is sent.
    return this.cache ? this.cache.read(this.key, field, load) : load();
  }

  async get(id: number): Promise<T | undefined> {
    return parse<T>(await this.read(String(id), () => this.redis.hget(this.key, String(id))));
  }

  /** `get` as part of a batch of reads sent together (not sent at all when kept). */
  getIn(batch: Batch, id: number): Promise<T | undefined> {
    return this.read(String(id), () => batch.add<string | null>((p, reply) => p.hget(this.key, String(id), reply))).then((raw) => parse<T>(raw));
  }

  async list(): Promise<T[]> {
    return parseAll<T>(await this.read(LIST, () => this.redis.hvals(this.key)));
  }

  /** `list` as part of a batch of reads sent together (not sent at all when kept). */
  listIn(batch: Batch): Promise<T[]> {
    return this.read(LIST, () => batch.add<string[]>((p, reply) => p.hvals(this.key, reply))).then((all) => parseAll<T>(all));
  }

  async put(record: T): Promise<T> {
    await this.redis.hset(this.key, String(record.id), JSON.stringify(record));
    await this.changed();
    return record;
  }

  /**
   * A record written by `write` (a script that writes other keys in the same step), given the hash's
   * key, the field and the JSON; the cache hears of it as of `put`.
   */
  async writeWith<R>(record: T, write: (hash: string, field: string, json: string) => Promise<R>): Promise<R> {
    const outcome = await write(this.key, String(record.id), JSON.stringify(record));
    await this.changed();
    return outcome;
  }

  /** Sets some fields of a record, keeping the others as they are in Redis (see `change`). */
  update(id: number, patch: Partial<T>): Promise<T | undefined> {
    return this.change(id, (current) => ({ ...current, ...patch }));
  }

  /**
   * Changes a record from its value in Redis (never from a kept copy): `next` gets it and answers
   * the new one (it may throw to refuse). The write is refused if another change landed since the
   * read, and `next` runs again on the record as it is then, so concurrent changes all land.
   * `write` stores it (by default the record alone; see SwapWrite). Undefined when there is no such record.
   */
  change(id: number, next: (current: T) => T | Promise<T>, write: SwapWrite<T> = (args) => this.swap(args)): Promise<T | undefined> {
    return this.fromRedis(id, async ({ hash, field, read, before }) => {
      const record = { ...(await next(before)), id };
      return (await write({ hash, field, read, json: JSON.stringify(record), record, before })) ? record : AGAIN;
    });
  }

  /**
   * Deletes a record with `remove` (a script that changes other keys in the same step, from the
   * record as read), which answers false when the record changed since: then it is read and removed
   * anew. False when there is no such record.
   */
  async deleteWith(id: number, remove: (args: RecordRead<T>) => Promise<boolean>): Promise<boolean> {
    return (await this.fromRedis(id, async (args) => ((await remove(args)) ? true : AGAIN))) ?? false;
  }

  /** Reads the record from Redis and runs `attempt` on it until it does not answer AGAIN; undefined when there is none. */
  private async fromRedis<R>(id: number, attempt: (args: RecordRead<T>) => Promise<R | typeof AGAIN>): Promise<R | undefined> {
    const field = String(id);
    for (let tries = 0; tries < CHANGE_TRIES; tries++) {
      const read = await this.redis.hget(this.key, field);
      const before = parse<T>(read);
      if (!before) return undefined;
      const outcome = await attempt({ hash: this.key, field, read: read!, before });
      if (outcome === AGAIN) continue;
      await this.changed();
      return outcome;
    }
    throw new Error(`${this.kind} ${id} was changed by others ${CHANGE_TRIES} times while this change was being made; try again`);
  }

  private swapScript?: ReturnType<typeof script>;
  private async swap({ hash, field, read, json }: Parameters<SwapWrite<T>>[0]): Promise<boolean> {
    this.swapScript ??= script(this.redis, 'record-swap');
    return (await this.swapScript(hash, field, read, json)) === 1;
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
