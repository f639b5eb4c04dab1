import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { AppContext } from '../context.js';
import type { QueueScope } from '../dispatch/queues.js';
import { COMPLETION_QUEUE } from '../reconciler.js';
import { keys } from '../redis/keys.js';
import { resolveUser } from './auth.js';

export const QUEUE_BOARD_PATH = '/admin/queues';
const REFRESH_MS = 5000;

/**
 * Bull Board at /admin/queues, for admins only: every task queue (one per project and runner
 * tag) and the completion queue. Read-only, because a job moved by hand would disagree with its
 * task record; tasks are stopped and retried from the Forge UI. Queues created after start (by
 * this or another server process) are added when the board is next requested.
 */
export function queueBoardRouter(ctx: AppContext): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  const completions = new Queue(COMPLETION_QUEUE, { connection: ctx.redis, prefix: 'forge' });
  const adapterOptions = { readOnlyMode: true, allowRetries: false };
  const board = createBullBoard({
    queues: [new BullMQAdapter(completions, { ...adapterOptions, displayName: 'completions', description: 'Results from runners, consumed by the reconciler' })],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Forge queues', hideDocsLink: true, miscLinks: [{ text: 'Back to Forge', url: '/' }] } },
  });
  const known = new Set<string>([COMPLETION_QUEUE]);
  let lastRefresh = 0;
  let refreshing: Promise<void> | undefined;

  const addScope = (name: string, scope: QueueScope, projectName: string) => {
    if (known.has(name)) return;
    known.add(name);
    board.addQueue(new BullMQAdapter(ctx.queues.queue(name), {
      ...adapterOptions,
      displayName: `${projectName} · ${scope.tag || 'untagged'}`,
      description: `Tasks of project ${scope.project_id} that ${scope.tag ? `need runner tag "${scope.tag}"` : 'need no runner tag'}`,
      externalJobUrl: (job) => ({ displayText: `task ${job.data?.task_id}`, href: `/project/${scope.project_id}/tasks/${job.data?.task_id}` }),
    }));
  };

  const refresh = async () => {
    // The registry in Redis knows queues other server processes created; ctx.queues those of this one.
    const registry = await ctx.redis.hgetall(keys.queueRegistry());
    const scopes = new Map<string, QueueScope>(ctx.queues.list());
    for (const [name, raw] of Object.entries(registry)) if (!scopes.has(name)) scopes.set(name, JSON.parse(raw) as QueueScope);
    if ([...scopes.keys()].every((name) => known.has(name))) return;
    const projects = new Map((await ctx.stores.projects.list()).map((p) => [p.id, p.name]));
    for (const [name, scope] of [...scopes].sort(([a], [b]) => a.localeCompare(b))) addScope(name, scope, projects.get(scope.project_id) ?? `project ${scope.project_id}`);
  };

  const router = Router();
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const user = await resolveUser(ctx, req);
    const wantsPage = req.method === 'GET' && !req.path.startsWith('/api/') && (req.headers.accept ?? '').includes('text/html');
    if (!user) {
      if (wantsPage) {
        res.redirect(302, `/login?next=${encodeURIComponent(req.originalUrl)}`);
        return;
      }
      res.status(401).json({ error: 'not logged in: the queue inspector needs an admin login' });
      return;
    }
    if (!user.admin) {
      res.status(403).json({ error: 'the queue inspector is for admins' });
      return;
    }
    if (Date.now() - lastRefresh > REFRESH_MS || req.path === '/' || req.path === '/api/queues') {
      lastRefresh = Date.now();
      refreshing ??= refresh().finally(() => (refreshing = undefined));
      await refreshing;
    }
    next();
  });
  router.use(serverAdapter.getRouter() as Router);
  return router;
}
