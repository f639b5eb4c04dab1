import { Router, type Request } from 'express';
import { runnerInput } from '../common/model.js';
import type { AppContext } from '../context.js';
import type { RunnerView } from '../store/runners.js';
import { requireAdmin } from './auth.js';
import { HttpError, idParam, notFound, parseBody } from './http.js';
import { projectOf } from './projects.js';

const runnerUpdate = runnerInput.partial().omit({ project_id: true });

/**
 * Runners added through the API (global: admins; project runners: project members). The token is
 * shown once, in the answer to the POST that creates it; the runner uploads its public key on
 * first contact.
 */
export function runnerAdminRouter(ctx: AppContext): Router {
  const router = Router();
  const store = ctx.stores.runners;

  /** The runners a route may touch: global ones under /runners, a project's under /project/:id/runners. */
  const scopeOf = async (req: Request): Promise<number | null> => (req.params.project_id ? (await projectOf(ctx, req)).id : null);
  const guard = async (req: Request, _res: unknown, next: () => void) => {
    if (!req.params.project_id && !req.user!.admin) throw new HttpError(403, 'global runners are managed by admins; use /api/project/:project_id/runners for project runners');
    next();
  };
  const one = async (req: Request): Promise<RunnerView> => {
    const projectId = await scopeOf(req);
    const id = idParam(req, 'runner_id');
    const [view] = await store.views((r) => r.id === id && r.project_id === projectId);
    if (!view) throw notFound('runner');
    return view;
  };

  for (const base of ['/runners', '/project/:project_id/runners']) {
    router.get(base, guard, async (req, res) => {
      const projectId = await scopeOf(req);
      res.json(await store.views((r) => r.project_id === projectId));
    });
    router.post(base, guard, async (req, res) => {
      const projectId = await scopeOf(req);
      const input = parseBody(runnerInput, req.body);
      const { runner, token } = await store.create({ ...input, project_id: projectId });
      const [view] = await store.views((r) => r.id === runner.id);
      res.status(201).json({ ...view, token });
    });
    router.get(`${base}/:runner_id`, guard, async (req, res) => {
      res.json(await one(req));
    });
    router.put(`${base}/:runner_id`, guard, async (req, res) => {
      const current = await one(req);
      const parsed = parseBody(runnerUpdate, req.body);
      // partial() keeps the create schema's defaults: apply only the fields the caller sent, so
      // toggling `enabled` does not reset the name, tags or limits.
      const input = Object.fromEntries(Object.entries(parsed).filter(([key]) => key in (req.body as object))) as typeof parsed;
      await store.update(current.id, input);
      if (input.enabled === true) ctx.queues.markAllMaybeNonEmpty();
      res.json(await one(req));
    });
    router.delete(`${base}/:runner_id`, guard, async (req, res) => {
      const current = await one(req);
      await store.delete(current.id);
      res.status(204).end();
    });
  }
  router.get('/runners-all', requireAdmin, async (_req, res) => {
    res.json(await store.views());
  });
  return router;
}
