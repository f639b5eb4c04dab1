/**
 * The work of one Forge task without Forge, in the task sandbox: the clone and the app, each
 * started exactly as the executor starts them (bubblewrap through the executor's own runProcess,
 * with its mounts; as root, as the task user), one step at a time. Shared by the work floor
 * (bench/floor.ts) and the dispatch and protocol floors' runners (bench/dispatch-floor-host.ts),
 * which report the start between the clone and the app as a Forge runner does.
 */
import { chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseEnvironment } from '../../workers/executor/environment.js';
import { CLONE_LOCALE } from '../../workers/executor/git.js';
import { runProcess } from '../../workers/executor/process.js';
import { INSIDE, prepareSandbox, taskUserName, type SandboxSettings } from '../../workers/executor/sandbox.js';

/** Where a task's playbook comes from: a local repository, its branch, the script run in the checkout. */
export interface TaskSource { url: string; branch: string; playbook: string }

/** The sandbox as a runner sets it up: bubblewrap, and as root the task user a runner defaults to. */
export function taskSandbox(tmp: string): SandboxSettings {
  return prepareSandbox({ mode: 'bwrap', taskUser: process.getuid?.() === 0 ? 'forge-task' : '', hidden: [], tmpPath: tmp });
}

/** A task's two steps, started one after the other: the runner reports the start between them. */
export interface SandboxedTask { clone(): Promise<void>; app(): Promise<void> }

/**
 * The same clone and app as a task, each started in the sandbox with the mounts the executor
 * gives them; `workDir` must exist (see inPrivateDir).
 */
export function sandboxedTask(sandbox: SandboxSettings, source: TaskSource, workDir: string): SandboxedTask {
  const user = sandbox.user;
  if (user) chownSync(workDir, user.uid, user.gid);
  // As the executor does for a local repository: mounted read-only, trusted through a global config of the clone's own.
  writeFileSync(join(workDir, 'gitconfig'), `[safe]\n\tdirectory = "${INSIDE.origin}"\n`);
  const mounts = [{ host: workDir, inside: INSIDE.task, writable: true }, { host: source.url, inside: INSIDE.origin }];
  // The environment the executor gives a task's processes (the runner's PATH, LANG, LC_*, TERM, TZ;
  // the clone in the C locale), so the floor does the work a task does, locale set-up included.
  const env = baseEnvironment(INSIDE.task, taskUserName(sandbox));
  const cloneEnv = { ...env, GIT_CONFIG_GLOBAL: `${INSIDE.task}/gitconfig`, GIT_TERMINAL_PROMPT: '0', ...CLONE_LOCALE };
  const run = async (command: string, args: string[], cwd: string, env: Record<string, string>) => {
    const outcome = await runProcess(command, args, { cwd, env, onLine: () => {}, sandbox: { settings: sandbox, mounts } });
    if (outcome.spawnError || outcome.exitCode !== 0) throw new Error(`${command} ${args.join(' ')}: ${outcome.spawnError ?? `exit ${outcome.exitCode}`}`);
  };
  return {
    clone: () => run('git', ['clone', '--depth', '1', '--branch', source.branch, '--single-branch', '--template=', '--', INSIDE.origin, `${INSIDE.task}/repository`], INSIDE.task, cloneEnv),
    app: () => run('bash', [source.playbook], `${INSIDE.task}/repository`, env),
  };
}

/** Runs `fn` in a fresh private (0700) work folder, removed afterwards whatever the outcome. */
export async function inPrivateDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
