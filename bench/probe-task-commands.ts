/**
 * Probe: the Redis commands one task costs, by phase of its life and by command name. A private
 * redis-server and the real server (`node bin/run.js server`); this script plays one runner over
 * HTTP (the real runner protocol, revision 2: lines inside the start report and the result) so the
 * phases are separate and the counts deterministic. Per task:
 *
 *   create    POST /api/project/:id/tasks
 *   claim     POST /jobs/next (a task is waiting: answered at once)
 *   running   POST /jobs/:id/running with 1 line printed before the start
 *   heartbeat POST /heartbeat naming the task
 *   output    POST /jobs/:id/output with 2 lines
 *   result    POST /jobs/:id/result with 1 last line
 *   after     what the server still sends once the result is answered (after-task hooks), in
 *             the next 300 ms
 *
 * Commands are read with MONITOR: each phase starts with an `ECHO` marker sent by this script on its
 * own connection, and commands run inside a Lua script are counted too (as INFO commandstats
 * does: an EVALSHA of 6 inner calls is 7). "sent" counts the commands the server itself sent
 * (Lua calls excluded): each is a socket write on the server and a reply to read, what costs its
 * CPU on this kind of VM. Timer work of the server (the watchdog's pass, the
 * waiting-reason refresh, BullMQ's idle polls of its completion/notification/schedule queues, the
 * workflow sweep) is not per task: it is shown apart as "background".
 *
 *   npx tsx bench/probe-task-commands.ts [tasks, default 20]
 *
 * PROBE_JSON=1 prints the figures as JSON too.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import { Redis } from 'ioredis';
import { startProbeServer } from './lib/forge.js';
import { monitorRedis } from './lib/monitor.js';
import { runProbe, sleep } from './lib/procs.js';
import { scriptNames, scriptSource } from '../services/redis/scripts.js';

const tasks = Number(process.argv[2] ?? 20);
const PHASES = ['create', 'claim', 'running', 'heartbeat', 'output', 'result', 'after'] as const;
type Phase = (typeof PHASES)[number];
const MARK = 'forge-probe-phase';

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function post(url: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(payload.length), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/** Script SHA1 → name, to name EVALSHA calls and tell the watchdog's apart (composed scripts as Redis runs them). */
function scriptShas(): Map<string, string> {
  return new Map(scriptNames().map((name) => [sha1(scriptSource(name)), name]));
}

interface Seen { name: string; phase: Phase | 'background'; sent: boolean }

/**
 * Whether a command the server sent is timer work rather than part of a task: the watchdog's pass
 * (lease-expired.lua), the waiting-reason refresh (ZCARD of each queue), orphan repair (the active
 * zsets, the leases HMGET), and BullMQ's own queues (completion, notifications, schedules) idling.
 */
function isBackground(name: string, args: string[], script: string | undefined, inScript: boolean): boolean {
  if (script === 'lease-expired') return true;
  if (inScript || name === 'publish') return false;
  const key = args[1] ?? '';
  if (name === 'zcard' && key.endsWith(':wait')) return true;
  if (name === 'zrange' && key.endsWith(':active')) return true;
  if (name === 'hmget' && key === '{forge}:leases') return true;
  if (/^b(z|l)pop|^bzpopmin|^brpoplpush|^blmove/.test(name)) return true;
  // BullMQ's scripts and reads touch keys under its prefix `forge:`, Forge's own keys start with `{`.
  if (key.startsWith('forge:')) return true;
  return false;
}

