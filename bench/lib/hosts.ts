/**
 * The benchmark's side of bench/runner-host.ts: spawns host processes, talks to them over IPC,
 * keeps every agent 'started'/'finished' event (timestamps corrected by each host's measured clock
 * offset) and lets callers wait for a task's event.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ensureBuilt } from '../../test/helpers/build.js';
import { now } from './host-ipc.js';
import { projectRoot, spawnTracked, stopChild, tempDir } from './procs.js';

const compiledHosts = new Map<string, string>();

/**
 * bench/runner-host.ts as plain JavaScript that imports the built runner (dist/workers), so the
 * host processes run under plain `node` as `forge runner start` does: no TypeScript loader hooks
 * in the measured CPU. Its IPC module (bench/lib/host-ipc.ts) is transpiled beside it. dist/ is
 * rebuilt first when a source is newer (the test harness's check).
 */
async function runnerHostScript(buildRoot = projectRoot): Promise<string> {
  const known = compiledHosts.get(buildRoot);
  if (known) return known;
  if (buildRoot === projectRoot) await ensureBuilt();
  const toJs = (file: string, source = readFileSync(join(projectRoot, 'bench', file), 'utf8')) =>
    ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const source = readFileSync(join(projectRoot, 'bench', 'runner-host.ts'), 'utf8')
    .replaceAll("from '../workers/", `from '${buildRoot}/dist/workers/`)
    .replaceAll("from './lib/host-ipc.js'", "from './host-ipc.mjs'");
  const dir = tempDir('forge-bench-host-');
  writeFileSync(join(dir, 'host-ipc.mjs'), toJs(join('lib', 'host-ipc.ts')));
  const script = join(dir, 'runner-host.mjs');
  writeFileSync(script, toJs('runner-host.ts', source));
  compiledHosts.set(buildRoot, script);
  return script;
}

/** The benchmark's clock: the same function the hosts read theirs with. */
export { now };

/**
 * Clock-corrected times (ms). `answered`: the headers of the long-poll answer carrying the job
 * reached the agent's process; `body_read`: its body's end.
 */
export interface TaskEvents { started?: number; finished?: number; runner?: number; answered?: number; body_read?: number }
export interface PollRecord { start: number; end: number; status: number; host: number }

/** `dir`: the runner's own files (token, key); `work_dir`: its task work folders (taskWorkDir). */
export interface RunnerSpec { id: number; name: string; token: string; max_parallel: number; dir: string; work_dir: string; web_host: string }

class Host {
  private rid = 0;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  offsetMs = 0;
  rttMs = 0;
  readonly ready: Promise<void>;

  constructor(readonly index: number, readonly child: ChildProcess, onEvent: (message: any, host: Host) => void) {
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    child.on('message', (message: any) => {
      if (message.rid !== undefined) {
        const waiter = this.pending.get(message.rid);
        this.pending.delete(message.rid);
        if (message.error) waiter?.reject(new Error(`runner host ${index}: ${message.error}`));
        else waiter?.resolve(message.result);
      } else if (message.type === 'ready') markReady();
      else onEvent(message, this);
    });
    child.once('exit', (code, signal) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`runner host ${index} exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  call<T = any>(cmd: string, args: unknown = {}, timeoutMs = 120_000): Promise<T> {
    const rid = ++this.rid;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new Error(`runner host ${this.index}: ${cmd} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rid, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.child.send({ rid, cmd, args });
    });
  }

  /** Offset of the host's clock from ours, from the ping with the shortest round trip. */
  async syncClock(rounds = 30): Promise<void> {
    let best = Infinity;
    for (let i = 0; i < rounds; i++) {
      const t0 = now();
      const th = await this.call<number>('ping');
      const t1 = now();
      if (t1 - t0 < best) {
        best = t1 - t0;
        this.offsetMs = th - (t0 + t1) / 2;
      }
    }
    this.rttMs = best;
  }
}

export class RunnerHosts {
  readonly hosts: Host[] = [];
  readonly events = new Map<number, TaskEvents>();
  readonly rejections: string[] = [];
  private readonly waiters = new Map<string, Array<() => void>>();
  private readonly placement = new Map<number, Host>();

  /** `script`: a host script speaking the same IPC as bench/runner-host.ts (the dispatch floor's) instead of it. */
  constructor(private readonly script?: string) {}

