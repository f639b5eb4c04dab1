import { dirname, resolve } from 'node:path';
import { logger, setLogLevel } from '../../protocol/log.js';
import type { ClaimedJob, HelloAnswer, TaskResult } from '../../protocol/wire.js';
import { forgeVersion } from '../../protocol/version.js';
import { Agent } from '../agent.js';
import { detectCapabilities } from '../capabilities.js';
import { StatusError } from '../../protocol/peer.js';
import type { LoadedRunnerConfig } from './config.js';
import { ForgeHttpClient } from './http-client.js';
import { HttpPeer } from './http-peer.js';
import { loadOrCreateKeyPair } from './keys.js';
import { startSandbox } from '../executor/sandbox-start.js';

const log = logger('runner');

export type { HelloAnswer };

export function clientFor(loaded: LoadedRunnerConfig, token = loaded.token): ForgeHttpClient {
  if (!loaded.config.web_host) throw new Error('web_host is not set: put the Forge server address in the config file or FORGE_WEB_HOST');
  return new ForgeHttpClient({
    baseUrl: loaded.config.web_host, token, caFile: loaded.config.runner.tls_ca_file || undefined,
    insecureSkipVerify: loaded.config.runner.tls_insecure_skip_verify,
  });
}

/** Posts task start and finish to the runner's webhook; a failing webhook never fails the task. */
async function callWebhook(url: string, event: string, job: ClaimedJob, result?: TaskResult): Promise<void> {
  if (!url) return;
  try {
    await fetch(url, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(10_000),
      body: JSON.stringify({ event, task_id: job.task_id, attempt: job.attempt, project_id: job.payload.task.project_id, app: job.payload.app, status: result?.status ?? 'running', exit_code: result?.exit_code ?? null, error: result?.error ?? '' }),
    });
  } catch (err) {
    log.warn('webhook call failed', { event, error: (err as Error).message });
  }
}

/**
 * The server's long-task heartbeat interval, kept between one beat and a tenth of the lease
 * whatever it says; an older server offers none: every beat as before.
 */
function longTaskCadence(hello: HelloAnswer): number {
  const offered = hello.long_task_heartbeat_ms ?? hello.heartbeat_ms;
  return Math.max(hello.heartbeat_ms, Math.min(offered, Math.floor((hello.lease_sec * 1000) / 10)));
}

export interface StartedRunner {
  agent: Agent;
  hello: HelloAnswer;
  done: Promise<void>;
  drain(): Promise<void>;
}

/**
 * `forge runner start`: says hello (uploading the public key on first contact), then runs the
 * agent loop until drained. SIGTERM/SIGINT drain: no new claims, running tasks finish (or are
 * stopped after runner.drain_timeout_sec) and are reported, then the process exits.
 */
export async function startRunner(loaded: LoadedRunnerConfig): Promise<StartedRunner> {
  const { config } = loaded;
  setLogLevel(config.log_level);
  if (!loaded.token) throw new Error(`no runner token: run forge runner register --config ${loaded.path ?? 'FILE'}, or set runner.token (or FORGE_RUNNER_TOKEN) to a token from the web UI`);
  // Tasks never see this runner's config, token or key files.
  const tokenFile = config.runner.token_file ? resolve(loaded.path ? dirname(loaded.path) : process.cwd(), config.runner.token_file) : '';
  const sandbox = startSandbox(config, [loaded.path ?? '', tokenFile, loaded.privateKeyFile]);
  const { keys, created } = loadOrCreateKeyPair(loaded.privateKeyFile);
  if (created) log.info('generated this runner\'s key pair', { private_key_file: loaded.privateKeyFile });
  const client = clientFor(loaded);
  const peer = new HttpPeer(client, keys);
  const capabilities = await detectCapabilities(config.sandbox);
  const version = forgeVersion();
  let hello: HelloAnswer;
  try {
    hello = await peer.hello({ public_key: keys.publicKey.toString('base64'), version, capabilities, active: [], draining: false });
  } catch (err) {
    client.close();
    if (err instanceof StatusError) throw new Error(`the server refused this runner: ${err.message}`);
    throw new Error(`cannot reach the Forge server at ${config.web_host}: ${(err as Error).message}`);
  }
  const agent = new Agent({
    peer,
    // The smaller of this machine's limit and the one the server holds for this runner.
    maxParallel: hello.max_parallel_tasks > 0 ? Math.min(config.runner.max_parallel_tasks, hello.max_parallel_tasks) : config.runner.max_parallel_tasks,
    tmpPath: config.tmp_path, sshConfigPath: config.ssh_config_path,
    heartbeatMs: hello.heartbeat_ms, longTaskHeartbeatMs: longTaskCadence(hello), leaseMs: hello.lease_sec * 1000, identity: `runner-${hello.id}`, version, capabilities, sandbox, oneOff: config.runner.one_off,
    protocol: hello.protocol ?? 1,
    hooks: {
      onStart: (job) => callWebhook(config.runner.webhook, 'task_started', job),
      onFinish: (job, result) => callWebhook(config.runner.webhook, 'task_finished', job, result),
    },
  });
  agent.on('rejected', (err: StatusError) => {
    log.error(`stopping: ${err.message}`);
    void agent.drain(0);
  });
  log.info(`runner "${hello.name}" (id ${hello.id}) connected to ${config.web_host}; ready for tasks`, {
    tags: hello.tags, max_parallel_tasks: config.runner.max_parallel_tasks, capabilities,
  });
  const done = agent.run().finally(() => client.close());
  return { agent, hello, done, drain: () => agent.drain(config.runner.drain_timeout_sec * 1000) };
}
