/**
 * Set-up shared by the benchmark and its probes: a local bare git repository with task scripts,
 * the real Forge server (`node bin/run.js server`) on a given Redis, a project with templates,
 * runner records, and task creation with client-side timestamps.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Api } from './api.js';
import { now, type RunnerHosts, type RunnerSpec } from './hosts.js';
import { exitOf, freePort, onCleanup, projectRoot, run, spawnTracked, startRedis, stopChild, taskWorkDir, tempDir } from './procs.js';

export const ADMIN = { login: 'admin', password: `bench-${randomBytes(6).toString('hex')}` };

/** A bare repository (branch main) holding `scripts` (name → bash body), all executable. */
export async function makeRepo(root: string, scripts: Record<string, string>): Promise<string> {
  const env = {
    ...process.env, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@forge.invalid', GIT_COMMITTER_NAME: 'bench',
    GIT_COMMITTER_EMAIL: 'bench@forge.invalid', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null',
  };
  const bare = join(root, 'bench.git');
  const work = join(root, 'bench-work');
  await run('git', ['init', '-q', '--bare', '-b', 'main', bare], { env });
  await run('git', ['init', '-q', '-b', 'main', work], { env });
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(work, name), `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(join(work, name), 0o755);
  }
  await run('git', ['add', '-A'], { cwd: work, env });
  await run('git', ['commit', '-q', '-m', 'bench scripts'], { cwd: work, env });
  await run('git', ['push', '-q', bare, 'HEAD:refs/heads/main'], { cwd: work, env });
  return bare;
}

export interface Forge { url: string; pid: number; logFile: string; stop(): Promise<void> }

/** Starts `node bin/run.js server` with remote runners on, against `redisUrl`; waits until it serves. */
export async function startForge(root: string, redisUrl: string, logDir: string, settings: Record<string, string> = {}, options: { name?: string; nodeArgs?: string[] } = {}): Promise<Forge> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('FORGE_')) env[key] = value;
  const name = options.name ?? 'server';
  mkdirSync(join(root, `${name}-home`), { recursive: true });
  Object.assign(env, {
    NODE_ENV: 'production', HOME: join(root, `${name}-home`),
    FORGE_HOST: '127.0.0.1', FORGE_PORT: String(port), FORGE_DATA_DIR: join(root, `${name}-data`), FORGE_TMP_PATH: join(root, `${name}-tmp`),
    FORGE_REDIS_URL: redisUrl, FORGE_USE_REMOTE_RUNNER: 'true', FORGE_RUNNER_REGISTRATION_TOKEN: randomBytes(16).toString('hex'),
    FORGE_ADMIN_LOGIN: ADMIN.login, FORGE_ADMIN_PASSWORD: ADMIN.password, FORGE_ACCESS_KEY_ENCRYPTION: randomBytes(24).toString('hex'),
    FORGE_LOG_LEVEL: 'info', ...settings,
  });
  // For diagnosis only, e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = [...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean), ...(options.nodeArgs ?? [])];
  const logFile = join(logDir, `forge-${name}.log`);
  const out = createWriteStream(logFile);
  const child = spawnTracked(process.execPath, [...nodeArgs, join(projectRoot, 'bin', 'run.js'), 'server'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  onCleanup(() => stopChild(child, 10_000));
  // Only the start is searched and kept: the log grows with every task, and searching all of it
  // on every chunk cost the benchmark's own process CPU that the machine's figures then charged to Forge.
  let seen = '';
  let started = false;
  const ready = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      out.write(chunk);
      if (started) return;
      seen = (seen + chunk.toString()).slice(-8000);
      if (/is running at/.test(seen)) {
        started = true;
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
  const failed = exitOf(child).then(({ code, signal }) => {
    throw new Error(`the Forge server exited (${code ?? signal}) before it was ready:\n${seen.slice(-3000)}`);
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([ready, failed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the Forge server did not start in 60 s:\n${seen.slice(-3000)}`)), 60_000)))]);
  clearTimeout(timer);
  failed.catch(() => {});
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, logFile, stop: () => stopChild(child, 10_000) };
}