  /**
   * `nodeArgs`: extra node flags for the host processes (e.g. --cpu-prof). `buildRoots`: per host,
   * the folder whose dist/ it runs (default this checkout's; another build to compare against).
   * Each host's stderr goes to `<logDir>/<logName>-<i>.log`.
   */
  async start(count: number, logDir: string, nodeArgs: string[] = [], buildRoots: string[] = [], logName = 'runner-host'): Promise<void> {
    const first = this.hosts.length;
    for (let i = first; i < first + count; i++) {
      const script = this.script ?? await runnerHostScript(buildRoots[i] || undefined);
      const child = spawnTracked(process.execPath, [...nodeArgs, script], {
        cwd: projectRoot, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, FORGE_LOG_LEVEL: 'warn' },
      });
      child.stderr!.pipe(createWriteStream(join(logDir, `${logName}-${i}.log`)));
      this.hosts.push(new Host(i, child, (message, host) => this.onEvent(message, host)));
    }
    const added = this.hosts.slice(first);
    await Promise.all(added.map((h) => h.ready));
    for (const host of added) await host.syncClock();
  }

  private onEvent(message: any, host: Host): void {
    if (message.type === 'rejected') {
      this.rejections.push(`runner ${message.runner}: ${message.message}`);
      return;
    }
    const entry = this.events.get(message.task_id) ?? {};
    const t = message.t - host.offsetMs;
    if (message.type === 'started') {
      entry.started = t;
      entry.runner = message.runner;
      if (typeof message.answered === 'number') entry.answered = message.answered - host.offsetMs;
      if (typeof message.body_read === 'number') entry.body_read = message.body_read - host.offsetMs;
    } else if (message.type === 'finished') entry.finished = t;
    this.events.set(message.task_id, entry);
    const key = `${message.type}:${message.task_id}`;
    for (const wake of this.waiters.get(key) ?? []) wake();
    this.waiters.delete(key);
  }

  /** Resolves with the (clock-corrected) time of the task's event, waiting for it if needed. */
  waitEvent(taskId: number, kind: 'started' | 'finished', timeoutMs = 60_000): Promise<number> {
    const have = this.events.get(taskId)?.[kind];
    if (have !== undefined) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const key = `${kind}:${taskId}`;
      const timer = setTimeout(() => reject(new Error(`task ${taskId} was not ${kind} by a runner within ${timeoutMs} ms${this.rejections.length ? `; runner rejections: ${this.rejections.join('; ')}` : ''}`)), timeoutMs);
      const list = this.waiters.get(key) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve(this.events.get(taskId)![kind]!);
      });
      this.waiters.set(key, list);
    });
  }

  get count(): number {
    return this.hosts.length;
  }

  /** Starts runners, spreading them over the hosts by `hostOf` (default: id order round robin). */
  async add(specs: RunnerSpec[], hostOf: (spec: RunnerSpec, index: number) => number): Promise<void> {
    const byHost = new Map<number, RunnerSpec[]>();
    specs.forEach((spec, index) => {
      const h = hostOf(spec, index) % this.hosts.length;
      byHost.set(h, [...(byHost.get(h) ?? []), spec]);
      this.placement.set(spec.id, this.hosts[h]!);
    });
    await Promise.all([...byHost].map(([h, list]) => this.hosts[h]!.call('add', { runners: list })));
  }

  async stop(ids: number[]): Promise<void> {
    const byHost = new Map<Host, number[]>();
    for (const id of ids) {
      const host = this.placement.get(id);
      if (host) byHost.set(host, [...(byHost.get(host) ?? []), id]);
    }
    await Promise.all([...byHost].map(([host, list]) => host.call('stop', { ids: list })));
    for (const id of ids) this.placement.delete(id);
  }

  /** Every long-poll answer the runners got in [since, until] (our clock). */
  async polls(since: number, until: number): Promise<{ polls: PollRecord[]; errors: number }> {
    const out: PollRecord[] = [];
    let errors = 0;
    for (const host of this.hosts) {
      const answer = await host.call<{ polls: Array<[number, number, number]>; errors: number }>('polls', { since: since + host.offsetMs, until: until + host.offsetMs });
      errors += answer.errors;
      for (const [start, end, status] of answer.polls) out.push({ start: start - host.offsetMs, end: end - host.offsetMs, status, host: host.index });
    }
    return { polls: out, errors };
  }

  /** Requests sent by all runners so far, by method and path pattern. */
  async requestCounts(): Promise<Record<string, number>> {
    const total: Record<string, number> = {};
    for (const host of this.hosts) {
      for (const [key, n] of Object.entries(await host.call<Record<string, number>>('requests'))) total[key] = (total[key] ?? 0) + n;
    }
    return total;
  }

  /** Each host's event-loop delay since the last call (max and p99, ms), then reset. */
  async loopDelays(): Promise<Array<{ host: number; max_ms: number; p99_ms: number }>> {
    const out: Array<{ host: number; max_ms: number; p99_ms: number }> = [];
    for (const host of this.hosts) out.push({ host: host.index, ...(await host.call<{ max_ms: number; p99_ms: number }>('loopDelay')) });
    return out;
  }

  pids(): number[] {
    return this.hosts.map((h) => h.child.pid!).filter(Boolean);
  }

  clock(): Array<{ host: number; offset_ms: number; rtt_ms: number }> {
    return this.hosts.map((h) => ({ host: h.index, offset_ms: h.offsetMs, rtt_ms: h.rttMs }));
  }

  async close(): Promise<void> {
    await Promise.all(this.hosts.map(async (host) => {
      await host.call('stop', {}, 10_000).catch(() => {});
      await stopChild(host.child, 3000);
    }));
  }
}
