import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { FINAL_STATUSES, TASK_STATUSES, taskInput, type Task } from '../common/model.js';
import type { AppContext } from '../context.js';
import { createTask, stopTask } from '../dispatch/tasks.js';
import { channels } from '../redis/keys.js';
import { HttpError, idParam, notFound, parseBody } from './http.js';
import { projectOf } from './projects.js';
import { watchStreamAccess } from './stream-access.js';

const listQuery = z.object({
  status: z.string().optional().transform((s) => (s ? s.split(',') : [])).pipe(z.array(z.enum(TASK_STATUSES, { error: `status must be among ${TASK_STATUSES.join(', ')}` }))),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const afterId = z.string().regex(/^\d+-\d+$|^0$/, 'expected a stream id such as 12-0, or 0 for the start').default('0');

function parseQuery<T extends z.ZodType>(schema: T, req: Request): z.infer<T> {
  const result = schema.safeParse(req.query);
  if (!result.success) throw new HttpError(400, result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return result.data;
}

export function taskRouter(ctx: AppContext): Router {
  const router = Router();
  const tasks = ctx.stores.tasks;

  async function taskOf(req: Request): Promise<Task> {
    const project = await projectOf(ctx, req);
    const task = await tasks.get(idParam(req, 'task_id'));
    if (!task || task.project_id !== project.id) throw notFound('task');
    return task;
  }

  const list = async (req: Request, res: Response, templateId?: number) => {
    const project = await projectOf(ctx, req);
    const query = parseQuery(listQuery, req);
    const page = await tasks.list({ projectId: project.id, templateId, status: query.status, offset: query.offset, limit: query.limit });
    res.setHeader('X-Total-Count', String(page.total));
    res.json(page.tasks);
  };
  router.get('/project/:project_id/tasks', (req, res) => list(req, res));
  router.get('/project/:project_id/templates/:template_id/tasks', async (req, res) => {
    const project = await projectOf(ctx, req);
    const template = await ctx.stores.templates(project.id).get(idParam(req, 'template_id'));
    if (!template) throw notFound('template');
    await list(req, res, template.id);
  });

  router.post('/project/:project_id/tasks', async (req, res) => {
    const project = await projectOf(ctx, req);
    const input = parseBody(taskInput, req.body);
    const template = await ctx.stores.templates(project.id).get(input.template_id);
    if (!template) throw new HttpError(400, `template_id: no template ${input.template_id} in this project`);
    res.status(201).json(await createTask(ctx, project, template, input, req.user!.id));
  });

  router.get('/project/:project_id/tasks/:task_id', async (req, res) => {
    res.json(await taskOf(req));
  });

  router.post('/project/:project_id/tasks/:task_id/stop', async (req, res) => {
    const task = await taskOf(req);
    if (FINAL_STATUSES.includes(task.status)) throw new HttpError(409, `task ${task.id} has already finished (${task.status})`);
    res.json(await stopTask(ctx, task));
  });

  router.get('/project/:project_id/tasks/:task_id/output', async (req, res) => {
    const task = await taskOf(req);
    const after = parseQuery(z.object({ after: afterId }), req).after;
    const lines = await ctx.stores.output.read(task.id, after, 100_000);
    res.json(lines);
  });

  router.get('/project/:project_id/tasks/:task_id/raw_output', async (req, res) => {
    const task = await taskOf(req);
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
    const task = await taskOf(req);
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
