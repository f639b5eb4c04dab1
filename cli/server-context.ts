import { Flags } from '@oclif/core';
import { loadDotenv, loadServerConfig, type ServerConfig } from '../services/common/config.js';
import { createRedis, waitReady } from '../services/redis/connection.js';
import { startEmbeddedRedis } from '../services/redis/embedded.js';
import { Stores } from '../services/store/stores.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const configFlag = Flags.string({ char: 'c', description: 'server config file (JSON, comments allowed); FORGE_* variables override it' });

export function serverConfig(configFile?: string): ServerConfig {
  loadDotenv();
  return loadServerConfig({ configFile });
}

/**
 * Opens the server's stores for an admin command: the configured Redis, or the embedded one
 * (adopted if the server is running, started for the command's duration if not).
 */
export async function withStores<T>(config: ServerConfig, fn: (stores: Stores) => Promise<T>): Promise<T> {
  const embedded = config.redis_url ? undefined : await startEmbeddedRedis(config.data_dir);
  const url = config.redis_url || embedded!.url;
  const redis = createRedis(url);
  redis.on('error', () => {});
  try {
    await waitReady(redis, url);
    const keyFile = join(config.data_dir, 'access_key_encryption');
    const key = config.access_key_encryption || (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : 'unused-by-admin-commands');
    return await fn(new Stores(redis, { encryptionKey: key, outputCapBytes: config.max_output_bytes, runnerOnlineWindowMs: 5000 }));
  } finally {
    redis.disconnect();
    await embedded?.stop();
  }
}
