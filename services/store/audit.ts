import type { RedisClient } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import type { AuditEvent } from '../common/model.js';

export type NewAuditEvent = Omit<AuditEvent, 'id' | 'created'>;

/**
 * Who did what to which object: one Redis list for everything and one per project, newest first,
 * each trimmed to `retention` entries in the same step as the write.
 */
export class AuditLog {
  constructor(private readonly redis: RedisClient, private readonly retention: number) {}

  async record(fields: NewAuditEvent): Promise<AuditEvent> {
    const event: AuditEvent = { id: await this.redis.incr(keys.seq('event')), created: new Date().toISOString(), ...fields };
    const text = JSON.stringify(event);
    const multi = this.redis.multi().lpush(keys.events(), text).ltrim(keys.events(), 0, this.retention - 1);
    if (event.project_id !== null) multi.lpush(keys.events(event.project_id), text).ltrim(keys.events(event.project_id), 0, this.retention - 1);
    await multi.exec();
    return event;
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
