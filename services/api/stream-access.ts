import type { Request } from 'express';
import type { AppContext } from '../context.js';
import { resolveUser } from './auth.js';

/** How often a live stream re-checks that its caller may still see it (the issue allows up to 30 s). */
export const STREAM_ACCESS_RECHECK_MS = 5000;

/**
 * Watches a long-lived stream's access: every STREAM_ACCESS_RECHECK_MS it resolves the caller again
 * (session cookie or Bearer token, as on the request) and, for a project's stream, their
 * membership. When access is gone, `onLost` gets a reason to send as the stream's final event.
 * Answers a function that stops watching.
 */
export function watchStreamAccess(ctx: AppContext, req: Request, onLost: (reason: string) => void, projectId?: number): () => void {
  let stopped = false;
  const check = async () => {
    const user = await resolveUser(ctx, req);
    if (stopped) return;
    if (!user || user.id !== req.user?.id) {
      onLost('your session has ended or your API token was revoked; log in again');
      return;
    }
    if (projectId === undefined || user.admin) return;
    const project = await ctx.stores.projects.get(projectId);
    if (!stopped && (!project || !project.members.includes(user.id))) onLost(`you no longer have access to project ${projectId}`);
  };
  const timer = setInterval(() => void check().catch(() => {}), STREAM_ACCESS_RECHECK_MS);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
