import { Router, type Request } from 'express';
import { z } from 'zod';
import { runnerActiveInput, runnerInput } from '../common/model.js';
import type { AppContext } from '../context.js';
import type { RunnerView } from '../store/runners.js';
import { projectAccess, type Need } from './access.js';
import { audit } from './audit.js';
import { requireAdmin } from './auth.js';
import { HttpError, idParam, notFound } from './http.js';
import { parseInput } from './input.js';

const runnerUpdate = runnerInput.partial().omit({ project_id: true });
/** The registration-token request has no fields (Semaphore's clients send none). */
export const registrationTokenInput = z.looseObject({});

/** Semaphore's Runner (`active`, `touched`, `registered`) with Forge's live state as extra fields. */
export const runnerView = ({ enabled, last_seen, ...runner }: RunnerView) => ({
  ...runner, active: enabled, touched: last_seen, is_default: false, cleaning_requested: null,
});

/** Semaphore's RunnerTag: each tag and how many of the runners have it. */
function tagCounts(runners: RunnerView[]) {
  const counts = new Map<string, number>();
  for (const r of runners) for (const tag of r.tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([tag, number_of_runners]) => ({ tag, number_of_runners }));
}

/**
 * Runners added through the API (global: admins; project runners: any member reads, managers and
 * owners change). The token is shown once, in the answer to the POST that creates it; the runner
 * uploads its public key on first contact.
 */
export function runnerAdminRouter(ctx: AppContext): Router {
  const router = Router();
  const store = ctx.stores.runners;

  /** The runners a route may touch: global ones under /runners (admins), a project's under /project/:id/runners. */
  const scopeOf = async (req: Request, need: Need): Promise<number | null> => {
    if (req.params.project_id) return (await projectAccess(ctx, req, need)).id;
    if (!req.user!.admin) throw new HttpError(403, 'global runners are managed by admins; use /api/project/:project_id/runners for project runners');
    return null;
  };
  const one = async (req: Request, need: Need): Promise<RunnerView> => {
    const projectId = await scopeOf(req, need);
    const id = idParam(req, 'runner_id');
    const [view] = await store.views((r) => r.id === id && r.project_id === projectId);
    if (!view) throw notFound('runner');
    return view;
  };
  const changed = async (req: Request, view: RunnerView, what: string) => {
    await audit(ctx, req, { project_id: view.project_id, object_type: 'runner', object_id: view.id, description: `runner ${view.name} ${what}` });
  };

  for (const base of ['/runners', '/project/:project_id/runners']) {
    router.get(base, async (req, res) => {
      const projectId = await scopeOf(req, 'read');
      res.json((await store.views((r) => r.project_id === projectId)).map(runnerView));
    });
    router.post(base, async (req, res) => {
      const projectId = await scopeOf(req, 'edit');
      const input = parseInput(runnerInput, req, projectId === null ? {} : { projectId });
      const { runner, token } = await store.create({ ...input, project_id: projectId });
      const [view] = await store.views((r) => r.id === runner.id);
      await changed(req, view!, 'added');
      res.status(201).json({ ...runnerView(view!), token });
    });
    router.get(`${base}/:runner_id`, async (req, res) => {
      res.json(runnerView(await one(req, 'read')));
    });
    router.put(`${base}/:runner_id`, async (req, res) => {
      const current = await one(req, 'edit');
      const parsed = parseInput(runnerUpdate, req, { id: current.id });
      // partial() keeps the create schema's defaults: apply only the fields the caller sent, so
      // toggling `active` does not reset the name, tags or limits.
      const sent = Object.fromEntries(Object.entries(parsed).filter(([key]) => key in (req.body as object))) as typeof parsed;
      const { active, ...rest } = sent;
      await store.update(current.id, { ...rest, ...(active === undefined ? {} : { enabled: active }) });
      if (active === true) ctx.queues.markAllMaybeNonEmpty();
      await changed(req, current, 'updated');
      res.status(204).end();
    });
    router.post(`${base}/:runner_id/active`, async (req, res) => {
      const current = await one(req, 'edit');
      const { active } = parseInput(runnerActiveInput, req);
      await store.update(current.id, { enabled: active });
      if (active) ctx.queues.markAllMaybeNonEmpty();
      await changed(req, current, active ? 'activated' : 'deactivated');
      res.status(204).end();
    });
    // Semaphore's registration-token, in Forge's terms: a new one-time token (valid an hour) that the
    // runner registers with (`forge runner register`); its current token stops working at once.
    router.post(`${base}/:runner_id/registration-token`, async (req, res) => {
      const current = await one(req, 'edit');
      parseInput(registrationTokenInput, req);
      const issued = await store.issueRegistrationToken(current.id);
      if (!issued) throw notFound('runner');
      await changed(req, current, 'given a new registration token (its old token no longer works)');
      res.json({ registration_token: issued.token, runner_id: current.id, project_id: current.project_id, expires: new Date(issued.expires).toISOString() });
    });
    // Forge runners keep nothing between tasks (each checks out into a fresh directory): there is no cache to clear.
    router.delete(`${base}/:runner_id/cache`, async (req, res) => {
      await one(req, 'edit');
      res.status(204).end();
    });
    router.delete(`${base}/:runner_id`, async (req, res) => {
      const current = await one(req, 'edit');
      await store.delete(current.id);
      await changed(req, current, 'deleted');
      res.status(204).end();
    });
  }
  router.get('/runner_tags', requireAdmin, async (_req, res) => {
    res.json(tagCounts(await store.views((r) => r.project_id === null)));
  });
  router.get('/project/:project_id/runner_tags', async (req, res) => {
    const project = await projectAccess(ctx, req, 'read');
    res.json(tagCounts(await store.views((r) => r.project_id === project.id || r.project_id === null)));
  });
  router.get('/runners-all', requireAdmin, async (_req, res) => {
    res.json((await store.views()).map(runnerView));
  });
  return router;
}
