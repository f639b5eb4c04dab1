import type { Request } from 'express';
import type { Project, ProjectRole, User } from '../common/model.js';
import type { AppContext } from '../context.js';
import { HttpError, idParam, notFound } from './http.js';

/**
 * What a project role may do, with Semaphore's meaning: a guest reads; a task_runner also runs
 * and stops tasks; a manager also edits the project's records; an owner also manages members
 * and the project itself. Admins are owners everywhere. The bits are Semaphore's permission flags.
 */
export type Need = 'read' | 'run' | 'edit' | 'own';

const PERMISSION = { run: 1, own_project: 2, edit: 4, own_members: 8 } as const;
const ROLE_PERMISSIONS: Record<ProjectRole, number> = {
  owner: PERMISSION.run | PERMISSION.own_project | PERMISSION.edit | PERMISSION.own_members,
  manager: PERMISSION.run | PERMISSION.edit,
  task_runner: PERMISSION.run,
  guest: 0,
};
const NEEDS: Record<Exclude<Need, 'read'>, number> = { run: PERMISSION.run, edit: PERMISSION.edit, own: PERMISSION.own_members };
const WHO: Record<Exclude<Need, 'read'>, string> = {
  run: 'task_runner, manager or owner', edit: 'manager or owner', own: 'owner',
};

/** A member's role (a member with no recorded role is an owner, as every member was before roles). */
export function memberRole(project: Project, userId: number): ProjectRole | undefined {
  return project.members.includes(userId) ? (project.roles?.[String(userId)] ?? 'owner') : undefined;
}

/** The caller's role in a project (admins: owner everywhere), or undefined for a non-member (who must not learn it exists). */
export function roleOf(user: User, project: Project): ProjectRole | undefined {
  return user.admin ? 'owner' : memberRole(project, user.id);
}

export const permissionsOf = (role: ProjectRole) => ROLE_PERMISSIONS[role];

export function allows(role: ProjectRole, need: Need): boolean {
  return need === 'read' || (ROLE_PERMISSIONS[role] & NEEDS[need]) !== 0;
}

export const canSee = (user: User, project: Project | undefined): boolean => Boolean(project && roleOf(user, project));

/**
 * The project in the path, if the caller's role there allows `need`: 404 for a non-member (as if
 * it did not exist), 403 naming the roles that may, for a member whose role does not.
 */
export async function projectAccess(ctx: AppContext, req: Request, need: Need): Promise<Project & { role: ProjectRole }> {
  return accessTo(req, await ctx.stores.projects.get(idParam(req, 'project_id')), need);
}

/** projectAccess with the project already read (e.g. in one round trip with other reads). */
export function accessTo(req: Pick<Request, 'user'>, project: Project | undefined, need: Need): Project & { role: ProjectRole } {
  const role = project ? roleOf(req.user!, project) : undefined;
  if (!project || !role) throw notFound('project');
  if (!allows(role, need)) throw new HttpError(403, `your role in project ${project.id} is ${role}; this needs ${WHO[need as Exclude<Need, 'read'>]}`);
  return { ...project, role };
}

/**
 * For a router of project records: readers may GET, changes need a manager or owner. Mount it on
 * the records' own path prefix (e.g. /project/:project_id/schedules), never on /project/:project_id.
 */
export function editorsChange(ctx: AppContext) {
  return async (req: Request, _res: unknown, next: () => void): Promise<void> => {
    await projectAccess(ctx, req, req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'edit');
    next();
  };
}
