import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { AppContext } from '../context.js';
import { COMPLETION_QUEUE } from '../reconciler.js';
import { NOTIFICATION_QUEUE } from '../notifications/notifier.js';
import { SCHEDULE_QUEUE } from '../schedules/scheduler.js';
import { resolveUser } from './auth.js';

export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * Bull Board at /admin/queues, for admins only: the queues that are BullMQ's — task results
 * (completions), schedule ticks and notifications. Task queues are Forge's own (see
 * dispatch/queues.ts); Forge's Queues page (/queues, GET /api/ui/queues) shows them. Read-only,
 * because a job moved by hand would disagree with the records it stands for.
 */
export function queueBoardRouter(ctx: AppContext): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  const adapterOptions = { readOnlyMode: true, allowRetries: false };
  const queue = (name: string) => new Queue(name, { connection: ctx.queueRedis, prefix: 'forge' });
  createBullBoard({
    queues: [
      new BullMQAdapter(queue(COMPLETION_QUEUE), { ...adapterOptions, displayName: 'completions', description: 'Results from runners, consumed by the reconciler' }),
      new BullMQAdapter(queue(SCHEDULE_QUEUE), { ...adapterOptions, displayName: 'schedules', description: 'Schedule ticks: each starts a task of its template' }),
      new BullMQAdapter(queue(NOTIFICATION_QUEUE), { ...adapterOptions, displayName: 'notifications', description: 'Messages to notification channels when a task ends' }),
    ],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Forge queues', hideDocsLink: true, miscLinks: [{ text: 'Back to Forge', url: '/' }] } },
  });

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
    next();
  });
  router.use(serverAdapter.getRouter() as Router);
  return router;
}
