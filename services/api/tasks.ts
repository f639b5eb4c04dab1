import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { FINAL_STATUSES, TASK_STATUSES, stopInput, taskInput, type Project, type Task, type Template } from '../common/model.js';
import type { AppContext } from '../context.js';
import { createTask, reserveIn, stopTask } from '../dispatch/tasks.js';
import { Batch } from '../redis/batch.js';
import { channels } from '../redis/keys.js';
import { watchStreamAccess } from './stream-access.js';
import { accessTo, projectAccess, type Need } from './access.js';
import { audit } from './audit.js';
import { HttpError, idParam, notFound, parseQuery } from './http.js';
import { parseInput } from './input.js';

const csv = (list: string[] | undefined) => (list ? list.join(',') : undefined);
const list = (text: string) => (text ? text.split(',').map((x) => x.trim()).filter(Boolean) : []);

/** Semaphore's Task fields next to Forge's: `params` and `inventory_id` as Semaphore shapes them. */
export const taskView = ({ has_extras: _kept, ...task }: Task, template?: Template) => ({
  ...task,
  inventory_id: task.inventory_id ?? template?.inventory_id ?? null,
  secret: '',
  params: { debug: task.debug, dry_run: task.dry_run, diff: task.diff, limit: list(task.limit), tags: list(task.tags), skip_tags: list(task.skip_tags) },
});

/** Takes Semaphore's `params` (lists) and Forge's flat fields alike; `params` wins where both are given. */
function effectiveInput(input: z.infer<typeof taskInput>, template: Template): z.infer<typeof taskInput> {
  const p = input.params ?? {};
  return {
    ...input, template_id: template.id, debug: p.debug ?? input.debug, dry_run: p.dry_run ?? p.plan ?? input.dry_run,
    auto_approve: p.auto_approve ?? input.auto_approve, destroy: p.destroy ?? input.destroy, diff: p.diff ?? input.diff,
    limit: csv(p.limit) ?? input.limit, tags: csv(p.tags) ?? input.tags, skip_tags: csv(p.skip_tags) ?? input.skip_tags,
  };
}

