import type { RedisClient } from './connection.js';

type ScriptRunner = (...keysAndArgs: string[]) => Promise<unknown>;

/**
 * A Lua script registered once on the connection, so calls send its SHA (EVALSHA) rather than
 * the whole script; ioredis falls back to EVAL when a server has not seen it yet.
 */
export function defineScript(redis: RedisClient, name: string, numberOfKeys: number, lua: string): ScriptRunner {
  const client = redis as unknown as Record<string, ScriptRunner> & { defineCommand(n: string, d: { numberOfKeys: number; lua: string }): void };
  if (typeof client[name] !== 'function') client.defineCommand(name, { numberOfKeys, lua });
  return (...keysAndArgs) => client[name]!(...keysAndArgs);
}
