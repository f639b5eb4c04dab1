/**
 * Probe: `POST /tasks` on two builds of Forge at once, rounds alternating A, B, A, B… so both see
 * the same load on a shared machine (a probe of each run one after the other, or side by side,
 * mostly measures what else the machine was doing). Each build gets its own redis-server and
 * server, set up as bench/probe-request-cost.ts sets up its own (one runner record, a template
 * whose tag no runner has, so tasks stay waiting).
 *
 *   npx tsx bench/probe-ab-post.ts <checkout A> <checkout B> [requests per round, default 1000] [rounds per build, default 5]
 *
 * Each checkout must be built (`npx tsc -p tsconfig.json` and its Lua scripts in place, or a
 * source checkout: the server reads services/redis/lua there). Prints server CPU per request and
 * the p50 round trip per round and their medians, and the Redis commands per request.
 * PROBE_RUNNERS=N registers N runner records (default 1), each with a status as heartbeats write
 * it (its last_seen an hour ahead, so all count as online), as a fleet's server has them.
 */
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { Api } from './lib/api.js';
import { commandStats, commandsDelta } from './lib/env.js';
import { cpuSeconds } from './lib/stats.js';

const [rootA, rootB] = [process.argv[2], process.argv[3]].map((p) => resolve(p ?? '.'));
const perRound = Number(process.argv[4] ?? 1000);
const rounds = Number(process.argv[5] ?? 5);
const runnerCount = Number(process.env.PROBE_RUNNERS ?? 1);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Target { name: string; pid: number; redis: Redis; send: () => Promise<void>; cpu: number[]; p50: number[]; commands: string; cleanup: () => Promise<void> }

async function setUp(root: string): Promise<Target> {
  const forgeLib = await import(`${root}/bench/lib/forge.js`);
  const procs = await import(`${root}/bench/lib/procs.js`);
  const dir = procs.tempDir('forge-probe-ab-');
  const redis = await procs.startRedis(dir);
  const forge = await forgeLib.startForge(dir, redis.url, dir, { FORGE_LOG_LEVEL: 'warn' });
  const api = new Api(forge.url);
  await api.login(forgeLib.ADMIN.login, forgeLib.ADMIN.password);
  const repo = await forgeLib.makeRepo(dir, { 'run.sh': 'exit 0' });
  const { projectId, templates } = await forgeLib.setupProject(api, repo, ['run.sh']);
  const templatePath = `/api/project/${projectId}/templates/${templates['run.sh']}`;
  await api.json('PUT', templatePath, { ...(await api.json('GET', templatePath)), runner_tag: 'probe-no-such-runner' });
  // PROBE_RUNNERS: a fleet's worth of runner records, each with a status as its heartbeats write it.
  const statuses = new Redis(redis.url);
  for (let i = 0; i < runnerCount; i++) {
    const { id } = await api.json('POST', '/api/runners', { name: `probe-${i}`, tags: [], max_parallel_tasks: 1 });
    await statuses.hset('{forge}:runner-status', String(id), JSON.stringify({ last_seen: Date.now() + 3600_000, version: 'probe', capabilities: ['bash'], active_tasks: [], draining: false }));
  }
  statuses.disconnect();
  const send = async () => {
    const res = await api.request('POST', `/api/project/${projectId}/tasks`, { template_id: templates['run.sh'] });
    if (res.status !== 201) throw new Error(`POST /tasks answered ${res.status}: ${res.text}`);
  };
  for (let i = 0; i < 100; i++) await send(); // warm-up
  return { name: root, pid: forge.pid, redis: new Redis(redis.url), send, cpu: [], p50: [], commands: '', cleanup: async () => { api.close(); await procs.cleanup(); } };
}

async function round(target: Target): Promise<void> {
  const before = await commandStats(target.redis);
  const cpuBefore = cpuSeconds(target.pid);
  const times: number[] = [];
  for (let i = 0; i < perRound; i++) {
    const start = performance.now();
    await target.send();
    times.push(performance.now() - start);
  }
  target.cpu.push(((cpuSeconds(target.pid) - cpuBefore) * 1000) / perRound);
  target.p50.push(median(times));
  const commands = commandsDelta(before, await commandStats(target.redis), perRound);
  target.commands = `${commands.total} (${Object.entries(commands.top).map(([name, n]) => `${name} ${n}`).join(', ')})`;
}

async function main(): Promise<void> {
  const targets = [await setUp(rootA), await setUp(rootB)];
  try {
    for (let r = 0; r < rounds; r++) for (const target of r % 2 ? [...targets].reverse() : targets) await round(target);
    for (const [label, t] of [['A', targets[0]!], ['B', targets[1]!]] as const) {
      console.log(`${label} ${t.name}: server CPU ${median(t.cpu).toFixed(3)} ms/request (rounds ${t.cpu.map((c) => c.toFixed(3)).join(', ')}), p50 ${median(t.p50).toFixed(2)} ms (rounds ${t.p50.map((c) => c.toFixed(2)).join(', ')})`);
      console.log(`  Redis commands per request ${t.commands}`);
    }
  } finally {
    for (const t of targets) t.redis.disconnect();
    for (const t of targets) await t.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
