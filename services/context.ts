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
  stores: Stores;
  queues: TaskQueues;
  core: GatewayCore;
  bus: EventBus;
  metrics: Metrics;
  version: string;
}
