import type { z } from 'zod';
import type { Project, Task, taskInput, Template } from '../common/model.js';
import type { AppContext } from '../context.js';
import type { ChainableCommander } from 'ioredis';
import type { NewAuditEvent } from '../store/audit.js';
import type { NewTask, TaskStore } from '../store/tasks.js';
import { Batch } from '../redis/batch.js';
import type { RunnerView } from '../store/runners.js';
import { queueName } from './queues.js';
import { waitingReason } from './waiting.js';
import { prepareTask } from '../task-options/index.js';
import type { TaskExtras } from '../task-options/survey.js';

/** What creating a task takes ahead: its id, its audit entry's id, and the runners its first waiting reason is worked out from. */
export interface Reserved { taskId: number; eventId?: number; runners: readonly RunnerView[] | 'local' }

/**
 * Queues on `batch` the reads creating a task needs besides its project and template, so a caller
 * sends them with its own in one round trip. A failed creation leaves a gap in the ids, nothing else.
 */
export async function reserveIn(ctx: AppContext, batch: Batch, audited: boolean): Promise<Reserved> {
  const [runners, taskId, eventId] = await Promise.all([
    // A first reason from a cheap snapshot (runner records kept between changes); the watchdog refines it within seconds.
    ctx.config.use_remote_runner ? ctx.stores.runners.reportedViewsIn(batch) : ('local' as const),
    ctx.stores.tasks.reserveIdIn(batch),
    audited ? ctx.stores.audit.reserveIdIn(batch) : undefined,
  ]);
  return { taskId, eventId, runners };
}

/**
 * Creating a task writes its record as `waiting` and adds one job to the queue of the template's
 * runner tag in its project. Nothing else decides where it runs. On a single Redis the record, its
 * indexes, its audit entry, its extras, its place in the queue and its task event, which is the
 * wake-up of parked runners too, are one MULTI; on a Cluster the queue (its own slot) and its
 * wake-up follow in a second step. On a single Redis, when a runner's long-poll is parked on this
 * server and may take the task, the claim of the queue's head for it is in that MULTI as well
 * (Claimer.handOffFor), and the event wakes nobody.
 */
export async function createTask(
  ctx: AppContext, project: Project, template: Template, given: z.infer<typeof taskInput>, userId: number | null, extras?: Partial<TaskExtras>,
  creation: {
    /** The audit entry that records this creation: stored in the same MULTI as the task. */
    audited?: (task: Task) => NewAuditEvent;
    /** Taken ahead by the caller (reserveIn); else read here. */
    reserved?: Reserved;
  } = {},
): Promise<Task> {
  const { audited } = creation;
  // Survey answers, per-run overrides and build/deploy versions, as the template allows them.
  const [prepared, { taskId, eventId, runners }] = await Promise.all([
    prepareTask(ctx.stores, template, given, extras),
    creation.reserved ?? reserve(ctx, Boolean(audited)),
  ]);
  const input = prepared.input;
  const scope = { project_id: project.id, tag: template.runner_tag };
  const oneStep = ctx.queues.inOneStepWithRecords;
  const fields: NewTask = {
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
  };
  let queued: { written: () => void; wake: Record<string, unknown> } | undefined;
  // A runner parked on this server that may take the task gets it in the same MULTI: no wake-up, no claim of its own.
  const handOff = oneStep ? ctx.core.handOffFor(taskId, scope, project.max_parallel_tasks ?? 0) : undefined;
  const alongside = (multi: ChainableCommander, created: Task) => {
    if (audited && eventId !== undefined) ctx.stores.audit.writeIn(multi, ctx.stores.audit.event(eventId, audited(created)));
    prepared.persistIn(multi, created.id);
    if (!oneStep) return undefined;
    queued = ctx.queues.addNewIn(multi, scope, created.id);
    // Handed off: the event wakes nobody (a job the hand-off leaves waiting is woken by it).
    return handOff ? undefined : queued.wake;
  };
  let created: Awaited<ReturnType<TaskStore['createAndClaim']>>;
  try {
    created = await ctx.stores.tasks.createAndClaim(fields, { id: taskId, alongside }, handOff?.terms);
  } catch (err) {
    void handOff?.settle(undefined);
    throw err;
  }
  const { task, claimed } = created;
  if (queued) queued.written();
  else await ctx.queues.add(scope, task.id);
  // The job on its way to its runner first, then the creator's answer: a task's start is what waits on it.
  await handOff?.settle(claimed);
  ctx.metrics.taskCreated(task);
  return task;
}

async function reserve(ctx: AppContext, audited: boolean): Promise<Reserved> {
  const batch = new Batch(ctx.redis);
  const reserved = reserveIn(ctx, batch, audited);
  await batch.send();
  return reserved;
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
