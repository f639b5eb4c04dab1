import type { Router } from 'express';
import { logger } from '../protocol/log.js';
import type { Task } from './common/model.js';
import type { AppContext } from './context.js';
import type { AfterTaskReads } from './store/tasks.js';
import { integrationRouter } from './integrations/routes.js';
import { Notifier } from './notifications/notifier.js';
import { notificationRouter } from './notifications/routes.js';
import { scheduleRouter } from './schedules/routes.js';
import { Scheduler } from './schedules/scheduler.js';
import { autorunDeploys } from './task-options/autorun.js';
import { stopDelayTimers, sweepRuns, taskEnded as workflowTaskEnded } from './workflows/engine.js';
import { workflowRouter } from './workflows/routes.js';

const log = logger('features');
/** How often each replica looks over unfinished workflow runs (missed task ends, lost claims, approval timeouts, due delays). */
const WORKFLOW_SWEEP_MS = 5000;

/** The per-process parts of schedules, notifications and the other template features. */
export interface Features { scheduler: Scheduler; notifier: Notifier }

const byContext = new WeakMap<AppContext, Features>();

/** The feature services of this server process (created on first use; workers run after startFeatures). */
export function featuresOf(ctx: AppContext): Features {
  let features = byContext.get(ctx);
  if (!features) {
    features = { scheduler: new Scheduler(ctx), notifier: new Notifier(ctx) };
    byContext.set(ctx, features);
  }
  return features;
}

/** The API routes of the features, mounted behind requireUser. */
export function featureRouters(ctx: AppContext): Router[] {
  return [scheduleRouter(ctx), integrationRouter(ctx), notificationRouter(ctx), workflowRouter(ctx)];
}

/**
 * Starts the workers (schedule ticks, notification delivery, the workflow sweep) and hooks task
 * completion (notifications, autorun, workflow runs): the reconciler emits `finalised` once per
 * task, on the replica that finalised it.
 */
export function startFeatures(ctx: AppContext, finalised: { on(event: 'finalised', fn: (task: Task, after?: AfterTaskReads) => void): unknown }): () => Promise<void> {
  const features = featuresOf(ctx);
  features.scheduler.start();
  features.notifier.start();
  // `after`: what the hooks read, as the final move read it (no round trips of their own).
  finalised.on('finalised', (task, after) => {
    void onTaskFinished(ctx, task).catch((err) => log.warn('after-task work failed', { task_id: task.id, error: (err as Error).message }));
    // A workflow run moves on independently of the other after-task work, so a failure there cannot hold it up.
    void workflowTaskEnded(ctx, task, after?.workflowLink).catch((err) => log.warn('workflow step failed', { task_id: task.id, error: (err as Error).message }));
  });
  let sweeping = false; // a slow sweep is not overlapped by the next
  const sweep = () => {
    if (sweeping) return;
    sweeping = true;
    void sweepRuns(ctx).catch((err) => log.warn('workflow sweep failed', { error: (err as Error).message })).finally(() => (sweeping = false));
  };
  sweep();
  const sweeper = setInterval(sweep, WORKFLOW_SWEEP_MS);
  return async () => {
    clearInterval(sweeper);
    stopDelayTimers(ctx);
    await features.scheduler.close();
    await features.notifier.close();
  };
}

/** After a task ends (its extras went with its final move): notifications go out, a successful build may start its deploys. */
async function onTaskFinished(ctx: AppContext, task: Task): Promise<void> {
  await featuresOf(ctx).notifier.taskEnded(task);
  await autorunDeploys(ctx, task);
}