/** A project with one bash template per script name; answers the ids. */
export async function setupProject(api: Api, repo: string, playbooks: string[]): Promise<{ projectId: number; templates: Record<string, number> }> {
  const projectId = (await api.json<{ id: number }>('POST', '/api/projects', { name: 'bench' })).id;
  const base = `/api/project/${projectId}`;
  const repositoryId = (await api.json<{ id: number }>('POST', `${base}/repositories`, { name: 'bench', git_url: repo, git_branch: 'main', ssh_key_id: null })).id;
  const environmentId = (await api.json<{ id: number }>('POST', `${base}/environment`, { name: 'env', json: '{}', env: '{}', secrets: [] })).id;
  const templates: Record<string, number> = {};
  for (const playbook of playbooks) {
    templates[playbook] = (await api.json<{ id: number }>('POST', `${base}/templates`, {
      name: playbook, app: 'bash', playbook, repository_id: repositoryId, environment_id: environmentId, inventory_id: null, arguments: null,
    })).id;
  }
  return { projectId, templates };
}

/**
 * A probe's set-up: the build, a private redis-server, a server on it (warnings only in its log),
 * the admin logged in, and a project whose template `run.sh` does nothing.
 */
export async function startProbeServer(prefix: string): Promise<{ root: string; redisUrl: string; forge: Forge; api: Api; projectId: number; templates: Record<string, number> }> {
  await run('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: projectRoot });
  const root = tempDir(prefix);
  const redis = await startRedis(root);
  const forge = await startForge(root, redis.url, root, { FORGE_LOG_LEVEL: 'warn' });
  const api = new Api(forge.url);
  await api.login(ADMIN.login, ADMIN.password);
  const repo = await makeRepo(root, { 'run.sh': 'exit 0' });
  const { projectId, templates } = await setupProject(api, repo, ['run.sh']);
  return { root, redisUrl: redis.url, forge, api, projectId, templates };
}

export interface Created { id: number; tSend: number; tResp: number; queue: string }

/** POST /api/project/:pid/tasks; tSend is taken just before the request goes out. */
export function createTask(api: Api, projectId: number, templateId: number): Promise<Created> {
  return postTaskTo(api, `/api/project/${projectId}/tasks`, { template_id: templateId });
}

/** POSTs a new task to `path` (Forge's API or the dispatch floor's server), timed on the benchmark's clock. */
export async function postTaskTo(api: Api, path: string, body: unknown): Promise<Created> {
  const tSend = now();
  const res = await api.request<{ id: number; queue: string }>('POST', path, body);
  const tResp = now();
  if (res.status >= 300 || !res.body?.id) throw new Error(`POST ${path} answered ${res.status}: ${res.text.slice(0, 300)}`);
  return { id: res.body.id, tSend, tResp, queue: res.body.queue };
}

/**
 * Adds runner records through the admin API (POST /api/runners answers the one-time token) and
 * starts their agents in the runner hosts. `agentMaxParallel` defaults to the record's value.
 */
export async function addRunners(
  api: Api, hosts: RunnerHosts, forgeUrl: string, root: string,
  options: { count: number; recordMaxParallel: number; agentMaxParallel?: number; firstIndex: number; host: (index: number) => number },
): Promise<RunnerSpec[]> {
  const specs: RunnerSpec[] = [];
  for (let i = 0; i < options.count; i++) {
    const name = `bench-runner-${options.firstIndex + i}`;
    const answer = await api.json<{ id: number; token: string }>('POST', '/api/runners', { name, tags: [], max_parallel_tasks: options.recordMaxParallel });
    const dir = join(root, 'runners', name);
    mkdirSync(dir, { recursive: true });
    specs.push({ id: answer.id, name, token: answer.token, max_parallel: options.agentMaxParallel ?? options.recordMaxParallel, dir, work_dir: taskWorkDir(`${name}-`), web_host: forgeUrl });
  }
  await hosts.add(specs, (_spec, index) => options.host(options.firstIndex + index));
  return specs;
}
