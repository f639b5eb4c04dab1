import type { Transform } from 'node:stream';
import { processLauncher, signalGroup, type LaunchedProcess } from './launcher.js';
import { readLines, type LineSink } from './output-reader.js';
import type { ProcessGroups } from './process-groups.js';
import { bwrapArgs, onPath, type Mount, type SandboxSettings } from './sandbox.js';

export interface ProcessOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** May answer a promise to pause the pipes (backpressure). */
  onLine: LineSink;
  signal?: AbortSignal;
  /** Absolute time (ms) after which the process group is ended as over time. */
  deadline?: number;
  graceMs?: number;
  /** Where the running group is recorded, so a restarted executor can end it if we die. */
  groups?: ProcessGroups;
  /** How to isolate the process: in the bwrap sandbox with `mounts` (cwd is then a path inside it), or not. */
  sandbox?: { settings: SandboxSettings; mounts: Mount[] };
  /** Masks secrets in the raw output, before it is split into lines (so a secret split across writes is caught). */
  mask?: () => Transform;
}

export interface ProcessOutcome { exitCode: number | null; ended: 'exit' | 'stopped' | 'timeout'; spawnError?: string }

/**
 * Runs one command in its own process group, or in the task sandbox, and streams its stdout and
 * stderr line by line (from the launcher one stream, in the order written). Stop and the duration
 * limit end all of it: SIGTERM to the process group (in the sandbox: the task's session inside
 * it), then SIGKILL after the grace period — to the group, or to bwrap, whose PID namespace takes
 * every process of the task with it, daemons too.
 */
export function runProcess(command: string, args: string[], options: ProcessOptions): Promise<ProcessOutcome> {
  const sandbox = options.sandbox?.settings.mode === 'bwrap' ? options.sandbox : undefined;
  if (sandbox && !onPath(command, options.env.PATH)) {
    return Promise.resolve({ exitCode: null, ended: 'exit', spawnError: `${command} is not installed on this machine (not found on PATH)` });
  }
  return new Promise((resolve) => {
    let ended: ProcessOutcome['ended'] = 'exit';
    const user = options.sandbox?.settings.mode === 'none' ? options.sandbox.settings.user : undefined;
    const child = sandbox
      ? processLauncher.launch({ command: 'bwrap', args: bwrapArgs(sandbox.settings, sandbox.mounts, options.cwd, command, args, 3), cwd: '/', env: options.env, infoFd: true })
      : processLauncher.launch({ command, args, cwd: options.cwd, env: options.env, uid: user?.uid, gid: user?.gid, infoFd: false });
    child.once('failed', (err: Error) => resolve({ exitCode: null, ended: 'exit', spawnError: describeSpawnError(command, err) }));
    child.once('ready', () => watch(child as LaunchedProcess & { pid: number }));

    const watch = (child: LaunchedProcess & { pid: number }) => {
      try {
        options.groups?.add(child.pid);
      } catch (err) {
        // Untracked, it could outlive a crash of ours: end it before it does anything.
        signalGroup(child.pid, 'SIGKILL');
        for (const stream of child.outputs ?? []) stream.destroy();
        resolve({ exitCode: null, ended: 'exit', spawnError: `cannot record the task's processes: ${(err as Error).message}` });
        return;
      }
      // The sandbox's init (its host pid) leads the task's session inside the sandbox.
      let sandboxInit: number | undefined;
      child.once('info', (pid: number) => (sandboxInit = pid));
      let killTimer: NodeJS.Timeout | undefined;
      let deadlineTimer: NodeJS.Timeout | undefined;

      const killGroup = (why: 'stopped' | 'timeout') => {
        if (ended !== 'exit' || child.exited) return;
        ended = why;
        // Without the sandbox's init pid yet, there is nothing to ask gently: bwrap goes at once.
        if (sandbox && !sandboxInit) return signalGroup(child.pid, 'SIGKILL');
        signalGroup(sandboxInit ?? child.pid, 'SIGTERM');
        killTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), options.graceMs ?? 5000);
      };
      const onAbort = () => killGroup('stopped');
      if (options.signal?.aborted) queueMicrotask(onAbort);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.deadline) deadlineTimer = setTimeout(() => killGroup('timeout'), Math.max(0, options.deadline - Date.now()));

      const outputs = child.outputs!;
      for (const output of outputs) output.on('error', () => {});
      const pipes = outputs.map((stream) => (options.mask ? stream.pipe(options.mask()) : stream));
      const streams = pipes.map((stream) => readLines(stream, options.onLine));

      child.once('exit', async (code: number | null, signal: NodeJS.Signals | null) => {
        // The leader is gone: end what it left running in its group, which also closes their copies of
        // the pipes. Not after bwrap's own exit: its sandbox's PID namespace ended every process of the
        // task with it, and signalling an empty group costs an exception (ESRCH) per process. An exit
        // with no status is a lost launcher's, whose bwrap may still run: its group goes then too.
        const bwrapReaped = sandbox && (code !== null || signal !== null);
        if (!bwrapReaped) signalGroup(child.pid, 'SIGKILL');
        options.groups?.remove(child.pid);
        // In the sandbox every process is gone with its init, so the pipes end. Without it, a process
        // that left the group (setsid) may hold them open forever: stop reading a while after the exit.
        let drainTimer: NodeJS.Timeout | undefined;
        const gaveUp = sandbox ? new Promise<void>(() => {}) : new Promise<void>((done) => (drainTimer = setTimeout(done, 2000)));
        await Promise.race([Promise.all(streams), gaveUp]);
        clearTimeout(drainTimer);
        for (const stream of [...pipes, ...outputs]) stream.destroy();
        clearTimeout(killTimer);
        clearTimeout(deadlineTimer);
        options.signal?.removeEventListener('abort', onAbort);
        resolve({ exitCode: code, ended });
      });
    };
  });
}

function describeSpawnError(command: string, err: Error): string {
  return (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${command} is not installed on this machine (not found on PATH)` : err.message;
}