const listQuery = z.object({
  status: z.string().optional().transform((s) => (s ? s.split(',') : [])).pipe(z.array(z.enum(TASK_STATUSES, { error: `status must be among ${TASK_STATUSES.join(', ')}` }))),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const afterId = z.string().regex(/^\d+-\d+$|^0$/, 'expected a stream id such as 12-0, or 0 for the start').default('0');

/**
 * POST /project/:project_id/tasks on a router of its own, so the app can mount it ahead of the
 * other API routers with its own `guard` (body limit, authentication, JSON): the most frequent
 * authenticated write then walks only what it needs. The HTTP server serves the plain form of it
 * without Express (task-create-direct.ts); this route serves the rest (another spelling of the
 * path, a query string).
 */
export function taskCreateRouter(ctx: AppContext, guard: RequestHandler[]): Router {
  const router = Router();
  router.post('/project/:project_id/tasks', ...guard, async (req: Request, res: Response) => {
    res.status(201).json(await createTaskAsAsked(ctx, req, idParam(req, 'project_id')));
  });
  return router;
}

/** What creating a task reads of its request: the JSON body, the headers, and the authenticated caller. */
export type TaskCreateRequest = Pick<Request, 'body' | 'headers' | 'method' | 'path' | 'user'>;

/** POST /project/:project_id/tasks's work: the task created as the body asks, as its answer shows it. */
export async function createTaskAsAsked(ctx: AppContext, req: TaskCreateRequest, projectId: number): Promise<ReturnType<typeof taskView>> {
  // Every read the request needs goes in one round trip: the project, the template (keyed by the
  // path's project id and the body's template_id; nothing of it is used or answered unless the
  // caller may run tasks there), the task's and its audit entry's ids, and the runners for its
  // waiting reason. Authentication came before (requireUser, or authenticatedUser on the direct route).
  const templates = ctx.stores.templates(projectId);
  const templateId = (req.body as { template_id?: unknown } | undefined)?.template_id;
  const reads = new Batch(ctx.redis);
  const projectRead = ctx.stores.projects.getIn(reads, projectId);
  const early = typeof templateId === 'number' && Number.isSafeInteger(templateId) && templateId > 0 ? templates.getIn(reads, templateId) : undefined;
  const reserved = reserveIn(ctx, reads, true);
  for (const pending of [early, reserved]) pending?.catch(() => {}); // awaited below, unless the access check throws first
  await reads.send();
  const project = accessTo(req, await projectRead, 'run');
  const input = parseInput(taskInput, req, { projectId: project.id });
  const template = input.template_id !== undefined
    ? await (input.template_id === templateId && early ? early : templates.get(input.template_id))
    : (await templates.list()).find((t) => t.name === input.template_name);
  if (!template) throw new HttpError(400, input.template_id !== undefined ? `template_id: no template ${input.template_id} in this project` : `template_name: no template named "${input.template_name}" in this project`);
  const task = await createTask(ctx, project, template, effectiveInput(input, template), req.user!.id, undefined, {
    reserved: await reserved,
    audited: (created) => ({
      project_id: project.id, object_type: 'task', object_id: created.id, description: `task ${created.id} of template ${template.name} started`, user_id: req.user!.id,
    }),
  });
  return taskView(task, template);
}

export function taskRouter(ctx: AppContext): Router {
  const router = Router();
  const tasks = ctx.stores.tasks;

  async function taskOf(req: Request, need: Need = 'read'): Promise<{ task: Task; project: Project }> {
    const project = await projectAccess(ctx, req, need);
    const task = await tasks.get(idParam(req, 'task_id'));
    if (!task || task.project_id !== project.id) throw notFound('task');
    return { task, project };
  }

  /** Tasks with Semaphore's fields; one template read per template on the page. */
  const views = async (projectId: number, page: Task[]) => {
    const templates = new Map((await ctx.stores.templates(projectId).list()).map((t) => [t.id, t]));
    return page.map((t) => taskView(t, templates.get(t.template_id)));
  };

  const listTasks = async (req: Request, res: Response, templateId?: number) => {
    const project = await projectAccess(ctx, req, 'read');
    const query = parseQuery(listQuery, req);
    const page = await tasks.list({ projectId: project.id, templateId, status: query.status, offset: query.offset, limit: query.limit });
    res.setHeader('X-Total-Count', String(page.total));
    res.json(await views(project.id, page.tasks));
  };
  router.get('/project/:project_id/tasks', (req, res) => listTasks(req, res));
  router.get('/project/:project_id/tasks/last', async (req, res) => {
    const project = await projectAccess(ctx, req, 'read');
    res.json(await views(project.id, (await tasks.list({ projectId: project.id, limit: 200 })).tasks));
  });
  router.get('/project/:project_id/templates/:template_id/tasks', async (req, res) => {
    const project = await projectAccess(ctx, req, 'read');
    const template = await ctx.stores.templates(project.id).get(idParam(req, 'template_id'));
    if (!template) throw notFound('template');
    await listTasks(req, res, template.id);
  });

  router.get('/project/:project_id/tasks/:task_id', async (req, res) => {
    const { task, project } = await taskOf(req);
    res.json(taskView(task, await ctx.stores.templates(project.id).get(task.template_id)));
  });

  router.delete('/project/:project_id/tasks/:task_id', async (req, res) => {
    const { task, project } = await taskOf(req, 'edit');
    if (!FINAL_STATUSES.includes(task.status)) throw new HttpError(409, `task ${task.id} is ${task.status}; stop it first (POST .../tasks/${task.id}/stop)`);
    await tasks.delete(task.id);
    await audit(ctx, req, { project_id: project.id, object_type: 'task', object_id: task.id, description: `task ${task.id} deleted` });
    res.status(204).end();
  });

  /**
   * Stop answers 204 like Semaphore's. `force` is accepted; Forge's stop already ends the task's
   * whole process group (the runner hears within a heartbeat), so both stop the same way.
   */
  router.post('/project/:project_id/tasks/:task_id/stop', async (req, res) => {
    const { task, project } = await taskOf(req, 'run');
    parseInput(stopInput, req);
    if (FINAL_STATUSES.includes(task.status)) throw new HttpError(409, `task ${task.id} has already finished (${task.status})`);
    await stopTask(ctx, task);
    await audit(ctx, req, { project_id: project.id, object_type: 'task', object_id: task.id, description: `task ${task.id} stopped` });
    res.status(204).end();
  });

  /**
   * Semaphore's answer to a Terraform/OpenTofu plan: confirm applies exactly the saved plan, reject
   * ends the task `rejected` with nothing applied. The executing side (local worker or runner)
   * long-polls for this and is woken by the task event the change publishes.
   */
  const decide = (decision: 'confirmed' | 'rejected') => async (req: Request, res: Response) => {
    const { task, project } = await taskOf(req, 'run');
    const patch: Partial<Task> = decision === 'confirmed' ? { status: 'confirmed', confirmation: 'confirmed' } : { confirmation: 'rejected' };
    const changed = !task.confirmation && await tasks.transition(task.id, { from: ['waiting_confirmation'], attempt: task.attempt }, patch);
    if (!changed) {
      const now = (await tasks.get(task.id)) ?? task;
      const why = now.status === 'waiting_confirmation' && now.confirmation ? `its plan was already ${now.confirmation}` : `it is ${now.status}`;
      throw new HttpError(409, `task ${task.id} is not waiting for confirmation: ${why}; only a task in waiting_confirmation can be confirmed or rejected`);
    }
    const verb = decision === 'confirmed' ? 'confirmed (applying its plan)' : 'rejected (nothing applied)';
    await audit(ctx, req, { project_id: project.id, object_type: 'task', object_id: task.id, description: `task ${task.id} ${verb}` });
    res.status(204).end();
  };
  router.post('/project/:project_id/tasks/:task_id/confirm', decide('confirmed'));
  router.post('/project/:project_id/tasks/:task_id/reject', decide('rejected'));

  router.post('/project/:project_id/templates/:template_id/stop_all_tasks', async (req, res) => {
    const project = await projectAccess(ctx, req, 'run');
    const template = await ctx.stores.templates(project.id).get(idParam(req, 'template_id'));
    if (!template) throw notFound('template');
    parseInput(stopInput, req);
    const ids = new Set([...(await tasks.waitingIds()), ...(await tasks.activeIds())]);
    const active = (await tasks.getMany([...ids])).filter((t) => t.template_id === template.id && t.project_id === project.id);
    for (const task of active) await stopTask(ctx, task);
    await audit(ctx, req, { project_id: project.id, object_type: 'template', object_id: template.id, description: `all ${active.length} active tasks of template ${template.name} stopped` });
    res.status(204).end();
  });

  router.get('/project/:project_id/tasks/:task_id/output', async (req, res) => {
    const { task } = await taskOf(req);
    const after = parseQuery(z.object({ after: afterId }), req).after;
    const lines = await ctx.stores.output.read(task.id, after, 100_000);
    res.json(lines);
  });

  router.get('/project/:project_id/tasks/:task_id/raw_output', async (req, res) => {
    const { task } = await taskOf(req);
    res.type('text/plain; charset=utf-8');
    res.setHeader('Content-Disposition', `inline; filename="task-${task.id}.log"`);
    let after = '0';
    for (;;) {
      const lines = await ctx.stores.output.read(task.id, after, 5000);
      if (lines.length === 0) break;
      res.write(lines.map((l) => l.output).join('\n') + '\n');
      after = lines[lines.length - 1]!.id;
    }
    res.end();
  });

  /**
   * Live output by Server-Sent Events. Each event's id is the line's stream id, so a client
   * that reconnects with Last-Event-ID (or ?after=) resumes exactly where it stopped.
   */
  router.get('/project/:project_id/tasks/:task_id/output/stream', async (req, res) => {
    const { task } = await taskOf(req);
    const resumeFrom = afterId.safeParse(req.headers['last-event-id'] ?? req.query.after ?? '0');
    if (!resumeFrom.success) throw new HttpError(400, `Last-Event-ID / after: ${resumeFrom.error.issues[0]!.message}`);
    let after = resumeFrom.data;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 1000\n\n');
    let closed = false;
    let busy = false;
    let again = false;
    let lastStatus = '';
    const pump = async () => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        do {
          again = false;
          for (;;) {
            const lines = await ctx.stores.output.read(task.id, after, 1000);
            if (lines.length === 0 || closed) break;
            for (const line of lines) res.write(`id: ${line.id}\nevent: line\ndata: ${JSON.stringify({ task_id: line.task_id, time: line.time, output: line.output })}\n\n`);
            after = lines[lines.length - 1]!.id;
          }
          const current = await tasks.get(task.id);
          if (current && current.status !== lastStatus && !closed) {
            lastStatus = current.status;
            res.write(`event: status\ndata: ${JSON.stringify(current)}\n\n`);
          }
          if (current && FINAL_STATUSES.includes(current.status) && !closed) {
            res.write(`event: end\ndata: ${JSON.stringify({ status: current.status })}\n\n`);
            finish();
            return;
          }
        } while (again && !closed);
      } finally {
        busy = false;
      }
    };
    const off = ctx.bus.on(channels.taskEvents, (message) => {
      if ((message as { id?: number }).id === task.id) void pump();
    });
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const stopWatching = watchStreamAccess(ctx, req, (reason) => {
      res.write(`event: expired\ndata: ${JSON.stringify({ error: reason })}\n\n`);
      finish();
    }, task.project_id);
    const finish = () => {
      if (closed) return;
      closed = true;
      stopWatching();
      off();
      clearInterval(keepAlive);
      res.end();
    };
    req.on('close', finish);
    await pump();
  });
  return router;
}
