/**
 * Probe (not part of `npm run bench`): which of the server's allocations outlive a young-generation
 * collection while bursts of tasks reach idle runners. Those are what make scavenges long (each
 * survivor is copied) and what fills the old generation until a mark-compact: both pause every
 * dispatch in flight. The server runs with V8's sampling heap profiler (bench/lib/heap-sampler.mjs,
 * objects collected by a scavenge left out); the profile is read before and after the bursts and
 * the difference printed by allocating function (self) and by Forge function (inclusive), in MB.
 * Also prints the server's GC pauses over the bursts (from its /metrics).
 *
 *   npx tsx bench/probe-promoted.ts [--runners=100] [--bursts=30]
 *
 * Found with it (round 15): every create of a burst that found the runners' status snapshot stale
 * built its own copy of every runner's view (RunnerStore.reportedViewsIn): 14.7 of the 32.4 MB that
 * outlived a scavenge over 30 bursts on 100 runners; 2.3 of 21.6 MB once a burst shares one build.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createTask } from './lib/forge.js';
import { startEnv } from './lib/env.js';
import { cleanup, projectRoot, sleep, tempDir, waitFor } from './lib/procs.js';

const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const runners = Number(flag('runners') ?? 100);
const bursts = Number(flag('bursts') ?? 30);

interface Node { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }

/** Bytes sampled per allocating function (self) and per Forge function on the stack (inclusive). */
function sizes(head: Node): { self: Map<string, number>; inclusive: Map<string, number> } {
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const walk = (node: Node, stack: string[]) => {
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + node.selfSize);
    const onStack = stack.includes(key) ? stack : [...stack, key];
    for (const k of onStack) if (k.includes('dist/')) inclusive.set(k, (inclusive.get(k) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child, onStack);
  };
  walk(head, []);
  return { self, inclusive };
}

const root = tempDir('forge-probe-promoted-');
const logDir = join(root, 'logs');
mkdirSync(logDir);
const samples = join(root, 'samples.json');
try {
  const env = await startEnv({
    root, logDir, name: 'probe', hosts: 4, redis: 'standalone', scripts: { 'run.sh': 'exit 0' },
    settings: { FORGE_HEAP_SAMPLES: samples },
    serverNodeArgs: () => ['--import', join(projectRoot, 'bench', 'lib', 'heap-sampler.mjs')],
  });
  const pid = env.servers[0]!.pid;
  const read = async (): Promise<Node> => {
    rmSync(`${samples}.done`, { force: true });
    process.kill(pid, 'SIGUSR2');
    await waitFor(() => existsSync(`${samples}.done`), 30_000, 'the heap profile');
    const profile = JSON.parse(readFileSync(samples, 'utf8')) as { head?: Node; error?: string };
    if (!profile.head) throw new Error(`the server's heap profiler failed: ${profile.error ?? 'no profile'}`);
    return profile.head;
  };
  const gcPauses = async () => {
    const text = (await env.api.request('GET', '/metrics')).text;
    const value = (kind: string, what: string) => Number(new RegExp(`nodejs_gc_duration_seconds_${what}\\{kind="${kind}"\\} (\\S+)`).exec(text)?.[1] ?? 0);
    return { minor: { count: value('minor', 'count'), sum: value('minor', 'sum') }, major: { count: value('major', 'count'), sum: value('major', 'sum') } };
  };
  await env.addRunners(runners, 1);
  await sleep(3000);
  const templateId = env.templates['run.sh']!;
  const before = sizes(await read());
  const gcBefore = await gcPauses();
  for (let b = 0; b < bursts; b++) {
    const ids = await Promise.all(Array.from({ length: 10 }, async () => (await createTask(env.api, env.projectId, templateId)).id));
    for (const id of ids) await env.hosts.waitEvent(id, 'finished', 60_000);
  }
  const gcAfter = await gcPauses();
  const after = sizes(await read());
  const diff = (a: Map<string, number>, b: Map<string, number>) =>
    [...b].map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const).filter(([k]) => !/inspector|heap-sampler/.test(k)).sort((x, y) => y[1] - x[1]);
  const mb = (bytes: number) => (bytes / 1e6).toFixed(2).padStart(7);
  const self = diff(before.self, after.self);
  process.stdout.write(`${bursts} bursts of 10 onto ${runners} idle runners: ${mb(self.reduce((s, [, v]) => s + v, 0)).trim()} MB sampled that outlived a scavenge\n`);
  for (const kind of ['minor', 'major'] as const) {
    const count = gcAfter[kind].count - gcBefore[kind].count;
    process.stdout.write(`  ${kind} GC: ${count} pauses, ${((gcAfter[kind].sum - gcBefore[kind].sum) * 1000).toFixed(0)} ms in all\n`);
  }
  process.stdout.write('by allocating function (MB):\n');
  for (const [k, v] of self.slice(0, 20)) process.stdout.write(`${mb(v)}  ${k}\n`);
  process.stdout.write('by Forge function on the stack, inclusive (MB):\n');
  for (const [k, v] of diff(before.inclusive, after.inclusive).slice(0, 20)) process.stdout.write(`${mb(v)}  ${k}\n`);
  await env.stop();
} finally {
  await cleanup();
}
process.exit(0);
