/**
 * Probe (not part of `npm run bench`; run with `npx tsx bench/probe-stolen-wake.ts`): can a
 * new-task wake-up be spent on a runner that cannot take the task, while an idle runner stays parked?
 *
 * GatewayCore.wakeOne() wakes the longest-parked *eligible* waiter, but eligibility only looks at
 * project and tag, not at whether that executor is full. An executor whose claim answered 'full'
 * parks in the same waiter list. When the wake-up for a new task lands on it, it finds itself full
 * and parks again; the wake-up is gone and the idle runner behind it never hears of the task.
 *
 * Set-up (two runners, max_parallel_tasks 1 in their server records):
 *   F: agent configured for 2 slots (runner.max_parallel_tasks 2 in its config, 1 in the record),
 *      so while it runs one task its second long-poll is parked as 'full' on the server;
 *   B: an ordinary 1-slot runner.
 * Steps: F takes a 20 s task (its second poll parks as 'full'); B starts and parks behind it; one
 * no-op task is created and its dispatch latency measured. Expected: ~10 ms (B is idle). Observed with the bug:
 * the task waits until something else wakes B (its long-poll timing out, ≤ long_poll_sec) or F's
 * slot frees.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Api } from './lib/api.js';
import { ADMIN, addRunners, createTask, makeRepo, setupProject, startForge } from './lib/forge.js';
import { RunnerHosts } from './lib/hosts.js';
import { cleanup, onCleanup, sleep, startRedis, tempDir } from './lib/procs.js';

const LONG_POLL_SEC = 25;

async function main(): Promise<void> {
  const root = tempDir('forge-probe-');
  const logDir = join(root, 'logs');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(join(root, 'redis'));
  try {
    const redis = await startRedis(join(root, 'redis'));
    const repo = await makeRepo(root, { 'run.sh': 'exit 0', 'long.sh': 'sleep 20' });
    const forge = await startForge(root, redis.url, logDir, { FORGE_LONG_POLL_SEC: String(LONG_POLL_SEC) });
    const api = new Api(forge.url);
    onCleanup(() => api.close());
    await api.login(ADMIN.login, ADMIN.password);
    const { projectId, templates } = await setupProject(api, repo, ['run.sh', 'long.sh']);
    const hosts = new RunnerHosts();
    onCleanup(() => hosts.close());
    await hosts.start(1, logDir);
    const base = { host: () => 0 };

    // F parks first, so the long task goes to F.
    const [f] = await addRunners(api, hosts, forge.url, root, { ...base, count: 1, recordMaxParallel: 1, agentMaxParallel: 2, firstIndex: 0 });
    await sleep(500);
    const long = await createTask(api, projectId, templates['long.sh']!);
    await hosts.waitEvent(long.id, 'started');
    console.log(`long task ${long.id} started on runner ${hosts.events.get(long.id)!.runner} (F = ${f!.id}); F's second long-poll is now parked as 'full'`);
    // B parks behind F's 'full' poll in the server's waiter list.
    const [b] = await addRunners(api, hosts, forge.url, root, { ...base, count: 1, recordMaxParallel: 1, firstIndex: 1 });
    await sleep(1000);

    // The measured task: B is idle and parked; F is full.
    const probe = await createTask(api, projectId, templates['run.sh']!);
    const started = await hosts.waitEvent(probe.id, 'started', 60_000);
    const latency = started - probe.tSend;
    const ranOn = hosts.events.get(probe.id)!.runner;
    console.log(`no-op task ${probe.id}: dispatch latency ${latency.toFixed(1)} ms, ran on runner ${ranOn} (${ranOn === b!.id ? 'B' : 'F'}); the idle runner B (id ${b!.id}) was parked the whole time`);
    console.log(latency > 1000 ? 'RESULT: the wake-up was spent on the full runner F; the idle runner B was not woken' : 'RESULT: dispatched promptly (no stolen wake-up)');
  } finally {
    await cleanup();
  }
}

await main();
process.exit(0);
