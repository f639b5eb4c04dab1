import type { RedisClient } from '../redis/connection.js';
import { channels } from '../redis/keys.js';

/**
 * How long a kept reply may be used with no change announced: bounds what a missed message (or
 * a writer that does not announce, such as an older server during an upgrade) can leave stale.
 */
const KEEP_MS = 60_000;
/** Past this many kept replies everything is dropped (projects × kinds on a large installation). */
const MAX_KEPT = 10_000;
/**
 * Nor more than this many characters of them: a record may be large (a static inventory, an
 * environment's JSON), and memory must not grow with what users store. A reply larger than a
 * sixteenth of it is not kept at all.
 */
const MAX_CHARS = 64 * 1024 * 1024;

/** A field's reply (`HGET`), or a whole hash's (`HVALS`, kept under LIST). */
export type Reply = string | null | string[];
export const LIST = '*';

/**
 * Replies of the record reads on every task's path, kept by this process: creating a task reads
 * its project and template, a claim its template, repository, environment, inventory, keys and
 * host configs, and they change rarely. Replies are kept raw (each read parses its own copy, so
 * no caller can change another's record).
 *
 * A write through a Collection drops the hash's replies here at once and announces the hash on
 * `channels.recordChanges`; every other process drops them on the message (`forget`), and all of
 * them when its subscription reconnects (messages may have been missed). A reply read while a
 * change was announced is used once, not kept. Another process's request sees the change once
 * the message has reached it: the message is on its subscriber socket before the writer answers
 * (so before a client that waited for that answer can send its next request), and a process
 * handles the readable sockets of one turn in the order they became readable.
 */
export class RecordCache {
  private readonly kept = new Map<string, Map<string, { reply: Reply; until: number; chars: number }>>();
  private size = 0;
  private chars = 0;
  private generation = 0;

  constructor(private readonly redis: RedisClient) {}

  /** The kept reply for `hash`/`field`, if any. */
  lookup(hash: string, field: string): Reply | undefined {
    const entry = this.kept.get(hash)?.get(field);
    if (!entry) return undefined;
    if (entry.until > Date.now()) return entry.reply;
    this.kept.get(hash)!.delete(field);
    this.size--;
    this.chars -= entry.chars;
    return undefined;
  }

  /** Marks the start of a read: `keep` with this mark keeps its reply only if nothing changed meanwhile. */
  mark(): number {
    return this.generation;
  }

  keep(hash: string, field: string, reply: Reply, mark: number, keepMs = KEEP_MS): void {
    if (mark !== this.generation) return;
    const chars = typeof reply === 'string' ? reply.length : Array.isArray(reply) ? reply.reduce((sum, item) => sum + item.length, 0) : 0;
    if (chars > MAX_CHARS / 16) return;
    if (this.size >= MAX_KEPT || this.chars + chars > MAX_CHARS) this.forget();
    let fields = this.kept.get(hash);
    if (!fields) this.kept.set(hash, (fields = new Map()));
    const before = fields.get(field);
    if (before) this.chars -= before.chars;
    else this.size++;
    fields.set(field, { reply, until: Date.now() + keepMs, chars });
    this.chars += chars;
  }

  /** The kept reply, else `load`'s (kept for the next read). */
  async read<R extends Reply>(hash: string, field: string, load: () => Promise<R>): Promise<R> {
    const found = this.lookup(hash, field);
    if (found !== undefined) return found as R;
    const mark = this.mark();
    const reply = await load();
    this.keep(hash, field, reply, mark);
    return reply;
  }

  /** A write to `hash` is done: dropped here, and announced so every other process drops it. */
  async changed(hash: string): Promise<void> {
    this.forget(hash);
    await this.redis.publish(channels.recordChanges, JSON.stringify({ hash }));
  }

  /** Drops what is kept of one hash, or of every hash. */
  forget(hash?: string): void {
    this.generation++;
    if (hash === undefined) {
      this.kept.clear();
      this.size = 0;
      this.chars = 0;
      return;
    }
    const fields = this.kept.get(hash);
    if (!fields) return;
    this.size -= fields.size;
    for (const entry of fields.values()) this.chars -= entry.chars;
    this.kept.delete(hash);
  }
}
