import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { applyEdits, modify } from 'jsonc-parser';
import { z } from 'zod';
import { parseJsonc } from '../../protocol/jsonc.js';
import { envBoolean, envInt, parseOrThrow, tagName } from '../../protocol/validation.js';

/**
 * The runner's config file, as seed-runners.md shows it: top-level settings shared with the
 * server's file (tmp_path, web_host, git_client, ssh_config_path) and runner options under
 * "runner". Comments are allowed. Every key can also come from FORGE_<KEY> / FORGE_RUNNER_<KEY>.
 */
const tags = z.union([z.array(tagName), z.string().transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean)).pipe(z.array(tagName))]);

export const runnerSectionSchema = z
  .object({
    token: z.string().default(''),
    token_file: z.string().default(''),
    private_key_file: z.string().default(''),
    name: z.string().trim().max(200).default(''),
    tags: tags.default([]),
    max_parallel_tasks: envInt(1, 1000).default(1),
    webhook: z.string().url('expected an http(s) URL').or(z.literal('')).default(''),
    one_off: envBoolean.default(false),
    project_id: envInt(1).optional(),
    tls_ca_file: z.string().default(''),
    tls_insecure_skip_verify: envBoolean.default(false),
    drain_timeout_sec: envInt(0).default(600),
  })
  .strict();

export const runnerConfigSchema = z
  .object({
    tmp_path: z.string().min(1).default('/tmp/forge'),
    web_host: z.string().url('expected the Forge server address, e.g. https://forge.example.com').or(z.literal('')).default(''),
    git_client: z.enum(['cmd_git', 'go_git']).default('cmd_git'),
    ssh_config_path: z.string().default(''),
    log_level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    sandbox: z.enum(['bwrap', 'none'], { message: 'expected "bwrap" (tasks isolated, the default) or "none" (no isolation)' }).default('bwrap'),
    task_user: z.string().default('forge-task'),
    runner: runnerSectionSchema.default(runnerSectionSchema.parse({})),
  })
  .passthrough();

export type RunnerConfig = z.infer<typeof runnerConfigSchema>;
const TOP_KEYS = ['tmp_path', 'web_host', 'git_client', 'ssh_config_path', 'log_level', 'sandbox', 'task_user'] as const;

export interface LoadedRunnerConfig {
  path: string | undefined;
  config: RunnerConfig;
  /** The token, from runner.token or the runner.token_file. */
  token: string;
  privateKeyFile: string;
}

function readFileValues(path: string | undefined): Record<string, unknown> {
  if (!path || !existsSync(path)) return {};
  const value = parseJsonc(readFileSync(path, 'utf8'), path);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${path}: expected a JSON object`);
  return value as Record<string, unknown>;
}

export function loadRunnerConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env, options: { mustExist?: boolean } = {}): LoadedRunnerConfig {
  const file = path ? resolve(path) : undefined;
  if (options.mustExist && file && !existsSync(file)) {
    throw new Error(`config file ${file} does not exist: create it with forge runner setup --config ${path}`);
  }
  const values = readFileValues(file);
  for (const key of TOP_KEYS) if (env[`FORGE_${key.toUpperCase()}`] !== undefined) values[key] = env[`FORGE_${key.toUpperCase()}`];
  const runner = { ...((values.runner as Record<string, unknown>) ?? {}) };
  for (const key of Object.keys(runnerSectionSchema.shape)) {
    const value = env[`FORGE_RUNNER_${key.toUpperCase()}`];
    if (value !== undefined) runner[key] = value;
  }
  values.runner = runner;
  const config = parseOrThrow(runnerConfigSchema, values, file ? file.replace(/^.*\//, '') : 'config');
  const base = file ? dirname(file) : process.cwd();
  const tokenFile = config.runner.token_file ? resolve(base, config.runner.token_file) : '';
  // With a token_file, the file wins: register writes there.
  const token = tokenFile && existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : config.runner.token;
  const privateKeyFile = config.runner.private_key_file
    ? resolve(base, config.runner.private_key_file)
    : file ? `${file.replace(/\.jsonc?$/, '')}.key` : resolve(config.tmp_path, 'runner.key');
  if (!config.runner.name) config.runner.name = hostname();
  return { path: file, config, token, privateKeyFile };
}

/** Edits one key of a JSON file in place, keeping the user's comments and layout. */
export function editJsonFile(path: string, keyPath: (string | number)[], value: unknown): void {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '{}\n';
  const edits = modify(text, keyPath, value, { formattingOptions: { insertSpaces: true, tabSize: 2, eol: '\n' } });
  writeFileSync(path, applyEdits(text, edits), { mode: 0o600 });
}

/** Stores a new token where the config says tokens live: runner.token_file, else runner.token. */
export function saveToken(loaded: LoadedRunnerConfig, token: string): string {
  if (loaded.config.runner.token_file) {
    const base = loaded.path ? dirname(loaded.path) : process.cwd();
    const tokenFile = resolve(base, loaded.config.runner.token_file);
    mkdirSync(dirname(tokenFile), { recursive: true });
    writeFileSync(tokenFile, token ? token + '\n' : '', { mode: 0o600 });
    return tokenFile;
  }
  if (!loaded.path) throw new Error('no config file to store the token in: pass --config FILE');
  editJsonFile(loaded.path, ['runner', 'token'], token === '' ? undefined : token);
  return loaded.path;
}
