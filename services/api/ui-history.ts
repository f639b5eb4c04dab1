import { Router, type Request } from 'express';
import { z } from 'zod';
import { TASK_STATUSES, type Project, type Task, type User } from '../common/model.js';
import type { AppContext } from '../context.js';
import { keys } from '../redis/keys.js';
import { HttpError, idParam, notFound, parseQuery } from './http.js';
import { projectOf } from './projects.js';

/** A task as the UI lists it: with its template's name, who started it, and the branch it cloned. */
export interface TaskRow extends Task { template_name: string; user_name: string; branch: string }

/** How many of a project's newest tasks a search looks through. */
const SEARCH_WINDOW = 20_000;
const CHUNK = 500;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const historyQuery = z.object({
  q: z.string().max(200).default(''),
  template_id: z.coerce.number().int().positive().optional(),
  user_id: z.coerce.number().int().positive().optional(),
  status: z.string().optional().transform((s) => (s ? s.split(',') : [])).pipe(z.array(z.enum(TASK_STATUSES, { error: `status must be among ${TASK_STATUSES.join(', ')}` }))),
  from: z.string().regex(DAY, 'expected a date as YYYY-MM-DD').optional(),
  to: z.string().regex(DAY, 'expected a date as YYYY-MM-DD').optional(),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

/** Names of templates, users and branches, loaded once per request to decorate many tasks. */
async function decorator(ctx: AppContext, projectId: number): Promise<(t: Task) => TaskRow> {
  const [templates, repositories, users] = await Promise.all([
    ctx.stores.templates(projectId).list(), ctx.stores.repositories(projectId).list(), ctx.stores.users.list(),
  ]);
  const template = new Map(templates.map((t) => [t.id, t]));
  const repository = new Map(repositories.map((r) => [r.id, r]));
  const userName = new Map(users.map((u) => [u.id, u.name || u.login]));
  return (t) => {
    const tpl = template.get(t.template_id);
    // The same precedence the job payload uses: run override, then template, then repository.
    const branch = t.git_branch || tpl?.git_branch || (tpl ? repository.get(tpl.repository_id)?.git_branch : '') || '';
    return { ...t, template_name: tpl?.name ?? `template ${t.template_id}`, user_name: t.user_id ? userName.get(t.user_id) ?? `user ${t.user_id}` : '', branch };
  };
}

const projectPeople = (users: User[], project: Project) =>
  users.filter((u) => u.admin || project.members.includes(u.id)).map((u) => ({ id: u.id, name: u.name || u.login }));

/**
 * Read-only views for the web UI:
 * - GET /api/project/:id/ui/history — task history with text search (task number, message, commit,
 *   branch, template, user, runner) and filters by template, user, status and creation date
 *   (from/to as YYYY-MM-DD, UTC, inclusive); answers {tasks, total, users, searched_all}.
 * - GET /api/project/:id/ui/last_tasks — each template's newest task.
 * - GET /api/project/:id/ui/tasks/:task_id — one task with the same extra fields.
 */
export function uiHistoryRouter(ctx: AppContext): Router {
  const router = Router();

  router.get('/project/:project_id/ui/history', async (req, res) => {
    const project = await projectOf(ctx, req);
    const q = parseQuery(historyQuery, req);
    if (q.from && q.to && q.from > q.to) throw new HttpError(400, 'from: must not be after "to"');
    const decorate = await decorator(ctx, project.id);
    const index = q.template_id ? keys.tasksByTemplate(q.template_id) : keys.tasksByProject(project.id);
    const text = q.q.trim().toLowerCase();
    const number = /^#?(\d+)$/.exec(text)?.[1];
    const from = q.from ? `${q.from}T00:00:00` : '';
    const to = q.to ? `${q.to}T23:59:59.999Z` : '';
    const matches = (t: TaskRow) =>
      (!q.status.length || q.status.includes(t.status)) && (!q.user_id || t.user_id === q.user_id) &&
      (!from || t.created >= from) && (!to || t.created <= to) &&
      (!text || (number !== undefined && String(t.id) === number) ||
        [t.message, t.commit_message, t.commit_hash, t.branch, t.template_name, t.user_name, t.runner_name].some((s) => s.toLowerCase().includes(text)));
    const page: TaskRow[] = [];
    let total = 0;
    let scanned = 0;
    for (; scanned < SEARCH_WINDOW; scanned += CHUNK) {
      const ids = await ctx.redis.zrevrange(index, scanned, scanned + CHUNK - 1);
      if (ids.length === 0) break;
      for (const task of await ctx.stores.tasks.getMany(ids.map(Number))) {
        if (task.project_id !== project.id) continue;
        const row = decorate(task);
        if (!matches(row)) continue;
        if (total >= q.offset && page.length < q.limit) page.push(row);
        total++;
      }
    }
    const searchedAll = scanned < SEARCH_WINDOW || (await ctx.redis.zcard(index)) <= SEARCH_WINDOW;
    res.setHeader('Cache-Control', 'no-store');
    res.json({ tasks: page, total, users: projectPeople(await ctx.stores.users.list(), project), searched_all: searchedAll });
  });

  router.get('/project/:project_id/ui/last_tasks', async (req, res) => {
    const project = await projectOf(ctx, req);
    const decorate = await decorator(ctx, project.id);
    const out: Array<{ template_id: number; task: TaskRow | null }> = [];
    for (const template of await ctx.stores.templates(project.id).list()) {
      const [id] = await ctx.redis.zrevrange(keys.tasksByTemplate(template.id), 0, 0);
      const task = id ? await ctx.stores.tasks.get(Number(id)) : undefined;
      out.push({ template_id: template.id, task: task ? decorate(task) : null });
    }
    res.setHeader('Cache-Control', 'no-store');
    res.json(out);
  });

  router.get('/project/:project_id/ui/tasks/:task_id', async (req, res) => {
    const project = await projectOf(ctx, req);
    const task = await ctx.stores.tasks.get(idParam(req, 'task_id'));
    if (!task || task.project_id !== project.id) throw notFound('task');
    res.json((await decorator(ctx, project.id))(task));
  });
  return router;
}
