/**
 * Scale-out: a 3-master Redis Cluster with one replica per master (started by the test harness),
 * Forge server replicas behind a round-robin proxy, and many runners that reach the servers only
 * through the proxy. The same batch of tasks runs first with 1 replica behind the proxy, then with
 * 3: throughput side by side, every task accounted for (final and successful), the claims each
 * replica served, each replica's CPU, and the commands each Redis master ran (records share one
 * hash slot, so one master carries them all).
 */
import { createTask as postTask } from '../lib/forge.js';
import { callsPerShard, startEnv, type BenchEnv } from '../lib/env.js';
import { now } from '../lib/hosts.js';
import { sleep } from '../lib/procs.js';
import { CpuWindow, cpuSeconds, hostCpuSeconds } from '../lib/stats.js';
import { type Config, log } from './context.js';

export interface ScaleRun {
  replicas: number;
  tasks: number;
  seconds: number;
  tasks_per_s: number;
  statuses: Record<string, number>;
  lost: number;
  claims_per_replica: number[];
  server_cpu_ms_per_task: number[];
  redis_commands_per_master: Record<string, number>;
  machine_cpu: ReturnType<CpuWindow['end']>;
}

export interface ScaleResult { runners: number; redis: string; runs: ScaleRun[] }

async function batch(env: BenchEnv, cfg: Config): Promise<ScaleRun> {
  const { tasks, inflight } = cfg.scale;
  const templateId = env.templates['run.sh']!;
  const claims0 = env.proxy!.stats().map((s) => s.claims);
  const cpu0 = env.servers.map((s) => cpuSeconds(s.pid));
  const shards0 = await callsPerShard(env.redis);
  const window = new CpuWindow(() => env.servers.reduce((a, s) => a + cpuSeconds(s.pid), 0) + env.redisCpu() + env.hosts.pids().reduce((a, p) => a + hostCpuSeconds(p, true), 0));
  const ids: number[] = [];
  const first = now();
  let next = 0;
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < tasks) {
      next++;
      ids.push((await postTask(env.api, env.projectId, templateId)).id);
    }
  }));
  for (const id of ids) await env.hosts.waitEvent(id, 'finished', 20 * 60_000);
  // Final records: the reconciler's finished index, then every record's status.
  const keys = ids.map(String);
  const deadline = Date.now() + 120_000;
  let final = 0;
  for (;;) {
    final = 0;
    for (let i = 0; i < keys.length; i += 500) final += (await env.redis.zmscore('{forge}:tasks:finished', ...keys.slice(i, i + 500))).filter((s) => s !== null).length;
    if (final === tasks || Date.now() > deadline) break;
    await sleep(100);
  }
  const seconds = (now() - first) / 1000;
  const statuses: Record<string, number> = {};
  for (let i = 0; i < ids.length; i += 500) {
    for (const raw of await env.redis.mget(...ids.slice(i, i + 500).map((id) => `{forge}:task:${id}`))) {
      const status = raw ? (JSON.parse(raw) as { status: string }).status : 'missing';
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  }
  const shards1 = await callsPerShard(env.redis);
  const claims1 = env.proxy!.stats().map((s) => s.claims);
  return {
    replicas: env.servers.length, tasks, seconds: +seconds.toFixed(2), tasks_per_s: +(tasks / seconds).toFixed(2), statuses,
    lost: tasks - (statuses.success ?? 0),
    claims_per_replica: claims1.map((c, i) => c - (claims0[i] ?? 0)),
    server_cpu_ms_per_task: env.servers.map((s, i) => +(((cpuSeconds(s.pid) - (cpu0[i] ?? 0)) / tasks) * 1000).toFixed(2)),
    redis_commands_per_master: Object.fromEntries(Object.entries(shards1).map(([port, calls]) => [port, calls - (shards0[port] ?? 0)])),
    machine_cpu: window.end(),
  };
}

export async function scaleOut(cfg: Config, root: string, logDir: string, hostNodeArgs: string[], serverNodeArgs: (i: number) => string[]): Promise<ScaleResult> {
  const { runners, tasks } = cfg.scale;
  const env = await startEnv({
    root, logDir, name: 'scale', hosts: cfg.hosts, redis: 'cluster', servers: 1, proxy: true, scripts: { 'run.sh': 'exit 0' },
    settings: { FORGE_LONG_POLL_SEC: String(cfg.longPollSec) }, hostNodeArgs, serverNodeArgs,
  });
  try {
    log(`scale: Redis Cluster 3 masters + 3 replicas; ${runners} runners through the proxy`);
    for (let added = 0; added < runners; added += 100) await env.addRunners(Math.min(100, runners - added), 1);
    await sleep(1500);
    const runs: ScaleRun[] = [];
    log(`scale: ${tasks} tasks with 1 replica`);
    runs.push(await batch(env, cfg));
    log(`scale: 1 replica: ${runs[0]!.tasks_per_s} tasks/s, lost ${runs[0]!.lost}; starting 2 more replicas`);
    await env.addServer();
    await env.addServer();
    // Parked long-polls stay on the first replica until answered; new ones rotate over all three.
    await sleep(2000);
    log(`scale: ${tasks} tasks with 3 replicas`);
    runs.push(await batch(env, cfg));
    log(`scale: 3 replicas: ${runs[1]!.tasks_per_s} tasks/s, lost ${runs[1]!.lost}, claims per replica ${runs[1]!.claims_per_replica.join('/')}`);
    return { runners, redis: 'cluster: 3 masters + 3 replicas', runs };
  } finally {
    await env.stop();
  }
}
