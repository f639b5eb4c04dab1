import { Router } from 'express';
import type { AppContext } from '../context.js';
import { queueName } from '../dispatch/queues.js';
import { projectFullReason, waitingReason } from '../dispatch/waiting.js';
import { idParam, notFound } from './http.js';
import { projectOf } from './projects.js';

/** One runner that could take the template's tasks, as the Run dialog lists it. */
export interface PlacementRunner { id: number; name: string; status: string; draining: boolean; active: number; max: number; free: number | null }

export interface Placement {
  mode: 'local' | 'runners';
  /** Whether a task started now would wait rather than start at once. */
  will_wait: boolean;
  /** Why it would wait, in the same words the task page shows ('' when it starts at once). */
  reason: string;
  /** Tasks already waiting in the same queue (they go first). */
  waiting_ahead: number;
  /** Free slots where it could run (null: a runner with no limit is free). */
  free_slots: number | null;
  runners: PlacementRunner[];
  local: { active: number; max: number } | null;
}

/**
 * GET /api/project/:project_id/ui/placement/:template_id: where a task of this template would go
 * if started now — the eligible runners with their free slots, or why none fits. The reason
 * comes from the same waitingReason() the dispatcher writes on waiting tasks.
 */
export function uiPlacementRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/project/:project_id/ui/placement/:template_id', async (req, res) => {
    const project = await projectOf(ctx, req);
    const template = await ctx.stores.templates(project.id).get(idParam(req, 'template_id'));
    if (!template) throw notFound('template');
    const scope = { project_id: project.id, tag: template.runner_tag };
    const [ahead = 0] = await ctx.queues.waitingCounts([queueName(scope)]);
    const projectFull = await projectFullReason(ctx.stores, project);
    let out: Placement;
    if (!ctx.config.use_remote_runner) {
      const active = (await ctx.stores.tasks.activeIds()).length;
      const max = ctx.config.max_parallel_tasks;
      const free = Math.max(0, max - active);
      const reason = projectFull ?? (free <= ahead ? waitingReason({ project_id: project.id, runner_tag: scope.tag }, 'local', true) : '');
      out = { mode: 'local', will_wait: Boolean(reason), reason, waiting_ahead: ahead, free_slots: free, runners: [], local: { active, max } };
    } else {
      const views = await ctx.stores.runners.views();
      const eligible = views.filter((r) => (r.project_id === null || r.project_id === project.id) && (scope.tag === '' || r.tags.includes(scope.tag)));
      const runners = eligible.map((r): PlacementRunner => ({
        id: r.id, name: r.name, status: r.status, draining: r.draining, active: r.active_tasks, max: r.max_parallel_tasks,
        free: r.status !== 'online' || r.draining ? 0 : r.max_parallel_tasks === 0 ? null : Math.max(0, r.max_parallel_tasks - r.active_tasks),
      }));
      const unlimited = runners.some((r) => r.free === null);
      const free = unlimited ? null : runners.reduce((sum, r) => sum + (r.free ?? 0), 0);
      let reason = projectFull ?? waitingReason({ project_id: project.id, runner_tag: scope.tag }, views);
      if (reason === 'queued') reason = free !== null && free <= ahead ? `${ahead} task${ahead === 1 ? ' is' : 's are'} already waiting for the ${free} free slot${free === 1 ? '' : 's'}; it starts when one frees` : '';
      out = { mode: 'runners', will_wait: Boolean(reason), reason, waiting_ahead: ahead, free_slots: free, runners, local: null };
    }
    res.setHeader('Cache-Control', 'no-store');
    res.json(out);
  });
  return router;
}
