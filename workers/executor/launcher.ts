import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { LaunchRequest, LauncherMessage } from './launcher-messages.js';

/**
 * A task process started by the launcher. Emits `ready` once its pid and both output pipes are
 * here, `failed` (an Error with the spawn's code) when no process started, `info` with the host
 * pid of the bwrap sandbox's init, and `exit` (code, signal).
 */
export class LaunchedProcess extends EventEmitter {
  pid?: number;
  stdout?: Socket;
  stderr?: Socket;
  exitCode: number | null = null;
  exited = false;

  get ready(): boolean {
    return this.pid !== undefined && this.stdout !== undefined && this.stderr !== undefined;
  }
}

export type LaunchSpec = Omit<LaunchRequest, 't' | 'id'>;

/**
 * Starts the runner's task processes through one small helper process (launcher-process.ts)
 * instead of forking the agent itself. A fork copies the page tables of the whole agent, and
 * then every page the agent writes is copied on its first write: in a runner host process of
 * ~100 MB those faults were a quarter of its CPU (perf, on a VM whose page faults are dear),
 * more than all of its JavaScript. The helper is forked once, when the first process is
 * launched, and again if it ever exits; its pipes come to the agent as sockets, unread.
 */
export class ProcessLauncher {
  private helper?: ChildProcess;
  private nextId = 0;
  private readonly running = new Map<number, LaunchedProcess>();

  launch(spec: LaunchSpec): LaunchedProcess {
    const launched = new LaunchedProcess();
    const id = ++this.nextId;
    const helper = this.start();
    this.running.set(id, launched);
    helper.channel?.ref();
    helper.send({ t: 'launch', id, ...spec } satisfies LaunchRequest, (err) => {
      if (err) this.fail(id, launched, err.message);
    });
    return launched;
  }

  /** The helper's pid, once it runs (the benchmark counts its CPU as the agent's). */
  get helperPid(): number | undefined {
    return this.helper?.pid;
  }

  private start(): ChildProcess {
    if (this.helper) return this.helper;
    const file = fileURLToPath(new URL(`./launcher-process${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
    // Not the agent's node flags (a profiler, heap sizes); a small young generation keeps the pages it writes few.
    const execArgv = file.endsWith('.ts') ? process.execArgv : ['--max-semi-space-size=1'];
    const helper = fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.helper = helper;
    helper.on('message', (message: LauncherMessage, handle?: Socket) => this.received(message, handle));
    helper.on('error', () => {}); // a send to a helper that is gone: its exit below settles every launch
    helper.once('exit', (code, signal) => {
      if (this.helper === helper) this.helper = undefined;
      const why = `the process launcher exited (${signal ?? `code ${code}`})`;
      for (const [id, launched] of this.running) this.fail(id, launched, why);
    });
    helper.unref();
    helper.channel?.unref();
    return helper;
  }

  private received(message: LauncherMessage, handle?: Socket): void {
    const launched = this.running.get(message.id);
    if (!launched) {
      handle?.destroy();
      return;
    }
    switch (message.t) {
      case 'started':
        launched.pid = message.pid;
        break;
      case 'pipe':
        if (message.fd === 1) launched.stdout = handle;
        else launched.stderr = handle;
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
        launched.exited = true;
        launched.exitCode = message.code;
        launched.emit('exit', message.code, message.signal);
        break;
    }
  }

  /** The helper or its channel failed this launch: no process, or one whose end we cannot learn. */
  private fail(id: number, launched: LaunchedProcess, why: string): void {
    if (!this.running.has(id)) return;
    this.settle(id);
    if (launched.ready) {
      launched.exited = true;
      launched.emit('exit', null, null);
    } else {
      launched.stdout?.destroy();
      launched.stderr?.destroy();
      launched.emit('failed', new Error(why));
    }
  }

  private settle(id: number): void {
    this.running.delete(id);
    if (this.running.size === 0) this.helper?.channel?.unref();
  }
}

/** One launcher per process: every agent of a runner host shares it. */
export const processLauncher = new ProcessLauncher();
