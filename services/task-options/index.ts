import type { z } from 'zod';
import { ValidationError } from '../../protocol/validation.js';
import type { JobPayload } from '../../protocol/wire.js';
import type { Task, taskInput, Template } from '../common/model.js';
import type { Stores } from '../store/stores.js';
import type { ChainableCommander } from 'ioredis';
import { hasExtras, mergeExtras, saveExtrasIn } from './extras.js';
import { emptyExtras, resolveSurvey, type TaskExtras } from './survey.js';
import { versionFields } from './versions.js';

type TaskInput = z.infer<typeof taskInput>;

export interface PreparedTask {
  /** The input with the template's task_params defaults and the checked survey answers (secrets removed). */
  input: TaskInput;
  /** Fields the task record gets beyond the input (version, build_task_id, has_extras). */
  fields: Partial<Task>;
  /** Adds to the MULTI that stores the task what must not be in its record (secret answers, environment variables). */
  persistIn(multi: ChainableCommander, taskId: number): void;
}

/**
 * Everything a template decides about a new task before it is stored: per-run overrides it allows,
 * its task_params defaults, its survey, its build/deploy version. A refusal is a ValidationError
 * naming the field (the API answers 400).
 */
export async function prepareTask(stores: Stores, template: Template, given: TaskInput, more: Partial<TaskExtras> = {}): Promise<PreparedTask> {
  if (given.git_branch && !template.allow_override_branch_in_task) {
    throw new ValidationError('git_branch: this template does not allow a branch per task; set allow_override_branch_in_task on the template');
  }
  // Semaphore's per-task inventory: any inventory of the template's project.
  if (given.inventory_id && !(await stores.inventories(template.project_id).get(given.inventory_id))) {
    throw new ValidationError(`inventory_id: no inventory ${given.inventory_id} in this project; leave it out to use the template's`);
  }
  const defaults = template.task_params ?? {};
  const input: TaskInput = {
    ...given,
    limit: given.limit || defaults.limit || '', tags: given.tags || defaults.tags || '', skip_tags: given.skip_tags || defaults.skip_tags || '',
    debug: given.debug || Boolean(defaults.debug), dry_run: given.dry_run || Boolean(defaults.dry_run), diff: given.diff || Boolean(defaults.diff),
  };
  const survey = resolveSurvey(template.app, template.survey_vars ?? [], given.environment);
  input.environment = survey.environment;
  const extras = emptyExtras();
  for (const part of [survey.extras, more]) for (const group of Object.keys(extras) as Array<keyof TaskExtras>) Object.assign(extras[group], part[group] ?? {});
  const fields = { ...(await versionFields(stores, template, given.build_task_id)), has_extras: hasExtras(extras) };
  return { input, fields, persistIn: (multi, taskId) => saveExtrasIn(multi, stores, taskId, extras) };
}

/** What the template and the task's extras add to a job payload when a runner claims it. */
export function completePayload(template: Template, task: Task, extras: TaskExtras, payload: JobPayload): JobPayload {
  mergeExtras(payload, extras);
  if (template.max_task_duration_sec) payload.max_duration_sec = template.max_task_duration_sec;
  if (task.version) {
    payload.env.FORGE_TASK_VERSION = task.version;
    const details = template.type === 'build' ? { incoming_version: task.version } : { target_version: task.version, build_task_id: task.build_task_id };
    payload.extra_vars.semaphore_vars = { task_details: { id: task.id, type: template.type, ...details } };
  }
  return payload;
}
