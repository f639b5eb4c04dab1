/**
 * A runner host process's side of the IPC that RunnerHosts (bench/lib/hosts.ts) speaks: commands
 * answered by request id, events sent as they happen, 'ready' once set up, and no lingering once
 * the benchmark is gone. Shared by bench/runner-host.ts (transpiled next to it, so it imports
 * nothing) and bench/dispatch-floor-host.ts.
 */
import { performance } from 'node:perf_hooks';

/** The host's clock: the benchmark corrects it by the offset it measures with `ping`. */
export const now = () => performance.timeOrigin + performance.now();
export const send = (message: unknown) => process.send?.(message);

/** Answers the benchmark's commands; `stopAll` ends every runner on SIGTERM (3 s at most). Then says ready. */
export function serveCommands(commands: Record<string, (args: any) => unknown>, stopAll: () => Promise<unknown>): void {
  process.on('message', (raw) => {
    const { rid, cmd, args } = raw as { rid: number; cmd: string; args: unknown };
    Promise.resolve()
      .then(() => commands[cmd]!(args))
      .then((result) => send({ rid, result }), (err: Error) => send({ rid, error: err.stack ?? err.message }));
  });
  // The benchmark went away (even by SIGKILL): do not linger.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => {
    void Promise.race([stopAll(), new Promise((r) => setTimeout(r, 3000))]).finally(() => process.exit(0));
  });
  send({ type: 'ready', t: now() });
}

/** Stops the runners `ids` names (all when none), each with `stopOne`, and forgets them; answers the ids. */
export async function stopRunners<R>(runners: Map<number, R>, ids: number[] | undefined, stopOne: (runner: R) => Promise<void>): Promise<number[]> {
  const which = ids ?? [...runners.keys()];
  await Promise.all(which.map(async (id) => {
    const runner = runners.get(id);
    if (!runner) return;
    await stopOne(runner);
    runners.delete(id);
  }));
  return which;
}
