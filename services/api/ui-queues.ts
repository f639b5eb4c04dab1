import { Queue } from 'bullmq';
import { Router } from 'express';
import type { AppContext } from '../context.js';
import type { QueueScope } from '../dispatch/queues.js';
import { waitingReason } from '../dispatch/waiting.js';
import { COMPLETION_QUEUE } from '../reconciler.js';
import { keys } from '../redis/keys.js';
import { requireAdmin } from './auth.js';

export interface QueueRow {
  name: string; kind: 'tasks' | 'completions'; project_id: number | null; project_name: string; tag: string;
  /** Jobs not yet claimed, claimed by a runner (or the local worker), and kept finished or failed. */
  waiting: number; claimed: number; delayed: number; completed: number; failed: number;
  /** For task queues: why the next task waits ('' when a runner will take it at once). */
  reason: string;
  runners_online: number;
}

/**
 * GET /api/ui/queues (admins): every task queue and the completion queue with their job counts,
 * in Forge's own words — a task queue is "project · runner tag" and runners *claim* jobs (no
 * worker count is shown). Task queues are Forge's own (dispatch/queues.ts): they keep no finished
 * jobs and delay none. The raw Bull Board at /admin/queues shows the BullMQ queues.
 */
export function uiQueuesRouter(ctx: AppContext): Router {
  const router = Router();
  let completions: Queue | undefined;
  router.get('/ui/queues', requireAdmin, async (_req, res) => {
    completions ??= new Queue(COMPLETION_QUEUE, { connection: ctx.queueRedis, prefix: 'forge' });
    const scopes = new Map<string, QueueScope>(ctx.queues.list());
    for (const [name, raw] of Object.entries(await ctx.redis.hgetall(keys.queueRegistry()))) if (!scopes.has(name)) scopes.set(name, JSON.parse(raw) as QueueScope);
    const [projects, views] = await Promise.all([ctx.stores.projects.list(), ctx.stores.runners.views()]);
    const projectName = new Map(projects.map((p) => [p.id, p.name]));
    const taskCount = async (name: string) => {
      const c = await ctx.queues.counts(name);
      return { waiting: c.waiting, claimed: c.active, delayed: 0, completed: 0, failed: 0 };
    };
    const count = async (queue: Queue) => {
      const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
      return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), claimed: c.active ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 };
    };
    const rows: QueueRow[] = [];
    for (const [name, scope] of [...scopes].sort(([a], [b]) => a.localeCompare(b))) {
      if (!projectName.has(scope.project_id)) continue; // the project was deleted
      const eligible = views.filter((r) => (r.project_id === null || r.project_id === scope.project_id) && (scope.tag === '' || r.tags.includes(scope.tag)));
      const reason = ctx.config.use_remote_runner ? waitingReason({ project_id: scope.project_id, runner_tag: scope.tag }, views) : 'queued';
      rows.push({
        name, kind: 'tasks', project_id: scope.project_id, project_name: projectName.get(scope.project_id)!, tag: scope.tag,
        ...(await taskCount(name)), reason: reason === 'queued' ? '' : reason,
        runners_online: eligible.filter((r) => r.status === 'online').length,
      });
    }
    rows.push({ name: COMPLETION_QUEUE, kind: 'completions', project_id: null, project_name: '', tag: '', ...(await count(completions)), reason: '', runners_online: 0 });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ remote_runners: ctx.config.use_remote_runner, queues: rows });
  });
  return router;
}
