import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { logger } from '../../protocol/log.js';
import { projectRoot } from '../../protocol/version.js';
import type { LaunchRequest, LauncherMessage } from './launcher-messages.js';

const log = logger('launcher');

/**
 * A task process, started by the launcher or by the agent itself. Emits `ready` once its pid and
 * its output are here, `failed` (an Error with the spawn's code) when no process started, `info`
 * with the host pid of the bwrap sandbox's init, and `exit` (code, signal).
 */
export class LaunchedProcess extends EventEmitter {
  pid?: number;
  /**
   * What the process writes: from the launcher one socket that is both its stdout and its stderr
   * (the order it wrote in is kept, as on a terminal); spawned by the agent, two pipes.
   */
  outputs?: Socket[];
  exitCode: number | null = null;
  exited = false;

  get ready(): boolean {
    return this.pid !== undefined && this.outputs !== undefined;
  }

  ended(code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    this.exitCode = code;
    this.emit('exit', code, signal);
  }
}

export type LaunchSpec = Omit<LaunchRequest, 't' | 'id'>;

/**
 * Starts the runner's task processes through one small Python process (launcher.py) instead of
 * forking the agent. Node's spawn is a fork: it copies the page tables of the whole agent, and
 * then every page the agent writes is copied on its first write. That cost 3.6 ms of the agent's
 * CPU per process at 80 MB, 8.7 ms at 280 MB, on a VM whose page faults are dear
 * (bench/probe-spawn-cost.ts); Python's subprocess uses vfork, 0.2 ms. The output pipes come to
 * the agent as sockets over the launcher's IPC channel, unread. Where python3 (3.9 or later) is
 * missing, or FORGE_LAUNCHER=direct, the agent spawns its processes itself, as before.
 */
export class ProcessLauncher {
  private helper?: ChildProcess;
  /** The helper said hello: it serves. One that exits before that cannot: the agent spawns itself from then on. */
  private serving = false;
  private direct = launcherSetting() === 'direct';
  private nextId = 0;
  private readonly running = new Map<number, { launched: LaunchedProcess; spec: LaunchSpec }>();

  launch(spec: LaunchSpec): LaunchedProcess {
    const launched = new LaunchedProcess();
    if (this.direct) {
      spawnDirect(spec, launched);
      return launched;
    }
    const id = ++this.nextId;
    const helper = this.start();
    this.running.set(id, { launched, spec });
    helper.channel?.ref();
    helper.send({ t: 'launch', id, ...spec } satisfies LaunchRequest, (err) => {
      if (err) this.lost(helper, `the process launcher is gone (${err.message})`);
    });
    return launched;
  }

  /** Starts the helper ahead of the first task, so that a burst of tasks does not wait for Python to start. */
  warm(): void {
    if (!this.direct) this.start();
  }

  /** The helper's pid, once it serves (the benchmark counts its CPU as the agent's); undefined when the agent spawns itself. */
  get helperPid(): number | undefined {
    return this.serving ? this.helper?.pid : undefined;
  }

