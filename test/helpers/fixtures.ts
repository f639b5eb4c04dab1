/**
 * Record set-up and task helpers on top of ApiClient: create the project → repository →
 * environment → (inventory) → template chain in one call, start a task, wait for it to end, and
 * read its output.
 */
import type { ApiClient } from './api.js';
import { waitFor } from './util.js';

/** The task record as the API returns it (the fields tests look at). */
export interface Task {
  id: number; project_id: number; template_id: number; status: string; exit_code: number | null; error: string;
  waiting_reason: string; commit_hash: string; commit_message: string; start: string | null; end: string | null;
  attempt: number; runner_name: string; [field: string]: unknown;
}
export interface OutputLine { id: string; task_id: number; time: string; output: string }

export const FINAL = ['success', 'error', 'stopped', 'rejected'];

export interface TemplateSetup {
  projectId: number;
  repositoryId: number;
  environmentId: number;
  inventoryId: number | null;
  templateId: number;
}

export interface TemplateOptions {
  /** Reuse a project instead of creating one. */
  projectId?: number;
  gitUrl: string;
  gitBranch?: string;
  sshKeyId?: number;
  app?: string;
  playbook?: string;
  arguments?: string[];
  /** Environment: extra variables (json), plain env variables, secrets. */
  extraVars?: Record<string, unknown>;
  env?: Record<string, string>;
  secrets?: Array<{ name: string; secret: string; type?: 'env' | 'var' }>;
  /** Static inventory text; an inventory record is made only when given. */
  inventory?: string;
  template?: Record<string, unknown>;
}

export async function createProject(api: ApiClient, name = 'test project'): Promise<number> {
  return (await api.json<{ id: number }>('POST', '/api/projects', { name })).id;
}

/** Creates whatever records a template needs and the template itself. */
export async function setupTemplate(api: ApiClient, options: TemplateOptions): Promise<TemplateSetup> {
  const projectId = options.projectId ?? (await createProject(api));
  const base = `/api/project/${projectId}`;
  const repositoryId = (await api.json('POST', `${base}/repositories`, {
    name: 'repo', git_url: options.gitUrl, git_branch: options.gitBranch ?? '', ssh_key_id: options.sshKeyId ?? null,
  })).id as number;
  const environmentId = (await api.json('POST', `${base}/environment`, {
    name: 'env', json: JSON.stringify(options.extraVars ?? {}), env: JSON.stringify(options.env ?? {}),
    secrets: (options.secrets ?? []).map((s) => ({ type: 'env', ...s })),
  })).id as number;
  const inventoryId = options.inventory === undefined ? null
    : ((await api.json('POST', `${base}/inventory`, { name: 'inv', type: 'static', inventory: options.inventory })).id as number);
  const templateId = (await api.json('POST', `${base}/templates`, {
    name: 'template', app: options.app ?? 'bash', playbook: options.playbook ?? 'run.sh', repository_id: repositoryId,
    environment_id: environmentId, inventory_id: inventoryId, arguments: options.arguments ?? null, ...(options.template ?? {}),
  })).id as number;
  return { projectId, repositoryId, environmentId, inventoryId, templateId };
}

/** POST /api/project/:pid/tasks; answers the new task (status waiting). */
export function startTask(api: ApiClient, projectId: number, templateId: number, extra: Record<string, unknown> = {}): Promise<Task> {
  return api.json<Task>('POST', `/api/project/${projectId}/tasks`, { template_id: templateId, ...extra });
}

export function getTask(api: ApiClient, projectId: number, taskId: number): Promise<Task> {
  return api.json<Task>('GET', `/api/project/${projectId}/tasks/${taskId}`);
}

/** Polls the task until its status is one of `statuses` (default: any final status). */
export function waitForTask(api: ApiClient, projectId: number, taskId: number, statuses: string[] = FINAL, timeoutMs = 30_000): Promise<Task> {
  return waitFor(async () => {
    const task = await getTask(api, projectId, taskId);
    return statuses.includes(task.status) ? task : undefined;
  }, timeoutMs, { what: `task ${taskId} to reach ${statuses.join('/')}` });
}

/** Starts a task and waits for it to end. */
export async function runTask(api: ApiClient, setup: Pick<TemplateSetup, 'projectId' | 'templateId'>, extra: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<Task> {
  const task = await startTask(api, setup.projectId, setup.templateId, extra);
  return waitForTask(api, setup.projectId, task.id, FINAL, timeoutMs);
}

/** GET …/output: every stored line (JSON lines with stream ids). */
export function taskOutput(api: ApiClient, projectId: number, taskId: number, after?: string): Promise<OutputLine[]> {
  return api.json<OutputLine[]>('GET', `/api/project/${projectId}/tasks/${taskId}/output${after ? `?after=${after}` : ''}`);
}

/** The output as one text, lines joined by "\n" (for error messages and `includes` checks). */
export async function outputText(api: ApiClient, projectId: number, taskId: number): Promise<string> {
  return (await taskOutput(api, projectId, taskId)).map((l) => l.output).join('\n');
}
