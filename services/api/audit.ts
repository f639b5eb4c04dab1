import { Router, type Request } from 'express';
import type { AuditEvent, Project } from '../common/model.js';
import type { AppContext } from '../context.js';
import { canSee, projectAccess } from './access.js';

/** Records an audit event for the caller. */
export async function audit(ctx: AppContext, req: Request, event: { project_id: number | null; object_type: string; object_id: number | null; description: string }): Promise<void> {
  await ctx.stores.audit.record({ ...event, user_id: req.user?.id ?? null });
}

/** Semaphore's Event, with the names a reader needs next to the ids. */
async function withNames(ctx: AppContext, events: AuditEvent[], projects?: Map<number, Project>): Promise<unknown[]> {
  const users = new Map((await ctx.stores.users.list()).map((u) => [u.id, u.login]));
  const projectNames = projects ?? new Map((await ctx.stores.projects.list()).map((p) => [p.id, p]));
  return events.map((e) => ({
    ...e,
    username: e.user_id !== null ? (users.get(e.user_id) ?? null) : null,
    project_name: e.project_id !== null ? (projectNames.get(e.project_id)?.name ?? null) : null,
  }));
}

/**
 * GET /events and /events/last: the audit log of the projects the caller belongs to (admins: all,
 * including events outside projects), newest first. GET /project/:id/events: one project's.
 */
export function auditRouter(ctx: AppContext): Router {
  const router = Router();
  const global = async (req: Request, limit?: number) => {
    const user = req.user!;
    const projects = new Map((await ctx.stores.projects.list()).map((p) => [p.id, p]));
    const visible = (e: AuditEvent) => (e.project_id === null ? user.admin || e.user_id === user.id : canSee(user, projects.get(e.project_id)));
    const events = (await ctx.stores.audit.list()).filter(visible).slice(0, limit);
    return withNames(ctx, events, projects);
  };
  router.get('/events', async (req, res) => {
    res.json(await global(req));
  });
  router.get('/events/last', async (req, res) => {
    res.json(await global(req, 200));
  });
  router.get('/project/:project_id/events', async (req, res) => {
    const project = await projectAccess(ctx, req, 'read');
    res.json(await withNames(ctx, await ctx.stores.audit.list({ projectId: project.id })));
  });
  return router;
}
