import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { JobPayload, TaskResult } from '../../protocol/wire.js';
import { stepsFor } from './apps.js';
import { gitAuthEnv, SecretFiles } from './credentials.js';
import { checkout, type CheckoutResult } from './git.js';
import { createMasker } from './mask.js';
import type { ProcessGroups } from './process-groups.js';
import { runProcess } from './process.js';

export interface ExecuteContext {
  tmpPath: string;
  sshConfigPath: string;
  /** Every output line, already masked and timestamped; a promise answered pauses the task's pipes until it settles. */
  onLine: (line: { time: string; output: string }) => void | Promise<void>;
  /** Called once the repository is checked out and the app is about to run. */
  onRunning: (commit: CheckoutResult) => Promise<void>;
  signal: AbortSignal;
  graceMs?: number;
  groups?: ProcessGroups;
}

/**
 * Runs one task: a private work folder, a checkout of the repository, then the app's commands.
 * The same code runs in the server's local worker and in every remote runner.
 */
export async function executeTask(payload: JobPayload, ctx: ExecuteContext): Promise<TaskResult> {
  const mask = createMasker(payload.mask);
  const say = (output: string) => ctx.onLine({ time: new Date().toISOString(), output: mask(output) });
  const start = new Date().toISOString();
  const deadline = payload.max_duration_sec > 0 ? Date.now() + payload.max_duration_sec * 1000 : undefined;
  const workDir = join(ctx.tmpPath, `task_${payload.task.id}_${payload.task.attempt}`);
  const repoDir = join(workDir, 'repository');
  const files = new SecretFiles();
  let commit: CheckoutResult = { commit_hash: '', commit_message: '' };
  const result = (status: TaskResult['status'], exit_code: number | null, error: string): TaskResult => {
    if (error) say(`[forge] ${error}`);
    return { status, exit_code, error, ...commit, start, end: new Date().toISOString() };
  };

  try {
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true, mode: 0o700 });
    const gitEnv = gitAuthEnv(payload.repository.auth, files, ctx.sshConfigPath, join(ctx.tmpPath, 'known_hosts'));
    try {
      commit = await checkout(payload.repository.git_url, payload.repository.git_branch, repoDir, gitEnv, say);
    } catch (err) {
      return result('error', null, `cannot clone the repository: ${mask((err as Error).message.trim())}`);
    }
    if (ctx.signal.aborted) return result('stopped', null, 'stopped before it ran');
    await ctx.onRunning(commit);
    const steps = stepsFor(payload, repoDir, files);
    for (const step of steps) {
      say(`$ ${step.command} ${step.args.join(' ')}`);
      const outcome = await runProcess(step.command, step.args, {
        cwd: repoDir,
        env: { ...process.env, ...payload.env, ...payload.secret_env, ...gitEnv, ...step.env, FORGE_TASK_ID: String(payload.task.id) },
        onLine: say, signal: ctx.signal, deadline, graceMs: ctx.graceMs, groups: ctx.groups,
      });
      if (outcome.spawnError) return result('error', null, outcome.spawnError);
      if (outcome.ended === 'stopped') return result('stopped', outcome.exitCode, 'stopped by request');
      if (outcome.ended === 'timeout') return result('error', outcome.exitCode, `ended after exceeding the task duration limit of ${payload.max_duration_sec} s (max_task_duration_sec)`);
      if (outcome.exitCode !== 0) return result('error', outcome.exitCode, `${step.command} exited with code ${outcome.exitCode}`);
    }
    return result('success', 0, '');
  } catch (err) {
    return result('error', null, mask((err as Error).message));
  } finally {
    files.remove();
    rmSync(workDir, { recursive: true, force: true });
  }
}
