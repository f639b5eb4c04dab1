import { randomUUID } from 'node:crypto';
import type { TaskParams } from '../../protocol/records.js';
import type { AppContext } from '../context.js';
import { keys } from '../redis/keys.js';
import { Collection } from '../store/collection.js';

/** Semaphore's Integration: an inbound webhook that starts `template_id`. */
export interface Integration {
  id: number; project_id: number; name: string; template_id: number;
  auth_method: AuthMethod; auth_secret_id: number | null; auth_header: string; searchable: boolean; task_params: TaskParams;
}
export const AUTH_METHODS = ['none', 'token', 'hmac', 'github', 'bitbucket', 'basic'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

export interface Matcher {
  id: number; integration_id: number; name: string; match_type: 'body' | 'header'; method: 'equals' | 'unequals' | 'contains';
  body_data_type: 'json' | 'string'; key: string; value: string;
}
export interface ExtractValue {
  id: number; integration_id: number; name: string; value_source: 'body' | 'header'; body_data_type: 'json' | 'string';
  key: string; variable: string;
  /** `environment`: an environment variable of the task; `task`: a task variable (extra var, or a survey answer). */
  variable_type: 'environment' | 'task';
}
/** An integration's alias, or with `integration_id` null a project's (it reaches the project's searchable integrations). */
export interface Alias { id: number; project_id: number; integration_id: number | null; alias: string }

/** One call of a webhook: accepted (and the task it started) or rejected, and why. */
export interface Delivery {
  id: string; integration_id: number; time: string; status: 'accepted' | 'rejected'; reason: string; task_id: number | null;
  http_status: number; event: string;
}

const KEEP_DELIVERIES = 200;

export const integrationStores = (ctx: AppContext) => ({
  integrations: (projectId: number) => new Collection<Integration>(ctx.redis, 'integrations', `p${projectId}`),
  matchers: (integrationId: number) => new Collection<Matcher>(ctx.redis, 'integration-matchers', `i${integrationId}`),
  values: (integrationId: number) => new Collection<ExtractValue>(ctx.redis, 'integration-values', `i${integrationId}`),
  aliases: (projectId: number) => new Collection<Alias>(ctx.redis, 'integration-aliases', `p${projectId}`),

  async aliasTarget(alias: string): Promise<{ project_id: number; integration_id: number | null } | undefined> {
    const raw = await ctx.redis.hget(keys.integrationAliases(), alias);
    return raw ? JSON.parse(raw) : undefined;
  },
  async indexAlias(record: Alias): Promise<void> {
    await ctx.redis.hset(keys.integrationAliases(), record.alias, JSON.stringify({ project_id: record.project_id, integration_id: record.integration_id }));
  },
  async unindexAlias(alias: string): Promise<void> {
    await ctx.redis.hdel(keys.integrationAliases(), alias);
  },

  async record(delivery: Omit<Delivery, 'id' | 'time'>): Promise<Delivery> {
    const full: Delivery = { id: randomUUID(), time: new Date().toISOString(), ...delivery };
    const key = keys.integrationDeliveries(delivery.integration_id);
    await ctx.redis.multi().lpush(key, JSON.stringify(full)).ltrim(key, 0, KEEP_DELIVERIES - 1).exec();
    return full;
  },
  async deleteDeliveries(integrationId: number): Promise<void> {
    await ctx.redis.del(keys.integrationDeliveries(integrationId));
  },
  async deliveries(integrationId: number, limit = 100): Promise<Delivery[]> {
    return (await ctx.redis.lrange(keys.integrationDeliveries(integrationId), 0, limit - 1)).map((raw) => JSON.parse(raw) as Delivery);
  },
});
