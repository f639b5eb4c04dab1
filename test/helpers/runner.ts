/**
 * Real runner processes (`node bin/run.js runner start --config FILE`) for a test Forge. A runner
 * is added through the API (POST /api/runners or /api/project/:id/runners; the token comes back
 * once) and started with a config file written like the seed's; the harness waits for its
 * "ready and waiting" line. The runner's log is kept, so tests can read which tasks it ran.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Forge } from './forge.js';
import { BIN } from './forge.js';
import { exitOf, onCleanup, stopChild, tempDir, trackChild } from './util.js';

export interface RunnerOptions {
  name?: string;
  tags?: string[];
  maxParallel?: number;
  /** Server-side limit stored on the runner record (0 = none). */
  serverMaxParallel?: number;
  projectId?: number;
  oneOff?: boolean;
  webhook?: string;
  /** Use this token instead of adding a runner through the API. */
  token?: string;
  /** Point the runner at another address (e.g. a proxy in front of Forge). */
  webHost?: string;
  /** More keys for the "runner" section of the config. */
  runnerConfig?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Wait for the ready line (default true). */
  waitReady?: boolean;
}

export interface TestRunner {
  id: number;
  token: string;
  name: string;
  configPath: string;
  dir: string;
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logs(): string;
  /** Task ids this runner logged as started. */
  startedTasks(): number[];
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let counter = 0;

/** Adds a runner through the API; answers its id and one-time token. */
export async function addRunner(forge: Forge, options: RunnerOptions = {}): Promise<{ id: number; token: string; name: string }> {
  const name = options.name ?? `runner-${++counter}`;
  const path = options.projectId ? `/api/project/${options.projectId}/runners` : '/api/runners';
  const body = await forge.api.json('POST', path, { name, tags: options.tags ?? [], max_parallel_tasks: options.serverMaxParallel ?? 0 });
  return { id: body.id, token: body.token, name };
}

/** Writes a runner config file for `token` and starts `forge runner start` with it. */
/** A runner's request as its own HTTP client would send it. */
export async function asRunner(forge: Forge, token: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${forge.url}/api/internal/runners${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': token }, body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function startRunner(forge: Forge, options: RunnerOptions = {}): Promise<TestRunner> {
  const added = options.token ? { id: 0, token: options.token, name: options.name ?? `runner-${++counter}` } : await addRunner(forge, options);
  const dir = tempDir('forge-runner-');
  const configPath = join(dir, 'runner.json');
  writeFileSync(configPath, `{
  // written by the test harness, in the seed's format
  "tmp_path": ${JSON.stringify(join(dir, 'work'))},
  "web_host": ${JSON.stringify(options.webHost ?? forge.url)},
  "runner": ${JSON.stringify({
    token: added.token, private_key_file: join(dir, 'runner.key'), name: added.name,
    max_parallel_tasks: options.maxParallel ?? 1, one_off: options.oneOff ?? false, webhook: options.webhook ?? '',
    tags: options.tags ?? [], drain_timeout_sec: 60, ...(options.runnerConfig ?? {}),
  }, null, 2)}
}
`);
  const spawned = await spawnRunner(configPath, { cwd: dir, env: options.env, waitReady: options.waitReady, inherit: forge.env });
  return {
    ...added, configPath, dir, ...spawned,
    startedTasks: () => [...spawned.logs().matchAll(/task started \{"task_id":(\d+)/g)].map((m) => Number(m[1])),
    stop: (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000) => stopChild(spawned.process, signal, timeoutMs),
  };
}

export interface RunnerProcess {
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logs(): string;
}

/**
 * Spawns `node bin/run.js runner start --config FILE` and (unless told not to) waits for its
 * "ready and waiting" line. The runner gets the environment of `inherit` (default: this process)
 * without any FORGE_* setting and without a test's relaxed TLS checks, plus `env`.
 */
export async function spawnRunner(configPath: string, options: { cwd?: string; env?: Record<string, string>; waitReady?: boolean; inherit?: NodeJS.ProcessEnv } = {}): Promise<RunnerProcess> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(options.inherit ?? process.env)) {
    if (!key.startsWith('FORGE_') && key !== 'NODE_TLS_REJECT_UNAUTHORIZED') env[key] = value;
  }
  Object.assign(env, { FORGE_LOG_LEVEL: 'info', ...(options.env ?? {}) });
  const child = trackChild(spawn(process.execPath, [BIN, 'runner', 'start', '--config', configPath], { cwd: options.cwd ?? dirname(configPath), env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let log = '';
  const exited = exitOf(child);
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('ready and waiting for tasks')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(({ code, signal }) => reject(new Error(`runner exited (${code ?? signal}) before it was ready:\n${log}`)));
  });
  onCleanup(() => stopChild(child, 'SIGKILL', 2000));
  if (options.waitReady !== false) await ready;
  else ready.catch(() => {});
  return { process: child, exited, logs: () => log };
}
