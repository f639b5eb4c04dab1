/**
 * The process launcher's own process (see launcher.ts): it starts task processes for the runner
 * agent that forked it, so that the agent, a large process, never forks. It stays small and
 * nearly idle, so its forks copy few page tables and its pages are seldom written between forks
 * (each fork makes every written page of the parent copy-on-write). Only node: built-ins here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { LaunchRequest, LauncherMessage } from './launcher-messages.js';

const send = (message: LauncherMessage, handle?: Socket) => process.send!(message, handle as never);

function launch(request: LaunchRequest): void {
  let child: ChildProcess;
  try {
    child = spawn(request.command, request.args, {
      cwd: request.cwd, env: request.env, detached: true, uid: request.uid, gid: request.gid,
      stdio: ['ignore', 'pipe', 'pipe', ...(request.infoFd ? (['pipe'] as const) : [])],
    });
  } catch (err) {
    send({ t: 'failed', id: request.id, message: (err as Error).message, code: (err as NodeJS.ErrnoException).code });
    return;
  }
  if (!child.pid) {
    child.once('error', (err) => {
      for (const stream of child.stdio) stream?.destroy();
      send({ t: 'failed', id: request.id, message: err.message, code: (err as NodeJS.ErrnoException).code });
    });
    return;
  }
  // The pipes go to the agent unread: reading stops in this same turn, before any data can
  // arrive, as Node keeps a sent handle open until the agent acknowledges it and drops what it
  // would read meanwhile.
  const pipes = [child.stdout!, child.stderr!] as Socket[];
  for (const pipe of pipes) (pipe as unknown as { _handle: { readStop(): number } })._handle.readStop();
  send({ t: 'started', id: request.id, pid: child.pid });
  send({ t: 'pipe', id: request.id, fd: 1 }, pipes[0]);
  send({ t: 'pipe', id: request.id, fd: 2 }, pipes[1]);
  const info = child.stdio[3];
  if (info) {
    let text: string | undefined = '';
    info.on('error', () => {});
    info.on('data', (chunk) => {
      if (text === undefined) return;
      text += String(chunk);
      const match = /"child-pid":\s*(\d+)/.exec(text);
      if (!match) return;
      text = undefined;
      send({ t: 'info', id: request.id, pid: Number(match[1]) });
    });
  }
  child.once('exit', (code, signal) => {
    info?.destroy();
    send({ t: 'exit', id: request.id, code, signal });
  });
}

process.on('message', (message: LaunchRequest) => {
  if (message?.t === 'launch') launch(message);
});
// The agent is gone (its end of the channel closed): its task processes live on in their own
// groups, which its next start ends from its records.
process.on('disconnect', () => process.exit(0));
