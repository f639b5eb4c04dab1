import { Router } from 'express';
import { parse as parseCookie } from 'cookie';
import type { AppContext } from '../context.js';
import { constantTimeEqual } from '../common/secrets.js';
import { SESSION_COOKIE } from './auth.js';
import { HttpError } from './http.js';

/** /metrics in Prometheus text format, for a Bearer metrics_token or an admin (session or API token). */
export function metricsRouter(ctx: AppContext): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    const bearer = req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7).trim() : '';
    let allowed = Boolean(ctx.config.metrics_token && bearer && constantTimeEqual(bearer, ctx.config.metrics_token));
    if (!allowed) {
      const session = parseCookie(req.headers.cookie ?? '')[SESSION_COOKIE];
      const user = bearer ? await ctx.stores.users.userForApiToken(bearer) : session ? await ctx.stores.users.userForSession(session) : undefined;
      allowed = Boolean(user?.admin);
    }
    if (!allowed) throw new HttpError(401, 'metrics need Authorization: Bearer <metrics_token> or an admin login');
    res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
  return router;
}