async function main(): Promise<void> {
  const { redisUrl, forge, api, projectId, templates } = await startProbeServer('forge-probe-task-commands-');
  const runner = await api.json<{ id: number; token: string }>('POST', '/api/runners', { name: 'probe', tags: [], max_parallel_tasks: 1 });
  const publicKey = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
  const headers = { 'x-runner-token': runner.token };
  const base = `${forge.url}/api/internal/runners`;
  const idle = { version: 'probe', capabilities: [], active: [], draining: false };
  const expect = (answer: { status: number; body: any }, want: number, what: string) => {
    if (answer.status !== want) throw new Error(`${what} answered ${answer.status}, expected ${want}: ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  expect(await post(`${base}/hello`, { ...idle, public_key: publicKey }, headers), 200, 'hello');

  const names = scriptShas();
  const marker = new Redis(redisUrl);
  const seen: Seen[] = [];
  let phase: Phase | undefined;
  let script: string | undefined;
  let markerSource = '';
  const monitor = await monitorRedis(redisUrl, (_time, args, source) => {
    const name = String(args[0]).toLowerCase();
    if (name === 'echo' && String(args[1]).startsWith(MARK)) {
      phase = String(args[1]).slice(MARK.length + 1) as Phase;
      markerSource = source;
      return;
    }
    if (phase === undefined || source === markerSource) return;
    // Commands inside a script follow its EVAL/EVALSHA in the feed.
    // ioredis sends EVAL (then EVALSHA) the first time a connection runs a script: named alike.
    if (source !== 'lua') {
      script = name === 'evalsha' ? names.get(String(args[1])) ?? 'evalsha ?' : name === 'eval' ? names.get(sha1(String(args[1]))) ?? 'eval ?' : undefined;
    }
    const label = source === 'lua' ? `${script}: ${name}` : name === 'evalsha' || name === 'eval' ? `EVALSHA ${script}` : name;
    seen.push({ name: label, phase: isBackground(name, args, script, source === 'lua') ? 'background' : phase, sent: source !== 'lua' });
  });
  const mark = async (next: Phase | 'end') => {
    await marker.echo(`${MARK}:${next}`);
  };

  const line = (seq: number) => ({ seq, time: new Date().toISOString(), output: `line ${seq}` });
  const started = performance.now();
  for (let i = 0; i < tasks; i++) {
    await mark('create');
    const taskId = (await api.json<{ id: number }>('POST', `/api/project/${projectId}/tasks`, { template_id: templates['run.sh'] })).id;
    await mark('claim');
    const claim = expect(await post(`${base}/jobs/next`, idle, headers), 200, 'jobs/next') as { task_id: number; attempt: number };
    if (claim.task_id !== taskId) throw new Error(`claimed task ${claim.task_id}, expected ${taskId}`);
    const { attempt } = claim;
    await mark('running');
    expect(await post(`${base}/jobs/${taskId}/running`, { attempt, commit_hash: 'abc', commit_message: 'probe', lines: [line(1)] }, headers), 200, 'running');
    await mark('heartbeat');
    const beat = expect(await post(`${base}/heartbeat`, { ...idle, active: [{ task_id: taskId, attempt }] }, headers), 200, 'heartbeat') as { lost: number[] };
    if (beat.lost.length > 0) throw new Error(`heartbeat says task ${taskId} is lost`);
    await mark('output');
    expect(await post(`${base}/jobs/${taskId}/output`, { attempt, lines: [line(2), line(3)] }, headers), 200, 'output');
    await mark('result');
    const start = new Date().toISOString();
    expect(await post(`${base}/jobs/${taskId}/result`, { attempt, status: 'success', exit_code: 0, commit_hash: 'abc', commit_message: 'probe', start, lines: [line(4)] }, headers), 200, 'result');
    await mark('after');
    await sleep(300); // after-task hooks run once the result is answered
  }
  await mark('end');
  const seconds = (performance.now() - started) / 1000;
  const final = await api.json<{ status: string }[]>('GET', `/api/project/${projectId}/tasks`);
  if (final.length !== tasks || final.some((t) => t.status !== 'success')) throw new Error(`expected ${tasks} successful tasks: ${JSON.stringify(final.map((t) => t.status))}`);

  const byPhase = new Map<string, Map<string, number>>();
  const sentBy = new Map<string, number>();
  for (const { phase: p, sent } of seen) if (sent) sentBy.set(p, (sentBy.get(p) ?? 0) + 1);
  for (const { name, phase: p } of seen) {
    const counts = byPhase.get(p) ?? new Map<string, number>();
    counts.set(name, (counts.get(name) ?? 0) + 1);
    byPhase.set(p, counts);
  }
  const per = (n: number) => +(n / tasks).toFixed(2);
  const sum = (counts: Map<string, number> | undefined) => [...(counts ?? new Map<string, number>()).values()].reduce((a, b) => a + b, 0);
  const perTask = PHASES.reduce((total, p) => total + sum(byPhase.get(p)), 0);
  const runnerPath = PHASES.filter((p) => p !== 'create').reduce((total, p) => total + sum(byPhase.get(p)), 0);
  console.log(`${tasks} tasks on one runner (protocol revision 2), Redis commands per task, Lua calls included:`);
  const sentOf = (phases: readonly string[]) => phases.reduce((total, p) => total + (sentBy.get(p) ?? 0), 0);
  console.log(`  total ${per(perTask)}   runner's path (claim … after) ${per(runnerPath)}   create ${per(sum(byPhase.get('create')))}`);
  console.log(`  sent by the server: total ${per(sentOf(PHASES))}   runner's path ${per(sentOf(PHASES.filter((p) => p !== 'create')))}`);
  for (const p of [...PHASES, 'background'] as const) {
    const counts = byPhase.get(p);
    const detail = [...(counts ?? [])].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${per(n)}`).join(', ');
    const head = p === 'background' ? `background (${seconds.toFixed(1)} s, not per task; shown per task)` : p;
    console.log(`  ${head.padEnd(12)} ${String(per(sum(counts))).padStart(6)}  (sent ${String(per(sentBy.get(p) ?? 0)).padStart(4)})   ${detail}`);
  }
  if (process.env.PROBE_JSON) {
    console.log(JSON.stringify({
      tasks, per_task: per(perTask), runner_path: per(runnerPath), sent: Object.fromEntries([...sentBy].map(([p, n]) => [p, per(n)])),
      phases: Object.fromEntries([...byPhase].map(([p, counts]) => [p, { total: per(sum(counts)), commands: Object.fromEntries([...counts].map(([k, v]) => [k, per(v)])) }])),
    }));
  }
  monitor.stop();
  marker.disconnect();
  api.close();
  agent.destroy();
}

runProbe(main);
