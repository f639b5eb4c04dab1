import type { ServerConfig } from './common/config.js';
import type { TaskQueues } from './dispatch/queues.js';
import type { EventBus } from './events.js';
import type { GatewayCore } from './gateway/core.js';
import type { Metrics } from './metrics.js';
import type { RedisClient } from './redis/connection.js';
import type { Stores } from './store/stores.js';

/** What every router and service of one server process shares. */
export interface AppContext {
  config: ServerConfig;
  redis: RedisClient;
  /**
   * BullMQ's own connection (completion, schedule and notification queues). Kept apart because
   * BullMQ defines its ~60 Lua scripts on the connection it gets, and ioredis copies every script
   * of a connection into each MULTI and pipeline made on it (~90 µs each with them, ~7 without).
   */
  queueRedis: RedisClient;
  stores: Stores;
  queues: TaskQueues;
  core: GatewayCore;
  bus: EventBus;
  metrics: Metrics;
  version: string;
}
