import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { AppContext } from '../context.js';
import { runnerGatewayRouter } from '../gateway/router.js';
import { loginRouter, requireUser, userRouter } from './auth.js';
import { errorHandler, HttpError } from './http.js';
import { dashboardRouter } from './dashboard.js';
import { projectRouter } from './projects.js';
import { QUEUE_BOARD_PATH, queueBoardRouter } from './queue-board.js';
import { runnerAdminRouter } from './runners.js';
import { taskRouter } from './tasks.js';
import { metricsRouter } from './observability.js';
import { accountRouter } from './account.js';
import { uiHistoryRouter } from './ui-history.js';
import { uiPlacementRouter } from './ui-placement.js';
import { uiQueuesRouter } from './ui-queues.js';

/** Output batches from runners may be larger than ordinary API bodies. */
const OUTPUT_PATH = /^\/api\/internal\/runners\/jobs\/\d+\/output$/;

export function createApp(ctx: AppContext, options: { webRoot?: string; extraRouters?: Array<(ctx: AppContext) => express.Router> } = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  const json = express.json({ limit: ctx.config.max_body_bytes });
  const bigJson = express.json({ limit: 16 * 1024 * 1024 });
  app.use((req: Request, res: Response, next: NextFunction) => (OUTPUT_PATH.test(req.path) ? bigJson : json)(req, res, next));
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'same-origin');
    next();
  });

  app.get('/api/ping', (_req, res) => {
    res.type('text/plain').send('pong');
  });
  app.get('/api/info', (_req, res) => {
    res.json({ version: ctx.version, use_remote_runner: ctx.config.use_remote_runner, web_host: ctx.config.web_host });
  });
  app.use('/api/internal/runners', runnerGatewayRouter(ctx));
  app.use('/api', loginRouter(ctx));
  app.use(metricsRouter(ctx));
  app.use('/api', requireUser(ctx), userRouter(ctx), projectRouter(ctx), taskRouter(ctx), runnerAdminRouter(ctx), dashboardRouter(ctx),
    uiPlacementRouter(ctx), uiHistoryRouter(ctx), uiQueuesRouter(ctx), accountRouter(ctx));
  app.use(QUEUE_BOARD_PATH, queueBoardRouter(ctx));
  for (const extra of options.extraRouters ?? []) app.use(extra(ctx));
  app.use('/api', (req) => {
    throw new HttpError(404, `no API route ${req.method} ${req.originalUrl}`);
  });

  const webRoot = options.webRoot;
  if (webRoot && existsSync(join(webRoot, 'index.html'))) {
    app.use(express.static(webRoot, { index: false, maxAge: '1h' }));
    app.get(/^(?!\/api\/|\/metrics|\/admin\/).*/, (_req, res) => res.sendFile(join(webRoot, 'index.html')));
  }
  app.use(errorHandler);
  return app;
}
