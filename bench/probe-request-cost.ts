/**
 * Probe: the server's CPU per request, one request kind at a time, with nothing else running
 * against it (no runner agents, no tasks running): a runner's heartbeat, a runner's start report
 * refused (403: the request path, auth, JSON and zod, without the task work), and `POST /tasks`
 * (the task stays waiting: no runner polls). CPU from /proc (user + system), so a loaded machine
 * inflates it less than it does latencies; compare two builds back to back on the same machine.
 *
 *   npx tsx bench/probe-request-cost.ts [requests per kind, default 2000] [rounds, default 3]
 *
 * PROBE_KINDS=heartbeat (words of the kinds' names) measures only those; with
 * BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" the server leaves a profile of them.
 */
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { commandStats, commandsDelta } from './lib/env.js';
import { startProbeServer } from './lib/forge.js';
import { runProbe, projectRoot } from './lib/procs.js';
import { cpuSeconds } from './lib/stats.js';

const perKind = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 3);

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function post(url: string, body: unknown, headers: Record<string, string>): Promise<number> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(payload.length), ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Sends `count` requests one after another; answers server CPU ms, Redis commands per request and the latency p50. */
async function measure(pid: number, redis: Redis, count: number, send: () => Promise<void>): Promise<{ cpu: number; p50: number; commands: string }> {
  for (let i = 0; i < 50; i++) await send(); // warm-up
  const commandsBefore = await commandStats(redis);
  const before = cpuSeconds(pid);
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await send();
    times.push(performance.now() - start);
  }
  const cpu = ((cpuSeconds(pid) - before) * 1000) / count;
  const commands = commandsDelta(commandsBefore, await commandStats(redis), count);
  return { cpu, p50: median(times), commands: `${commands.total} (${Object.entries(commands.top).map(([name, n]) => `${name} ${n}`).join(', ')})` };
}

async function main(): Promise<void> {
  const { redisUrl, forge, api, projectId, templates } = await startProbeServer('forge-probe-cost-');
  // Tasks created here wait for a tag no runner has: their waiting reason stays the same, so the
  // watchdog does not rewrite thousands of them whenever the probe's runner goes on or offline.
  const templatePath = `/api/project/${projectId}/templates/${templates['run.sh']}`;
  await api.json('PUT', templatePath, { ...(await api.json('GET', templatePath)), runner_tag: 'probe-no-such-runner' });
  const runner = await api.json<{ id: number; token: string }>('POST', '/api/runners', { name: 'probe', tags: [], max_parallel_tasks: 1 });
  const publicKey = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
  const runnerHeaders = { 'x-runner-token': runner.token };
  const base = `${forge.url}/api/internal/runners`;
  const state = { version: 'probe', capabilities: [], active: [], draining: false };
  if ((await post(`${base}/hello`, { ...state, public_key: publicKey }, runnerHeaders)) !== 200) throw new Error('hello refused');
  const taskId = (await api.json<{ id: number }>('POST', `/api/project/${projectId}/tasks`, { template_id: templates['run.sh'] })).id;

  const expect = (status: number, want: number, what: string) => {
    if (status !== want) throw new Error(`${what} answered ${status}, expected ${want}`);
  };
  const kinds: Record<string, () => Promise<void>> = {
    'runner heartbeat': async () => expect(await post(`${base}/heartbeat`, state, runnerHeaders), 200, 'heartbeat'),
    'runner report refused (403)': async () => expect(await post(`${base}/jobs/${taskId}/running`, { attempt: 1, commit_hash: '', commit_message: '' }, runnerHeaders), 403, 'running'),
    'POST /tasks': async () => {
      const res = await api.request('POST', `/api/project/${projectId}/tasks`, { template_id: templates['run.sh'] });
      expect(res.status, 201, 'POST /tasks');
    },
  };
  // PROBE_KINDS=heartbeat,tasks measures only the kinds whose names contain one of the words.
  const only = (process.env.PROBE_KINDS ?? '').split(',').filter(Boolean);
  const chosen = Object.entries(kinds).filter(([name]) => only.length === 0 || only.some((word) => name.includes(word)));
  const results: Record<string, Array<{ cpu: number; p50: number; commands: string }>> = {};
  const redisClient = new Redis(redisUrl);
  for (let round = 0; round < rounds; round++) {
    for (const [name, send] of chosen) (results[name] ??= []).push(await measure(forge.pid, redisClient, perKind, send));
  }
  console.log(`${join(projectRoot)}: ${perKind} requests per kind, ${rounds} rounds (median of rounds)`);
  for (const [name, list] of Object.entries(results)) {
    console.log(`  ${name.padEnd(30)} server CPU ${median(list.map((r) => r.cpu)).toFixed(3)} ms/request   p50 ${median(list.map((r) => r.p50)).toFixed(2)} ms   (rounds: ${list.map((r) => r.cpu.toFixed(3)).join(', ')})`);
    console.log(`  ${''.padEnd(30)} Redis commands per request ${list.at(-1)!.commands}`);
  }
  redisClient.disconnect();
  api.close();
  agent.destroy();
}

runProbe(main);
