import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ServerConfig } from './common/config.js';
import { logger, setLogLevel } from '../protocol/log.js';
import { newToken } from './common/secrets.js';
import { createApp } from './api/app.js';
import { directTaskCreate } from './api/task-create-direct.js';
import { runnerGateway, splitByArea } from './gateway/app.js';
import { attachLiveSocket } from './api/live-socket.js';
import type { AppContext } from './context.js';
import { TaskQueues } from './dispatch/queues.js';
import { EventBus } from './events.js';
import { GatewayCore, localClaimant } from './gateway/core.js';
import { HEARTBEAT_MS } from './gateway/router.js';
import { longTaskHeartbeatMs } from '../protocol/wire.js';
import { Metrics } from './metrics.js';
import { Reconciler, completionQueue } from './reconciler.js';
import { createRedis, waitReady } from './redis/connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from './redis/embedded.js';
import { channels } from './redis/keys.js';
import { Stores } from './store/stores.js';
import { UserNameTakenError } from './store/users.js';
import { forgeVersion, projectRoot } from '../protocol/version.js';
import { Agent } from '../workers/agent.js';
import { detectCapabilities } from '../workers/capabilities.js';
import { LocalPeer } from './gateway/local-peer.js';
import { startSandbox } from '../workers/executor/sandbox-start.js';
import type { SandboxSettings } from '../workers/executor/sandbox.js';
import { startFeatures } from './features.js';

const log = logger('server');

export interface RunningServer {
  url: string;
  ctx: AppContext;
  reconciler: Reconciler;
  localAgent: Agent | undefined;
  initialAdminPassword: string | undefined;
  close(): Promise<void>;
}

/** The key that encrypts secrets at rest: the configured one, else one generated once per data_dir. */
function encryptionKey(config: ServerConfig): string {
  if (config.access_key_encryption) return config.access_key_encryption;
  const file = join(config.data_dir, 'access_key_encryption');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = newToken(32);
  writeFileSync(file, key + '\n', { mode: 0o600 });
  log.warn(`access_key_encryption was not set: generated one in ${file}. Servers sharing one Redis must all use the same key (set FORGE_ACCESS_KEY_ENCRYPTION).`);
  return key;
}

/**
 * Creates the admin from FORGE_ADMIN_*; on a first start with none given, one with a generated
 * password. Replicas starting together on one Redis race to create it: one does, the others find
 * the login taken and go on.
 */
async function bootstrapAdmin(config: ServerConfig, stores: Stores): Promise<string | undefined> {
  const createdByAnother = (err: unknown) => {
    if (err instanceof UserNameTakenError && err.field === 'login') return undefined;
    throw err;
  };
  if (config.admin_login && config.admin_password) {
    if (await stores.users.findBy('login', config.admin_login)) return undefined;
    await stores.users.create({ login: config.admin_login, password: config.admin_password, email: config.admin_email, name: config.admin_name, admin: true })
      .then(() => log.info('admin user created from the bootstrap settings', { login: config.admin_login }), createdByAnother);
    return undefined;
  }
  if ((await stores.users.count()) > 0) return undefined;
  const password = newToken(12);
  const created = await stores.users.create({ login: 'admin', password, email: config.admin_email, name: 'Administrator', admin: true }).catch(createdByAnother);
  if (!created) return undefined;
  writeFileSync(join(config.data_dir, 'initial_admin_password'), password + '\n', { mode: 0o600 });
  return password;
}

/**
 * A closed stdout or stderr (the terminal or log reader went away) makes every later write fail
 * with EPIPE, emitted as an 'error' event: unhandled, it would kill the server on its next log line
 * without stopping the embedded Redis. Logging is best-effort; serving is not.
 */
function surviveClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') === 0) stream.on('error', () => {});
  }
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  surviveClosedOutput();
  setLogLevel(config.log_level);
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  mkdirSync(config.tmp_path, { recursive: true });
  let embedded: EmbeddedRedis | undefined;
  let redisUrl = config.redis_url;
  if (!redisUrl) {
    embedded = await startEmbeddedRedis(config.data_dir);
    redisUrl = embedded.url;
  }
  const redis = createRedis(redisUrl);
  redis.on('error', (err) => log.warn('redis connection error', { error: err.message }));
  await waitReady(redis, redisUrl);
  // BullMQ's queues get a connection of their own (see AppContext.queueRedis).
  const queueRedis = createRedis(redisUrl);
  queueRedis.on('error', (err) => log.warn('redis connection error (queues)', { error: err.message }));
  await waitReady(queueRedis, redisUrl);
  // The local worker runs tasks: refuse to start if they cannot be isolated as configured.
  let sandbox: SandboxSettings | undefined;
  try {
    sandbox = config.use_remote_runner ? undefined : startSandbox(config, [config.data_dir, config.tls_key_file, config.redis_url.startsWith('/') ? config.redis_url : '']);
  } catch (err) {
    redis.disconnect();
    queueRedis.disconnect();
    await embedded?.stop();
    throw err;
  }

  const leaseMs = config.runner_lease_sec * 1000;
  const stores = new Stores(redis, {
    encryptionKey: encryptionKey(config), outputCapBytes: config.max_output_bytes,
    // A full runner (no long-poll parked) is seen only through its heartbeats: the window spans
    // more than two of them even at the long-task cadence.
    runnerOnlineWindowMs: Math.max(5000, 5 * HEARTBEAT_MS, 2.5 * longTaskHeartbeatMs(HEARTBEAT_MS, leaseMs)), eventsRetention: config.events_retention,
  });
  const queues = new TaskQueues(redis);
  await queues.load();
  const completions = completionQueue(queueRedis);
  const metrics = new Metrics(stores, queues);
  const watchdogMs = Math.max(250, Math.min(2000, Math.floor(leaseMs / 4)));
  const core = new GatewayCore(stores, queues, completions, { leaseMs, maxTaskDurationSec: config.max_task_duration_sec, watchdogMs, sweepMs: config.wake_sweep_ms }, metrics.gatewayCounters);
  metrics.parkedFrom(core.parking);
  const bus = new EventBus(redis);
  await bus.start([channels.wake, channels.taskEvents, channels.runnerEvents, channels.recordChanges]);
  // A runner changed on any server: its record is read afresh on its next request.
  bus.on(channels.runnerEvents, (message) => stores.runners.forget((message as { id?: number }).id));
  // A project record written on any server: what this one kept of its hash is read afresh.
  bus.on(channels.recordChanges, (message) => {
    const hash = (message as { hash?: unknown }).hash;
    if (typeof hash === 'string') stores.cache.forget(hash);
  });
  bus.onReconnect(() => {
    stores.runners.forget();
    stores.cache.forget();
  });
  core.attach(bus);
  const version = forgeVersion();
  const ctx: AppContext = { config, redis, queueRedis, stores, queues, core, bus, metrics, version };

  const initialAdminPassword = await bootstrapAdmin(config, stores);

  let localAgent: Agent | undefined;
  const reconciler = new Reconciler(queueRedis, stores, core, {
    watchdogMs, localMode: !config.use_remote_runner,
    localBusy: () => (localAgent ? localAgent.activeCount >= config.max_parallel_tasks : false),
  });
  reconciler.on('finalised', (task) => metrics.taskFinalised(task));
  reconciler.start();
  const stopFeatures = startFeatures(ctx, reconciler);

  let agentDone: Promise<void> | undefined;
  if (!config.use_remote_runner) {
    localAgent = new Agent({
      peer: new LocalPeer(core, localClaimant(config.max_parallel_tasks), config.long_poll_sec * 1000),
      maxParallel: config.max_parallel_tasks, tmpPath: config.tmp_path, sshConfigPath: config.ssh_config_path,
      heartbeatMs: HEARTBEAT_MS, longTaskHeartbeatMs: longTaskHeartbeatMs(HEARTBEAT_MS, leaseMs), leaseMs, identity: `local-${createHash('sha256').update(config.data_dir).digest('hex').slice(0, 12)}`, version, capabilities: await detectCapabilities(config.sandbox), sandbox,
    });
    agentDone = localAgent.run();
  }

  const gateway = runnerGateway(ctx);
  const app = createApp(ctx, { webRoot: join(projectRoot(), 'web', 'dist'), gateway });
  const taskCreate = directTaskCreate(ctx, app);
  const handler = splitByArea(gateway.handle, (req, res) => (taskCreate.takes(req) ? taskCreate.handle : app)(req, res));
  const server: Server = config.tls_cert_file
    ? createHttpsServer({ cert: readFileSync(config.tls_cert_file), key: readFileSync(config.tls_key_file) }, handler)
    : createHttpServer(handler);
  const closeLiveSocket = attachLiveSocket(ctx, server);
  server.requestTimeout = 0; // long-polls and SSE outlive the default 5 min
  server.headersTimeout = 60_000;
  // Idle keep-alive connections outlive a load balancer's (60 s is the common default): if the server
  // closed first, a proxy could send a request on a socket being closed and answer 502 (ECONNRESET).
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = config.tls_cert_file ? 'https' : 'http';
  const url = `${scheme}://${config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}`;
  // Without a configured public address, the one we actually listen on (port 0 picks a free port).
  if (!config.web_host) config.web_host = url.replace('://127.0.0.1:', '://localhost:');
  log.info('Forge is listening', { url, web_host: config.web_host, redis: embedded ? 'embedded' : 'external', remote_runners: config.use_remote_runner });

  const stopGracefully = async () => {
    server.close();
    closeLiveSocket();
    server.closeAllConnections();
    core.close();
    if (localAgent) {
      await localAgent.drain(10_000);
      await agentDone;
    }
    await reconciler.stop();
    await stopFeatures();
    await completions.close();
    await bus.stop();
  };
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      try {
        // Redis unreachable (down, partitioned, stopped) would hold the queues' and the bus's
        // closing for ever: a stop takes at most stop_timeout_sec, then leaves the rest behind.
        if (!(await settlesWithin(stopGracefully(), config.stop_timeout_sec * 1000))) {
          log.warn('stopping took longer than stop_timeout_sec; exiting without waiting for the rest (is Redis reachable?)', { stop_timeout_sec: config.stop_timeout_sec });
        }
      } finally {
        redis.disconnect();
        queueRedis.disconnect();
        // Whatever failed above, the embedded redis-server must not outlive us.
        await embedded?.stop();
      }
    })());
  return { url, ctx, reconciler, localAgent, initialAdminPassword, close };
}

/**
 * Whether `work` settles within `ms`: true, or its failure thrown; false when it is late, and a
 * failure after that is dropped (the stop went on without it; it must not end the process).
 */
async function settlesWithin(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = work.then(() => true as const);
  done.catch(() => {});
  try {
    return await Promise.race([done, late]);
  } finally {
    clearTimeout(timer);
  }
}
