import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Express } from 'express';
import type { AppContext } from '../context.js';
import { RUNNER_API_PATH, runnerGateway, type RunnerGateway } from '../gateway/app.js';
import { auditRouter } from './audit.js';
import { declaredLengthLimit, jsonBody } from './body-limits.js';
import { rangeCheckedQuery } from './number-ranges.js';
import { sameOriginForCookies } from './same-origin.js';
import { securityHeaders } from './security-headers.js';
import { loginRouter, requireUser } from './auth.js';
import { oidcRouter } from './oidc.js';
import { errorHandler, HttpError } from './http.js';
import { dashboardRouter } from './dashboard.js';
import { liveSocketRouter } from './live-socket.js';
import { projectRouter } from './projects.js';
import { QUEUE_BOARD_PATH, queueBoardRouter } from './queue-board.js';
import { runnerAdminRouter } from './runners.js';
import { taskCreateRouter, taskRouter } from './tasks.js';
import { metaRouter, userRouter } from './users.js';
import { metricsRouter } from './observability.js';
import { openApiRouter } from './openapi.js';
import { featureRouters } from '../features.js';
import { integrationHookRouter } from '../integrations/hook.js';
import { uiHistoryRouter } from './ui-history.js';
import { uiPlacementRouter } from './ui-placement.js';
import { uiQueuesRouter } from './ui-queues.js';

/**
 * The HTTP app. Order matters for what a request can cost before it is authenticated: security
 * headers and number ranges first, then for each area its own body limit (413 on a declared
 * length over it), authentication, and only then the JSON body parser.
 */
export function createApp(ctx: AppContext, options: { webRoot?: string; extraRouters?: Array<(ctx: AppContext) => express.Router>; gateway?: RunnerGateway } = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  // X-Forwarded-For/-Proto are believed only from configured proxies (none by default).
  app.set('trust proxy', ctx.config.trusted_proxies.length > 0 ? ctx.config.trusted_proxies : false);
  app.use(securityHeaders(QUEUE_BOARD_PATH));
  app.use(rangeCheckedQuery);

  app.get('/api/ping', (_req, res) => {
    res.type('text/plain').send('pong');
  });
  // The HTTP server hands runner requests to the gateway's own app (services/gateway/app.ts); it is
  // mounted here too, so this app alone still serves the whole protocol.
  const gateway = options.gateway ?? runnerGateway(ctx);
  const open = [metaRouter(ctx), loginRouter(ctx), oidcRouter(ctx)];
  const metrics = metricsRouter(ctx);
  const bodyLimit = ctx.config.max_body_bytes;
  const guard = [declaredLengthLimit(bodyLimit, 'max_body_bytes'), requireUser(ctx), jsonBody(bodyLimit)];
  // Task creation, the hottest authenticated route, is mounted first with the same guard.
  const hot = taskCreateRouter(ctx, guard);
  const authenticated = [hot, userRouter(ctx), projectRouter(ctx), taskRouter(ctx), runnerAdminRouter(ctx), auditRouter(ctx), dashboardRouter(ctx), liveSocketRouter(), ...featureRouters(ctx),
    uiPlacementRouter(ctx), uiHistoryRouter(ctx), uiQueuesRouter(ctx)];
  // Public, and reads its own raw body (signatures are over the exact bytes).
  app.use('/api/integrations', integrationHookRouter(ctx));
  // Express strips the mount path from req.url; the gateway reads the whole URL, as the server hands it over.
  app.use(RUNNER_API_PATH, (req, res) => {
    req.url = req.originalUrl;
    gateway.handle(req, res);
  });
  app.use(['/api', QUEUE_BOARD_PATH], sameOriginForCookies(ctx));
  app.use('/api', hot);
  app.use('/api', ...open, openApiRouter(ctx, { api: [...open, ...authenticated], runner: gateway.routes, root: [metrics] }));
  app.use(metrics);
  app.use('/api', ...guard);
  app.use('/api', ...authenticated.filter((router) => router !== hot));
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
