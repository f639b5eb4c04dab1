import type { z } from 'zod';
import type { Project, Task, taskInput, Template } from '../common/model.js';
import type { AppContext } from '../context.js';
import type { NewAuditEvent } from '../store/audit.js';
import { queueName } from './queues.js';
import { waitingReason } from './waiting.js';
import { prepareTask } from '../task-options/index.js';
import type { TaskExtras } from '../task-options/survey.js';

/**
 * Creating a task writes its record as `waiting` and adds one job to the queue of the template's
 * runner tag in its project. Nothing else decides where it runs.
 */
export async function createTask(
  ctx: AppContext, project: Project, template: Template, given: z.infer<typeof taskInput>, userId: number | null, extras?: Partial<TaskExtras>,
  /** The audit entry that records this creation: stored in the same MULTI as the task. */
  audited?: (task: Task) => NewAuditEvent,
): Promise<Task> {
  // Survey answers, per-run overrides and build/deploy versions, as the template allows them.
  // A first reason from a cheap snapshot; the watchdog refines it within seconds. The ids are
  // taken alongside (a failed creation leaves a gap in them, nothing else).
  const [prepared, runners, taskId, eventId] = await Promise.all([
    prepareTask(ctx.stores, template, given, extras),
    ctx.config.use_remote_runner ? ctx.stores.runners.views(undefined, { reportedActivity: true }) : ('local' as const),
    ctx.stores.tasks.reserveId(),
    audited ? ctx.stores.audit.reserveId() : undefined,
  ]);
  const input = prepared.input;
  const scope = { project_id: project.id, tag: template.runner_tag };
  const task = await ctx.stores.tasks.create({
    project_id: project.id, template_id: template.id, status: 'waiting', user_id: userId,
    created: new Date().toISOString(), start: null, end: null,
    debug: input.debug, dry_run: input.dry_run, diff: input.diff, playbook: input.playbook, environment: input.environment,
    limit: input.limit, tags: input.tags, skip_tags: input.skip_tags, git_branch: input.git_branch,
    arguments: input.arguments, message: input.message, auto_approve: input.auto_approve ?? null, destroy: input.destroy,
    inventory_id: input.inventory_id ?? null,
    commit_hash: '', commit_message: '', runner_id: null, runner_name: '',
    queue: queueName(scope), runner_tag: template.runner_tag,
    waiting_reason: waitingReason({ project_id: project.id, runner_tag: template.runner_tag }, runners),
    attempt: 0, exit_code: null, error: '', lease_until: 0, stop_requested: false, ...prepared.fields,
  }, {
    id: taskId,
    alongside: audited && eventId !== undefined ? (multi, created) => ctx.stores.audit.writeIn(multi, ctx.stores.audit.event(eventId, audited(created))) : undefined,
  });
  await prepared.persist(task.id);
  await ctx.queues.add(scope, task.id);
  ctx.metrics.taskCreated(task);
  return task;
}

/** A waiting task stops at once; a running one is asked to stop and its runner learns on its next heartbeat. */
export async function stopTask(ctx: AppContext, task: Task): Promise<Task> {
  const now = new Date().toISOString();
  const stopped = await ctx.stores.tasks.transition(task.id, { from: ['waiting'] }, { status: 'stopped', stop_requested: true, end: now, waiting_reason: '' });
  if (stopped) {
    await ctx.queues.retire(task.queue, task.id);
    return stopped;
  }
  const stopping = await ctx.stores.tasks.transition(task.id, { from: ['starting', 'running', 'waiting_confirmation', 'confirmed'] }, { status: 'stopping', stop_requested: true });
  return stopping ?? (await ctx.stores.tasks.get(task.id)) ?? task;
}
