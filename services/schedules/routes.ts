import { Router, type Request } from 'express';
import { z } from 'zod';
import { taskParamsInput } from '../common/model.js';
import { isTimeZone } from '../common/config.js';
import type { AppContext } from '../context.js';
import { HttpError, idParam, notFound, parseBody } from '../api/http.js';
import { editorsChange } from '../api/access.js';
import { projectOf } from '../api/projects.js';
import { featuresOf } from '../features.js';
import { checkCron, schedules, type Schedule } from './scheduler.js';

const reported = z.unknown().optional();

/** Semaphore's ScheduleRequest, plus `timezone` (default: the server's schedule_timezone). */
export const scheduleInput = z
  .object({
    id: z.number().int().optional(),
    project_id: z.number().int().optional(),
    template_id: z.number({ error: 'expected the numeric id of a template' }).int().positive(),
    name: z.string().trim().max(200).default(''),
    cron_format: z.string().trim().max(200).default(''),
    timezone: z.string().refine(isTimeZone, 'expected an IANA time zone such as UTC or Europe/Berlin').optional(),
    active: z.boolean().default(true),
    type: z.enum(['', 'run_at']).default(''),
    run_at: z.iso.datetime({ offset: true, error: 'expected an ISO date-time such as 2030-01-01T10:00:00Z' }).nullable().optional(),
    task_params: taskParamsInput.default({}),
    // What the server reports (a GET answer sent back as is); ignored.
    next_run: reported, last_run: reported, last_task_id: reported, last_error: reported, missed_ticks: reported, last_missed_at: reported, last_missed_from: reported,
  })
  .strict()
  .transform(({ next_run: _a, last_run: _b, last_task_id: _c, last_error: _d, missed_ticks: _e, last_missed_at: _f, last_missed_from: _g, ...input }) => input);

export function scheduleRouter(ctx: AppContext): Router {
  const router = Router();
  const scheduler = () => featuresOf(ctx).scheduler;
  const view = async (s: Schedule) => ({ ...s, next_run: await scheduler().nextRun(s) });

  async function validInput(req: Request, projectId: number) {
    const input = parseBody(scheduleInput, req.body);
    if (!(await ctx.stores.templates(projectId).get(input.template_id))) throw new HttpError(400, `template_id: no template ${input.template_id} in this project`);
    const timezone = input.timezone ?? ctx.config.schedule_timezone;
    if (input.type === 'run_at') {
      if (!input.run_at) throw new HttpError(400, 'run_at: a run_at schedule needs the date-time to run at');
    } else checkCron(input.cron_format, timezone);
    return { ...input, timezone, run_at: input.run_at ?? null };
  }

  async function scheduleOf(req: Request): Promise<{ projectId: number; schedule: Schedule }> {
    const project = await projectOf(ctx, req);
    const schedule = await schedules(ctx, project.id).get(idParam(req, 'schedule_id'));
    if (!schedule) throw notFound('schedule');
    return { projectId: project.id, schedule };
  }

  router.use('/project/:project_id/schedules', editorsChange(ctx));
  router.get('/project/:project_id/schedules', async (req, res) => {
    const project = await projectOf(ctx, req);
    res.json(await Promise.all((await schedules(ctx, project.id).list()).map(view)));
  });
  router.get('/project/:project_id/templates/:template_id/schedules', async (req, res) => {
    const project = await projectOf(ctx, req);
    const templateId = idParam(req, 'template_id');
    res.json(await Promise.all((await schedules(ctx, project.id).list()).filter((s) => s.template_id === templateId).map(view)));
  });
  router.post('/project/:project_id/schedules/validate', async (req, res) => {
    const input = parseBody(z.object({ cron_format: z.string(), timezone: z.string().optional() }), req.body);
    checkCron(input.cron_format, input.timezone ?? ctx.config.schedule_timezone);
    res.status(204).end();
  });
  router.post('/project/:project_id/schedules', async (req, res) => {
    const project = await projectOf(ctx, req);
    const { id: _id, project_id: _pid, ...input } = await validInput(req, project.id);
    const schedule = await schedules(ctx, project.id).create({
      ...input, project_id: project.id, last_run: null, last_task_id: null, last_error: '', missed_ticks: 0, last_missed_at: null, last_missed_from: null,
    });
    await scheduler().sync(schedule);
    res.status(201).json(await view(schedule));
  });
  router.get('/project/:project_id/schedules/:schedule_id', async (req, res) => {
    res.json(await view((await scheduleOf(req)).schedule));
  });
  router.put('/project/:project_id/schedules/:schedule_id', async (req, res) => {
    const { projectId, schedule } = await scheduleOf(req);
    const { id: _id, project_id: _pid, ...input } = await validInput(req, projectId);
    // From the schedule as Redis holds it: the scheduler's own fields (last run, missed ticks) keep their latest values.
    const updated = await schedules(ctx, projectId).change(schedule.id, (current) => ({ ...current, ...input }));
    if (!updated) throw notFound('schedule');
    await scheduler().sync(updated);
    res.status(204).end();
  });
  router.delete('/project/:project_id/schedules/:schedule_id', async (req, res) => {
    const { projectId, schedule } = await scheduleOf(req);
    await scheduler().remove(schedule);
    await schedules(ctx, projectId).delete(schedule.id);
    res.status(204).end();
  });
  return router;
}
