import { chownSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobPayload, TaskResult } from '../../protocol/wire.js';
import { stepsFor } from './apps.js';
import { gitAuthEnv, localRepositoryConfig, SecretFiles, secretsDirFor, usesSsh } from './credentials.js';
import { baseEnvironment } from './environment.js';
import { checkout, type CheckoutResult } from './git.js';
import { awaitDecision, type AskConfirmation } from './confirmation.js';
import { createMasker } from './mask.js';
import type { ProcessGroups } from './process-groups.js';
import { runProcess } from './process.js';
import { HOME, releaseWorkFolderSoon, takeWorkFolder } from './work-folder.js';
import { INSIDE, taskUserName, type Mount, type SandboxSettings, type TaskUser } from './sandbox.js';

export interface ExecuteContext {
  tmpPath: string;
  sshConfigPath: string;
  /** Every output line, already masked and timestamped; a promise answered pauses the task's pipes until it settles. */
  onLine: (line: { time: string; output: string }) => void | Promise<void>;
  /** Called once the repository is checked out and the app is about to run. */
  onRunning: (commit: CheckoutResult) => Promise<void>;
  /** A Terraform/OpenTofu plan waits for confirm or reject (tasks run without auto_approve). */
  awaitConfirmation?: AskConfirmation;
  signal: AbortSignal;
  graceMs?: number;
  groups?: ProcessGroups;
  /** How tasks are isolated (prepareSandbox); without it they run unsandboxed as this process's user. */
  sandbox?: SandboxSettings;
}

/** A local repository (a path or file:// URL) on this machine, if the URL names one. */
function localRepository(url: string): string | undefined {
  if (url.startsWith('file://')) return fileURLToPath(url);
  return url.startsWith('/') ? url : undefined;
}

/** known_hosts files made ready (and given to the task user) by this process. */
const knownHostsReady = new Set<string>();

/**
 * Forge's known_hosts in tmp_path, shared by the clones of every task (hosts trusted on first use
 * are pinned there), writable by the task user: made and handed over once per process, not per task.
 */
function prepareKnownHosts(tmpPath: string, user: TaskUser | undefined): string {
  const knownHosts = join(tmpPath, 'known_hosts');
  if (knownHostsReady.has(knownHosts) && existsSync(knownHosts)) return knownHosts;
  if (!existsSync(knownHosts)) writeFileSync(knownHosts, '', { mode: 0o600 });
  if (user) chownSync(knownHosts, user.uid, user.gid);
  knownHostsReady.add(knownHosts);
  return knownHosts;
}

/**
 * Runs one task: a private work folder, a checkout of the repository, then the app's commands.
 * The same code runs in the server's local worker and in every remote runner. With the sandbox
 * every process of the task, the clone included, sees only the task's own folder (its checkout
 * and HOME), its secrets and a read-only system; repository credentials exist only for the clone.
 */
