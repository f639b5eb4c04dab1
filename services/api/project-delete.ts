import type { AppContext } from '../context.js';
import { featuresOf } from '../features.js';
import { integrationStores } from '../integrations/store.js';
import { channelsOf } from '../notifications/notifier.js';
import { schedules } from '../schedules/scheduler.js';
import { runsOf } from '../workflows/engine.js';
import { workflowsOf } from '../workflows/store.js';

/**
 * Removes everything a project owns from Redis: each per-project key family of
 * services/redis/keys.ts, the entries it left in shared indexes (integration aliases, active
 * workflow runs, task status sets), its schedules' BullMQ schedulers, its task queues and its
 * project runners, then the project record.
 * A new per-project family must be added here (test/server-project-delete checks with SCAN).
 */
export async function deleteProjectData(ctx: AppContext, projectId: number): Promise<void> {
  const s = ctx.stores;
  const features = featuresOf(ctx);
  for (const schedule of await schedules(ctx, projectId).list()) await features.scheduler.remove(schedule);

  const integrations = integrationStores(ctx);
  for (const alias of await integrations.aliases(projectId).list()) await integrations.unindexAlias(alias.alias);
  for (const integration of await integrations.integrations(projectId).list()) {
    await integrations.matchers(integration.id).deleteAll();
    await integrations.values(integration.id).deleteAll();
    await integrations.deleteDeliveries(integration.id);
  }

  const workflows = workflowsOf(ctx.redis, projectId);
  for (const workflow of await workflows.list()) await runsOf(ctx).deleteForWorkflow(workflow.id);

  // Project runners can only ever take this project's tasks: they go too (their tokens stop working).
  for (const runner of await s.runners.views((r) => r.project_id === projectId)) await s.runners.delete(runner.id);

  const templates = s.templates(projectId);
  await s.tasks.deleteForProject(projectId, (await templates.list()).map((t) => t.id));
  await ctx.queues.deleteProject(projectId);

  for (const collection of [
    s.accessKeys(projectId), s.repositories(projectId), s.inventories(projectId), s.environments(projectId), templates, s.views(projectId),
    s.hostConfigs(projectId), workflows, schedules(ctx, projectId), channelsOf(ctx, projectId), integrations.integrations(projectId), integrations.aliases(projectId),
  ]) await collection.deleteAll();
  await s.projects.delete(projectId);
  await s.audit.deleteProject(projectId);
}