  private start(): ChildProcess {
    if (this.helper) return this.helper;
    const file = launcherScript();
    // -I: none of the user's PYTHON* variables, site packages or current folder; -S: no site import at all.
    const helper = spawn('python3', ['-I', '-S', file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.helper = helper;
    helper.on('message', (message: LauncherMessage, handle?: Socket) => this.received(message, handle));
    helper.on('error', (err) => this.lost(helper, `the process launcher failed (${err.message})`));
    helper.once('exit', (code, signal) => this.lost(helper, `the process launcher exited (${signal ?? `code ${code}`})`));
    helper.unref();
    helper.channel?.unref();
    return helper;
  }

  private received(message: LauncherMessage, handle?: Socket): void {
    if (message.t === 'hello') {
      this.serving = true;
      return;
    }
    const launched = this.running.get(message.id)?.launched;
    if (!launched) {
      handle?.destroy();
      return;
    }
    switch (message.t) {
      case 'started':
        launched.pid = message.pid;
        break;
      case 'output':
        launched.outputs = handle ? [handle] : [];
        if (launched.ready) launched.emit('ready');
        break;
      case 'info':
        launched.emit('info', message.pid);
        break;
      case 'failed':
        this.settle(message.id);
        launched.emit('failed', Object.assign(new Error(message.message), { code: message.code }));
        break;
      case 'exit':
        this.settle(message.id);
        launched.ended(message.code, message.signal);
        break;
    }
  }

  /**
   * The helper is gone. Before its hello it never served (no python3, or one too old): what it was
   * asked is spawned here, and so is everything after. Once serving, what it ran is ended in its
   * groups by its caller (an exit of unknown code); the next launch starts a new helper.
   */
  private lost(helper: ChildProcess, why: string): void {
    if (this.helper !== helper) return;
    this.helper = undefined;
    const running = [...this.running.values()];
    this.running.clear();
    if (!this.serving) {
      this.direct = true;
      log.warn('task processes are started by this process itself (a fork each, dearer), as its launcher did not start; it needs python3 3.9 or later on PATH', { reason: why });
      for (const { launched, spec } of running) spawnDirect(spec, launched);
      return;
    }
    this.serving = false;
    for (const { launched } of running) {
      if (launched.ready) {
        launched.ended(null, null);
      } else {
        // Started but not yet handed over (its output comes last): nobody records or watches it, so it ends here.
        if (launched.pid) signalGroup(launched.pid, 'SIGKILL');
        launched.emit('failed', new Error(why));
      }
    }
  }

  private settle(id: number): void {
    this.running.delete(id);
    if (this.running.size === 0) this.helper?.channel?.unref();
  }
}

/** FORGE_LAUNCHER: `python` (the default) or `direct`; anything else is said and taken as the default. */
function launcherSetting(): 'python' | 'direct' {
  const value = process.env.FORGE_LAUNCHER?.trim() || 'python';
  if (value === 'python' || value === 'direct') return value;
  log.warn(`FORGE_LAUNCHER is "${value}": it can be "python" (start task processes through python3, the default) or "direct" (this process starts them); using "python"`);
  return 'python';
}

/** launcher.py: in the checkout's sources (what a build with plain tsc leaves), or beside this module in a package. */
function launcherScript(): string {
  const source = join(projectRoot(), 'workers', 'executor', 'launcher.py');
  return existsSync(source) ? source : fileURLToPath(new URL('./launcher.py', import.meta.url));
}

/** Signals a process group (a task process leads its own); nothing when it is gone already. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/** The agent starts the process itself (Node's spawn: a fork of the agent). */
function spawnDirect(spec: LaunchSpec, launched: LaunchedProcess): void {
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd, env: spec.env, detached: true, uid: spec.uid, gid: spec.gid,
    stdio: ['ignore', 'pipe', 'pipe', ...(spec.infoFd ? (['pipe'] as const) : [])],
  });
  if (!child.pid) {
    child.once('error', (err) => {
      for (const stream of child.stdio) stream?.destroy();
      launched.emit('failed', err);
    });
    return;
  }
  child.on('error', () => {}); // a failed kill of a process that has ended: its exit follows
  const info = child.stdio[3] as Readable | null;
  if (info) readInfo(info, (pid) => launched.emit('info', pid));
  child.once('exit', (code, signal) => {
    info?.destroy();
    launched.ended(code, signal);
  });
  launched.pid = child.pid;
  launched.outputs = [child.stdout as Socket, child.stderr as Socket];
  queueMicrotask(() => launched.emit('ready')); // once the caller listens
}

/** The host pid of the sandbox's init, from bwrap's --info-fd JSON. */
function readInfo(stream: Readable, onPid: (pid: number) => void): void {
  let text: string | undefined = '';
  stream.on('error', () => {});
  stream.on('data', (chunk) => {
    if (text === undefined) return;
    text += String(chunk);
    const match = /"child-pid":\s*(\d+)/.exec(text);
    if (!match) return;
    text = undefined;
    onPid(Number(match[1]));
  });
}

/** One launcher per process: every agent of a runner host shares it. */
export const processLauncher = new ProcessLauncher();
