import { Router } from 'express';
import type { AppContext } from '../context.js';
import { constantTimeEqual } from '../common/secrets.js';
import { bearerToken, resolveUser } from './auth.js';
import { HttpError } from './http.js';

/** /metrics in Prometheus text format, for a Bearer metrics_token or an admin (session or API token). */
export function metricsRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    const bearer = bearerToken(req);
    const allowed = Boolean(ctx.config.metrics_token && bearer && constantTimeEqual(bearer, ctx.config.metrics_token))
      || Boolean((await resolveUser(ctx, req))?.admin);
    if (!allowed) throw new HttpError(401, 'metrics need Authorization: Bearer <metrics_token> or an admin login');
    res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
  return router;
}
