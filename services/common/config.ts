import { isIP } from 'node:net';
import { resolve } from 'node:path';
import dotenvFlow from 'dotenv-flow';
import { z } from 'zod';
import { readJsoncFile } from '../../protocol/jsonc.js';
import { envBoolean, envInt, parseOrThrow } from '../../protocol/validation.js';

/** One OpenID Connect provider (keys and defaults as Semaphore's `oidc_providers`, plus `match_claim`). */
export const oidcProviderSchema = z
  .object({
    display_name: z.string().trim().max(100).default(''),
    provider_url: z.string().url('expected the issuer URL, under which /.well-known/openid-configuration is served'),
    client_id: z.string().min(1, 'expected the client id registered at the provider'),
    client_secret: z.string().default(''),
    /** Empty: web_host (or the address the browser used) + /api/auth/oidc/<id>/redirect. */
    redirect_url: z.string().url().or(z.literal('')).default(''),
    scopes: z.array(z.string().min(1)).default(['openid', 'profile', 'email']),
    username_claim: z.string().min(1).default('preferred_username'),
    email_claim: z.string().min(1).default('email'),
    name_claim: z.string().min(1).default('preferred_username'),
    /** Which claim finds an existing Forge user: the e-mail claim (against e-mail addresses) or the username claim (against logins). */
    match_claim: z.enum(['email', 'username']).default('email'),
  })
  .strict();
export type OidcProviderConfig = z.infer<typeof oidcProviderSchema>;

/** An environment variable holds JSON text where the file holds an object (empty: none). */
const jsonText = (value: unknown) => {
  if (typeof value !== 'string') return value;
  if (value.trim() === '') return {};
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
};

/**
 * The server's options. Each key is also read from the environment as FORGE_<KEY> (upper case);
 * the environment overrides the file. Defaults here are the ones the README documents.
 */
export const serverConfigSchema = z
  .object({
    host: z.string().default('0.0.0.0'),
    port: envInt(0, 65535).default(3000),
    web_host: z.string().url('expected a URL such as https://forge.example.com').or(z.literal('')).default(''),
    tmp_path: z.string().min(1).default('/tmp/forge'),
    data_dir: z.string().min(1).default('./data'),
    redis_url: z.string().default(''),
    use_remote_runner: envBoolean.default(false),
    runner_registration_token: z.string().default(''),
    access_key_encryption: z.string().default(''),
    max_parallel_tasks: envInt(1, 1000).default(4),
    max_task_duration_sec: envInt(0).default(0),
    max_output_bytes: envInt(1024).default(10 * 1024 * 1024),
    runner_lease_sec: envInt(2, 60).default(30),
    long_poll_sec: envInt(1, 120).default(25),
    stop_timeout_sec: envInt(1, 3600).default(30),
    wake_sweep_ms: envInt(100, 2000).default(1000),
    ssh_config_path: z.string().default(''),
    git_client: z.enum(['cmd_git', 'go_git']).default('cmd_git'),
    max_body_bytes: envInt(1024).default(1024 * 1024),
    session_ttl_sec: envInt(60).default(7 * 24 * 3600),
    events_retention: envInt(100, 10_000_000).default(10_000),
    tls_cert_file: z.string().default(''),
    tls_key_file: z.string().default(''),
    /** Proxies whose X-Forwarded-For/-Proto are believed (addresses, CIDRs, or loopback/linklocal/uniquelocal); none by default. */
    trusted_proxies: z
      .union([z.array(z.string()), z.string()])
      .default([])
      .transform((value) => (Array.isArray(value) ? value : value.split(',')).map((s) => s.trim()).filter(Boolean))
      .pipe(z.array(z.string().refine(isProxyAddress, 'expected an IP address, a CIDR such as 10.0.0.0/8, or loopback, linklocal, uniquelocal'))),
    metrics_token: z.string().default(''),
    admin_login: z.string().default(''),
    admin_password: z.string().default(''),
    admin_email: z.string().default(''),
    admin_name: z.string().default(''),
    log_level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    sandbox: z.enum(['bwrap', 'none'], { message: 'expected "bwrap" (tasks isolated, the default) or "none" (no isolation)' }).default('bwrap'),
    task_user: z.string().default('forge-task'),
    schedule_timezone: z.string().default('UTC').refine(isTimeZone, 'expected an IANA time zone such as UTC or Europe/Berlin'),
    schedule_missed_after_sec: envInt(1).default(60),
    email_host: z.string().default(''),
    email_port: envInt(1, 65535).default(25),
    email_secure: envBoolean.default(false),
    email_username: z.string().default(''),
    email_password: z.string().default(''),
    email_sender: z.string().default('forge@localhost'),
    telegram_api_url: z.string().url().default('https://api.telegram.org'),
    notification_attempts: envInt(1, 50).default(8),
    notification_backoff_ms: envInt(10, 3_600_000).default(2000),
    /** OpenID Connect login providers by id (the id is part of the login and redirect paths); FORGE_OIDC_PROVIDERS takes the same object as JSON. */
    oidc_providers: z.preprocess(jsonText, z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a provider id is 1-64 letters, digits, "_" or "-"'), oidcProviderSchema)).default({}),
  })
  .strict();

/** True for a time zone name Intl knows (IANA names, and UTC). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export type ServerConfig = z.infer<typeof serverConfigSchema>;

function isProxyAddress(value: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(value)) return true;
  const [address, prefix, extra] = value.split('/');
  const family = isIP(address ?? '');
  if (!family || extra !== undefined) return false;
  return prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** Loads .env files (dotenv-flow precedence) into process.env without overriding real variables. */
export function loadDotenv(cwd = process.cwd()): void {
  dotenvFlow.config({ path: cwd, silent: true });
}

/** Picks FORGE_<KEY> variables for the keys of a schema. */
export function envOverrides(keys: string[], env: NodeJS.ProcessEnv = process.env, prefix = 'FORGE_'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of keys) {
    const value = env[prefix + key.toUpperCase()];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

export interface LoadOptions {
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: Partial<Record<keyof ServerConfig, unknown>>;
}

export function loadServerConfig(options: LoadOptions = {}): ServerConfig {
  const env = options.env ?? process.env;
  const fileValues = options.configFile ? readJsoncFile(options.configFile) : {};
  if (typeof fileValues !== 'object' || fileValues === null || Array.isArray(fileValues)) {
    throw new Error(`${options.configFile}: expected a JSON object`);
  }
  const merged = {
    ...(fileValues as Record<string, unknown>),
    ...envOverrides(Object.keys(serverConfigSchema.shape), env),
    ...(options.overrides ?? {}),
  };
  const config = parseOrThrow(serverConfigSchema, merged, 'config');
  config.data_dir = resolve(config.data_dir);
  if (Boolean(config.tls_cert_file) !== Boolean(config.tls_key_file)) {
    throw new Error('config.tls_cert_file and config.tls_key_file go together: set both to serve HTTPS, or neither');
  }
  return config;
}