export async function executeTask(payload: JobPayload, ctx: ExecuteContext): Promise<TaskResult> {
  const settings: SandboxSettings = ctx.sandbox ?? { mode: 'none', hidden: [] };
  const sandboxed = settings.mode === 'bwrap';
  const mask = createMasker(payload.mask);
  const say = (output: string) => ctx.onLine({ time: new Date().toISOString(), output: mask(output) });
  // Process output is masked as a stream (secrets split across writes included) before it is split into lines.
  const emit = (output: string) => ctx.onLine({ time: new Date().toISOString(), output });
  const start = new Date().toISOString();
  const deadline = payload.max_duration_sec > 0 ? Date.now() + payload.max_duration_sec * 1000 : undefined;
  const workDir = join(ctx.tmpPath, `task_${payload.task.id}_${payload.task.attempt}`);
  const seen = sandboxed ? INSIDE.task : workDir; // the work folder as the task's processes see it
  const user = settings.user;
  const env = baseEnvironment(join(seen, HOME), taskUserName(settings));
  const workMount: Mount = { host: workDir, inside: INSIDE.task, writable: true, kind: 'dir' };
  // Tools that look up the user's home (~user, e.g. ansible's remote_tmp) find the task's HOME there too.
  const homeMounts: Mount[] = settings.home ? [{ host: join(workDir, HOME), inside: settings.home, writable: true, kind: 'dir' }] : [];
  const run = { onLine: emit, mask: mask.stream, signal: ctx.signal, deadline, graceMs: ctx.graceMs, groups: ctx.groups };
  let commit: CheckoutResult = { commit_hash: '', commit_message: '' };
  const secretFolders: SecretFiles[] = [];
  const result = (status: TaskResult['status'], exit_code: number | null, error: string): TaskResult => {
    if (error) say(`[forge] ${error}`);
    return { status, exit_code, error, ...commit, start, end: new Date().toISOString() };
  };
  const overTime = `ended after exceeding the task duration limit of ${payload.max_duration_sec} s (max_task_duration_sec)`;

  try {
    takeWorkFolder(workDir, ctx.tmpPath, user);

    // The clone: its own secrets folder, gone before the app starts.
    const cloneFiles = new SecretFiles(secretsDirFor(workDir, 'clone'), sandboxed ? INSIDE.secrets : secretsDirFor(workDir, 'clone'), user);
    secretFolders.push(cloneFiles);
    let url = payload.repository.git_url;
    // Only an SSH clone runs ssh: it alone gets the known hosts, the ssh config and the home ssh looks in.
    const ssh = usesSsh(url);
    const knownHosts = ssh ? prepareKnownHosts(ctx.tmpPath, user) : '';
    const mounts: Mount[] = [workMount];
    if (ssh) mounts.push(...homeMounts, { host: knownHosts, inside: INSIDE.knownHosts, writable: true, kind: 'file' });
    if (ssh && ctx.sshConfigPath) mounts.push({ host: ctx.sshConfigPath, inside: INSIDE.sshConfig });
    const local = localRepository(url);
    let localConfig: string | undefined;
    if (sandboxed && local && existsSync(local)) {
      mounts.push({ host: local, inside: INSIDE.origin }, { host: localRepositoryConfig(ctx.tmpPath, INSIDE.origin), inside: INSIDE.gitConfig, kind: 'file' });
      url = INSIDE.origin;
      localConfig = INSIDE.gitConfig;
    }
    let gitEnv: Record<string, string>;
    try {
      gitEnv = gitAuthEnv(payload.repository.auth, cloneFiles, payload.repository.git_url, {
        sshConfig: ctx.sshConfigPath && (sandboxed ? INSIDE.sshConfig : ctx.sshConfigPath),
        knownHosts: sandboxed ? INSIDE.knownHosts : knownHosts, localRepository: local && url, localRepositoryConfig: localConfig,
      });
    } catch (err) {
      return result('error', null, `cannot clone the repository: ${mask((err as Error).message)}`);
    }
    mounts.push(...cloneFiles.mounts); // once its files are written: none when it has none
    const ref = payload.repository.git_branch;
    say(`Cloning ${payload.repository.git_url}${ref ? ` at ${ref}` : ''}`);
    const cloned = await checkout(
      { url, ref, dir: join(seen, 'repository'), headFile: join(seen, '.head'), dirOnHost: join(workDir, 'repository'), headFileOnHost: join(workDir, '.head') },
      { ...run, cwd: seen, env: { ...env, ...gitEnv }, sandbox: { settings, mounts } },
    );
    cloneFiles.remove();
    if (cloned.spawnError) return result('error', null, `cannot clone the repository: ${cloned.spawnError}`);
    if (cloned.ended === 'stopped') return result('stopped', null, 'stopped before it ran');
    if (cloned.ended === 'timeout') return result('error', null, overTime);
    if (!cloned.commit) return result('error', null, `cannot clone the repository: ${mask(cloned.error ?? '')}`);
    commit = cloned.commit;
    say(`Checked out ${commit.commit_hash.slice(0, 12)} ${commit.commit_message}`);
    if (ctx.signal.aborted) return result('stopped', null, 'stopped before it ran');
    await ctx.onRunning(commit);

    const files = new SecretFiles(secretsDirFor(workDir, ''), sandboxed ? INSIDE.secrets : secretsDirFor(workDir, ''), user);
    secretFolders.push(files);
    const repoDir = join(seen, 'repository');
    const steps = stepsFor(payload, { dir: repoDir, hostDir: join(workDir, 'repository'), taskDir: seen }, files);
    for (const step of steps) {
      if (step.confirmFirst) {
        say('[forge] the plan is ready: waiting for confirmation (confirm or reject the task)');
        const decision = await awaitDecision(ctx.awaitConfirmation, ctx.signal, deadline);
        if (decision === 'stopped') return result('stopped', null, 'stopped while waiting for confirmation');
        if (decision === 'timeout') return result('error', null, `${overTime}, while waiting for confirmation`);
        if (decision === 'rejected') return result('rejected', null, 'the plan was rejected: nothing was applied');
        say('[forge] the plan was confirmed: applying it');
      }
      say(`$ ${step.command} ${step.args.join(' ')}`);
      const outcome = await runProcess(step.command, step.args, {
        ...run, cwd: repoDir, sandbox: { settings, mounts: [workMount, ...homeMounts, ...files.mounts, ...(step.mounts ?? [])] },
        env: { ...env, ...payload.env, ...payload.secret_env, ...step.env, FORGE_TASK_ID: String(payload.task.id) },
      });
      if (outcome.spawnError) return result('error', null, outcome.spawnError);
      if (outcome.ended === 'stopped') return result('stopped', outcome.exitCode, 'stopped by request');
      if (outcome.ended === 'timeout') return result('error', outcome.exitCode, overTime);
      if (outcome.exitCode !== 0) return result('error', outcome.exitCode, `${step.command} exited with code ${outcome.exitCode}`);
      step.after?.();
    }
    return result('success', 0, '');
  } catch (err) {
    return result('error', null, mask((err as Error).message));
  } finally {
    for (const folder of secretFolders) folder.remove();
    releaseWorkFolderSoon(workDir, ctx.tmpPath, user);
  }
}
