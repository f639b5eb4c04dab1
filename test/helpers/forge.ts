/**
 * Starts the real Forge server as a child process (`node bin/run.js server`), the way users do,
 * in its own temp folders (data dir with the embedded redis, task work dir, TMPDIR and HOME),
 * on a port the OS picks, bound to 127.0.0.1. Each test file starts its own, so files run in
 * parallel without sharing anything. `runForgeCli` runs any other CLI command with the same
 * environment (e.g. `forge user add` against the running server's Redis).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from './api.js';
import { ensureBuilt } from './build.js';
import { startRedis } from './redis.js';
import { type CommandResult, exitOf, isProcessAlive, onCleanup, projectRoot, run, stopChild, tempDir, trackChild, trackPid } from './util.js';

export const ADMIN_LOGIN = 'admin';
export const ADMIN_PASSWORD = 'admin-password-123';
export const BIN = join(projectRoot, 'bin', 'run.js');

export interface StartForgeOptions {
  /** Extra environment (FORGE_* settings and anything else); a value of undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** A config file: a path, or an object written to a JSON file and passed with --config. */
  configFile?: string | Record<string, unknown>;
  /** Reuse the folders of an earlier instance (a restart): pass its `dirs`. */
  dirs?: ForgeDirs;
  /** Log in as the admin and put the client in `api` (default true). */
  login?: boolean;
  /** How long to wait for the server to announce itself (default 60 s). */
  startTimeoutMs?: number;
}

export interface ForgeDirs {
  /** Holds everything of one Forge: data/, tmp/ (task work), home/ and tmpdir/. */
  root: string;
  data: string;
  tasks: string;
  home: string;
  tmpdir: string;
}

export interface Forge {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  dirs: ForgeDirs;
  /** The full environment the server runs with (reuse it for CLI commands). */
  env: NodeJS.ProcessEnv;
  /** Logged in as the admin (unless `login: false`). */
  api: ApiClient;
  process: ChildProcess;
  /** Pid of the embedded redis-server the server started, if it did. */
  redisPid: number | undefined;
  /** Pids of every embedded redis-server the server started, in order (more than one after a restart by its supervisor). */
  redisPids: readonly number[];
  /** Everything the server wrote to stdout and stderr so far. */
  logs(): string;
  /** Resolves when the server process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * SIGTERM and wait for the exit (SIGKILL after `timeoutMs`, by default longer than the server's own
   * stop deadline: stop_timeout_sec plus the embedded redis-server's grace); the embedded redis stops with it.
   */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Runs `node bin/run.js ...args` with this server's environment. */
  cli(args: string[], options?: { env?: Record<string, string | undefined>; input?: string }): Promise<CommandResult>;
}

/** Fresh folders for one Forge instance, removed by cleanup(). */
export function forgeDirs(): ForgeDirs {
  const root = tempDir('forge-server-');
  const dirs = { root, data: join(root, 'data'), tasks: join(root, 'tasks'), home: join(root, 'home'), tmpdir: join(root, 'tmpdir') };
  for (const dir of [dirs.home, dirs.tmpdir]) mkdirSync(dir, { recursive: true });
  return dirs;
}

/**
 * The environment for a Forge child: the caller's environment minus any FORGE_* variables (so a
 * developer's settings do not leak in), plus isolated folders and a known admin.
 */
export function forgeEnv(dirs: ForgeDirs, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('FORGE_')) env[key] = value;
  Object.assign(env, {
    NODE_ENV: 'test',
    HOME: dirs.home,
    TMPDIR: dirs.tmpdir,
    FORGE_HOST: '127.0.0.1',
    FORGE_PORT: '0',
    FORGE_DATA_DIR: dirs.data,
    FORGE_TMP_PATH: dirs.tasks,
    FORGE_ADMIN_LOGIN: ADMIN_LOGIN,
    FORGE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    FORGE_ACCESS_KEY_ENCRYPTION: 'test-encryption-key-0123456789abcdef',
    FORGE_LOG_LEVEL: 'info',
  });
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs a Forge CLI command to completion (cwd: a temp folder, so no .env file is picked up). */
export async function runForgeCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  await ensureBuilt();
  return run(process.execPath, [BIN, ...args], { env: options.env, cwd: options.cwd ?? tempDir('forge-cli-'), input: options.input, timeoutMs: options.timeoutMs ?? 60_000 });
}

/** Starts a Forge server and waits for its "Forge X is running at URL" line, then logs in. */
export async function startForge(options: StartForgeOptions = {}): Promise<Forge> {
  await ensureBuilt();
  const dirs = options.dirs ?? forgeDirs();
  const env = forgeEnv(dirs, options.env);
  const args = [BIN, 'server'];
  if (options.configFile) {
    let path = options.configFile;
    if (typeof path !== 'string') {
      path = join(dirs.root, `config-${Date.now()}.json`);
      writeFileSync(path, JSON.stringify(options.configFile, null, 2));
    }
    args.push('--config', path);
  }
  const child = trackChild(spawn(process.execPath, args, { cwd: dirs.root, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let log = '';
  const redisPids: number[] = [];
  let scannedTo = 0;
  const exited = exitOf(child);
  const ready = new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      stdout += chunk.toString();
      const match = /is running at (\S+)/.exec(stdout);
      // The announced URL is web_host, which a test may set to anything; the log line has the
      // address really listened on (it comes first, at the default log level).
      const listening = /Forge is listening \{"url":"([^"]+)"/.exec(log);
      if (match) resolve(listening?.[1] ?? match[1]!);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      // Every redis-server the server starts (its supervisor restarts a dead one) is ended at exit.
      const lines = log.slice(scannedTo);
      const complete = lines.lastIndexOf('\n') + 1;
      scannedTo += complete;
      for (const started of lines.slice(0, complete).matchAll(/embedded redis-server started .*"pid":(\d+)/g)) {
        redisPids.push(Number(started[1]));
        trackPid(Number(started[1]));
      }
    });
    void exited.then(({ code, signal }) => reject(new Error(`Forge exited (${code ?? signal}) before it was ready:\n${log}`)));
  });
  const stop = (timeoutMs = 45_000) => stopChild(child, 'SIGTERM', timeoutMs);
  onCleanup(async () => {
    await stopChild(child, 'SIGTERM', 5000);
    // If the server was SIGKILLed, its embedded redis-server is still running: end it too.
    for (const pid of redisPids) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  const timeoutMs = options.startTimeoutMs ?? 60_000; // generous: a loaded 2-core machine starting several servers at once
  let timer: NodeJS.Timeout | undefined;
  const announced = await Promise.race([
    ready,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`Forge did not start within ${timeoutMs} ms:\n${log}`)), timeoutMs))),
  ]).finally(() => clearTimeout(timer));
  const port = Number(new URL(announced).port);
  const url = `${new URL(announced).protocol}//127.0.0.1:${port}`;
  const api = new ApiClient(url);
  if (options.login !== false) await api.login(ADMIN_LOGIN, ADMIN_PASSWORD);

  return {
    url, port, dirs, env, api, process: child, exited,
    get redisPid() {
      return redisPids[0];
    },
    redisPids,
    logs: () => log,
    stop,
    kill: (signal: NodeJS.Signals = 'SIGKILL') => {
      child.kill(signal);
      return exited;
    },
    cli: (cliArgs, cliOptions = {}) => runForgeCli(cliArgs, { env: { ...env, ...cliOptions.env }, input: cliOptions.input }),
  };
}

/**
 * `count` servers on one fresh Redis, as replicas behind a balancer, started at once (so they race
 * for what a start creates, the admin first) with one encryption key and remote runners.
 */
export async function startReplicas(count: number): Promise<Forge[]> {
  const redis = await startRedis();
  const env = { FORGE_REDIS_URL: redis.url, FORGE_ACCESS_KEY_ENCRYPTION: 'shared-key-for-every-replica', FORGE_USE_REMOTE_RUNNER: 'True' };
  return Promise.all(Array.from({ length: count }, () => startForge({ env })));
}
