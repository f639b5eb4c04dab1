/** What the runner agent and its process launcher (launcher.ts, launcher.py) say to each other, as JSON lines. */

/** Agent → launcher: start a process in its own group, stdout and stderr on one socket (and fd 3, for bwrap's --info-fd). */
export interface LaunchRequest {
  t: 'launch';
  id: number;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  infoFd: boolean;
}

/**
 * Launcher → agent: `hello` once it serves; then per request in this order: `started` (or `failed`: no process), `output`
 * with the socket of the process's stdout and stderr attached, `info` once bwrap said its init's
 * pid, `exit`.
 */
export type LauncherMessage =
  | { t: 'hello'; pid: number }
  | { t: 'started'; id: number; pid: number }
  | { t: 'failed'; id: number; message: string; code?: string }
  | { t: 'output'; id: number }
  | { t: 'info'; id: number; pid: number }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };
