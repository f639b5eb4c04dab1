/**
 * The dispatch floor: the chain of process hops a Forge dispatch takes (client → server → Redis →
 * server → runner, the POST's answer), done by a minimal server and runner with no Forge logic
 * (bench/dispatch-floor-server.ts, bench/dispatch-floor-host.ts), on the dispatch phase's
 * redis-server (keys under `dfloor:`), runner layout and schedule. Forge's row minus the floor's is
 * what Forge itself adds to dispatch latency; the floor is the machine's hops.
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Api } from '../lib/api.js';
import { postTaskTo } from '../lib/forge.js';
import { RunnerHosts, type RunnerSpec } from '../lib/hosts.js';
import { exitOf, freePort, killChildGroups, projectRoot, spawnTracked, stopChild, tempDir } from '../lib/procs.js';
import { CpuWindow, cpuSeconds, hostCpuSeconds, summarize, type Summary } from '../lib/stats.js';
import { type Ctx, log, ownCpu } from './context.js';
import { type Dispatcher, runSchedule } from './dispatch.js';

export interface DispatchFloorResult {
  runners: number;
  single: Summary;
  burst: Summary;
  /** Every POST's round trip, and the single tasks' alone (the figure Forge's rows print). */
  post_ms: Summary;
  single_post_ms: Summary;
  cpu: ReturnType<CpuWindow['end']>;
}

const TSX = ['--import', 'tsx'];

/** Starts the floor's server on the phase's redis-server; resolves once it listens. */
async function startFloorServer(ctx: Ctx, logDir: string) {
  const port = await freePort();
  const child = spawnTracked(process.execPath, [...TSX, join(projectRoot, 'bench', 'dispatch-floor-server.ts')], {
    cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: String(port), REDIS_URL: ctx.env.redisUrl, LONG_POLL_SEC: String(ctx.cfg.longPollSec) },
  });
  child.stderr!.pipe(createWriteStream(join(logDir, 'dispatch-floor-server.log')));
  const exited = exitOf(child).then(({ code }) => {
    throw new Error(`the dispatch floor's server exited (${code}) at start; see dispatch-floor-server.log`);
  });
  await Promise.race([new Promise<void>((resolve) => child.stdout!.once('data', () => resolve())), exited]);
  exited.catch(() => {});
  return { child, url: `http://127.0.0.1:${port}` };
}

/** The floor's rows, one per runner count of the dispatch phase (its shared layout: runners many to a host process). */
export async function dispatchFloor(ctx: Ctx, repo: string, logDir: string): Promise<DispatchFloorResult[]> {
  const root = tempDir('forge-bench-dispatch-floor-');
  const server = await startFloorServer(ctx, logDir);
  const api = new Api(server.url);
  const hosts = new RunnerHosts(join(projectRoot, 'bench', 'dispatch-floor-host.ts'));
  const floorCpu = () => cpuSeconds(server.child.pid!) + hosts.pids().reduce((sum, pid) => sum + hostCpuSeconds(pid, true), 0);
  const dispatcher: Dispatcher = { create: () => postTaskTo(api, '/tasks', { git_url: repo, branch: 'main', playbook: 'run.sh' }), hosts };
  const online: RunnerSpec[] = [];
  const results: DispatchFloorResult[] = [];
  try {
    await hosts.start(ctx.cfg.hosts, logDir, TSX, [], 'dispatch-floor-host');
    for (const n of ctx.cfg.dispatch.runners) {
      if (online.length < n) {
        const first = online.length;
        const added = Array.from({ length: n - first }, (_, i): RunnerSpec => {
          const index = first + i;
          return { id: index + 1, name: `dfloor-runner-${index}`, token: '', max_parallel: 1, dir: join(root, `runner-${index}`), web_host: server.url };
        });
        log(`dispatch floor: starting ${added.length} more runner(s) → ${n} idle runners`);
        // Round robin over the host processes in runner order, as Forge's shared layout places its agents.
        await hosts.add(added, (_spec, i) => first + i);
        online.push(...added);
      }
      await api.json('GET', `/parked?count=${n}`); // every runner's long-poll parked
      const cpuWindow = new CpuWindow(() => ownCpu(ctx) + floorCpu());
      const { single, bursts } = await runSchedule(dispatcher, ctx.cfg.dispatch);
      const cpu = cpuWindow.end();
      if (hosts.rejections.length) throw new Error(`dispatch floor tasks failed: ${hosts.rejections.join('; ')}`);
      results.push({
        runners: n,
        single: summarize(single.map((s) => s.latency_ms)),
        burst: summarize(bursts.map((s) => s.latency_ms)),
        post_ms: summarize([...single, ...bursts].map((s) => s.post_ms)),
        single_post_ms: summarize(single.map((s) => s.post_ms)),
        cpu,
      });
    }
  } finally {
    killChildGroups(hosts.pids());
    await hosts.close();
    api.close();
    await stopChild(server.child, 3000);
    const keys = await ctx.redis.keys('dfloor:*');
    if (keys.length) await ctx.redis.del(...keys);
  }
  return results;
}
