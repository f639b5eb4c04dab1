import type { ChainableCommander } from 'ioredis';
import type { Batch } from '../redis/batch.js';
import type { RedisClient } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { SpareIds } from './spare-id.js';
import type { AuditEvent } from '../common/model.js';

export type NewAuditEvent = Omit<AuditEvent, 'id' | 'created'>;

const TRIM_EVERY = 16;

/**
 * Who did what to which object: one Redis list for everything and one per project, newest first.
 * Reads return the newest `retention` entries; a list is trimmed to that in the same step as one
 * write in TRIM_EVERY on average (at random, so no pattern of writes across projects escapes it),
 * so it holds a few dozen entries more at times and most writes cost one command per list, not two.
 */
export class AuditLog {
  private readonly ids: SpareIds;

  constructor(private readonly redis: RedisClient, private readonly retention: number) {
    this.ids = new SpareIds(redis, keys.seq('event'));
  }

  async record(fields: NewAuditEvent): Promise<AuditEvent> {
    const event = this.event(await this.reserveId(), fields);
    await this.writeIn(this.redis.multi(), event).exec();
    return event;
  }

  /** An event id taken ahead, so the event can be written in the same MULTI as what it records (see SpareIds). */
  reserveId(): Promise<number> {
    return this.ids.take();
  }

  /** reserveId with its read, when one is needed, part of a batch of commands sent together. */
  reserveIdIn(batch: Batch): Promise<number> {
    return this.ids.take(batch);
  }

  event(id: number, fields: NewAuditEvent): AuditEvent {
    return { id, created: new Date().toISOString(), ...fields };
  }

  /** Adds the writes that store `event` to a MULTI (every audit key is in the {forge} slot). */
  writeIn(multi: ChainableCommander, event: AuditEvent): ChainableCommander {
    const text = JSON.stringify(event);
    const lists = event.project_id === null ? [keys.events()] : [keys.events(), keys.events(event.project_id)];
    for (const list of lists) {
      multi.lpush(list, text);
      if (Math.random() * TRIM_EVERY < 1) multi.ltrim(list, 0, this.retention - 1);
    }
    return multi;
  }

  /** Newest first; `projectId` limits to one project's list, `limit` to the newest so many. */
  async list(options: { projectId?: number; limit?: number } = {}): Promise<AuditEvent[]> {
    const raw = await this.redis.lrange(keys.events(options.projectId), 0, (options.limit ?? this.retention) - 1);
    return raw.map((text) => JSON.parse(text) as AuditEvent);
  }

  async deleteProject(projectId: number): Promise<void> {
    await this.redis.del(keys.events(projectId));
  }
}
