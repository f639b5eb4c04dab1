import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../../protocol/version.js';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './connection.js';

const commandOf = (name: ScriptName) => `forge_${name.replace(/-/g, '_')}`;

type ScriptRunner = (...keysAndArgs: string[]) => Promise<unknown>;

/** Every Lua script Forge runs, by file name in services/redis/lua/, with its number of KEYS. */
const SCRIPTS = {
  'task-transition': 9,
  'output-append': 2,
  'output-notice': 2,
  'lease-heartbeat': 5,
  'lease-check': 2,
  'lease-expired': 4,
  'workflow-run-step': 2,
  'queue-add': 2,
  'queue-claim': 2,
  'queue-claim-move': 11,
  'queue-requeue': 2,
  'queue-retire': 2,
  'queue-migrate': 6,
  'auth-user': 2,
  'user-write': 3,
  'user-delete': 3,
  'record-swap': 1,
} as const;
export type ScriptName = keyof typeof SCRIPTS;

/**
 * Where the .lua files are: the source folder when this is a checkout (so an edited script is
 * used without a rebuild), else next to the compiled module (the build copies them there).
 */
function luaDir(): string {
  const source = join(projectRoot(), 'services', 'redis', 'lua');
  return existsSync(source) ? source : join(dirname(fileURLToPath(import.meta.url)), 'lua');
}

/**
 * Scripts made of others: each part comes first as a local function of its own KEYS and ARGV
 * (a chunk's top-level `return` returns from it), then the script's file, which calls them.
 */
const COMPOSED: Partial<Record<ScriptName, Record<string, ScriptName>>> = {
  'queue-claim-move': { claim: 'queue-claim', transition: 'task-transition' },
};

/** Every script's name. */
export const scriptNames = (): ScriptName[] => Object.keys(SCRIPTS) as ScriptName[];

const sources = new Map<ScriptName, string>();
/** A script's Lua as Redis runs it (composed ones with their parts). */
export function scriptSource(name: ScriptName): string {
  let lua = sources.get(name);
  if (lua === undefined) {
    const parts = Object.entries(COMPOSED[name] ?? {}).map(([fn, part]) => `local function ${fn}(KEYS, ARGV)\n${scriptSource(part)}\nend\n`);
    lua = parts.join('') + readFileSync(join(luaDir(), `${name}.lua`), 'utf8');
    sources.set(name, lua);
  }
  return lua;
}

/**
 * A Lua script registered once on the connection, so calls send its SHA (EVALSHA) rather than
 * the whole script; ioredis falls back to EVAL when a server has not seen it yet. Each file
 * starts with a header that names its KEYS and ARGV, as BullMQ's scripts do.
 */
export function script(redis: RedisClient, name: ScriptName): ScriptRunner {
  const command = commandOf(name);
  const client = redis as unknown as Record<string, ScriptRunner> & { defineCommand(n: string, d: { numberOfKeys: number; lua: string }): void };
  if (typeof client[command] !== 'function') client.defineCommand(command, { numberOfKeys: SCRIPTS[name], lua: scriptSource(name) });
  return (...keysAndArgs) => client[command]!(...keysAndArgs);
}

/**
 * A script's call queued on a MULTI or pipeline, whose reply comes with the others'. `script` must
 * have registered it on the client before the MULTI was made (a pipeline takes the client's
 * scripts when it is made).
 */
export function scriptIn(pipeline: ChainableCommander, name: ScriptName, ...keysAndArgs: string[]): void {
  const queue = (pipeline as unknown as Record<string, ((...args: string[]) => unknown) | undefined>)[commandOf(name)];
  if (!queue) throw new Error(`script ${name} is not registered on this connection`);
  queue.apply(pipeline, keysAndArgs);
}
