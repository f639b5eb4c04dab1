import { Queue, Worker, type Job } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import { logger } from '../../protocol/log.js';
import { ValidationError } from '../../protocol/validation.js';
import { taskInput } from '../common/model.js';
import type { AppContext } from '../context.js';
import { createTask } from '../dispatch/tasks.js';
import { keys } from '../redis/keys.js';
import { Collection } from '../store/collection.js';
import type { TaskParams } from '../../protocol/records.js';

const log = logger('schedules');
export const SCHEDULE_QUEUE = '{forge-schedules}';

/** Semaphore's Schedule, plus Forge's `timezone` and what the scheduler reports back (last run, missed ticks). */
export interface Schedule {
  id: number; project_id: number; template_id: number; name: string;
  cron_format: string; timezone: string; active: boolean; type: '' | 'run_at'; run_at: string | null;
  task_params: TaskParams;
  last_run: string | null; last_task_id: number | null; last_error: string;
  /** Ticks that passed while no server was up: reported here, never run late. */
  missed_ticks: number; last_missed_at: string | null; last_missed_from: string | null;
}

interface FireData { schedule_id: number; project_id: number }

export const schedules = (ctx: AppContext, projectId: number) => new Collection<Schedule>(ctx.redis, 'schedules', `p${projectId}`);
const schedulerId = (s: Pick<Schedule, 'id'>) => `schedule-${s.id}`;
const runAtJobId = (s: Pick<Schedule, 'id'>) => `schedule-${s.id}-run-at`;

/** Throws a ValidationError naming the field when the cron expression or time zone is not usable. */
export function checkCron(cron: string, timezone: string): void {
  const fields = cron.trim().split(/\s+/).length;
  if (fields < 5 || fields > 6) throw new ValidationError(`cron_format: expected 5 fields (minute hour day month weekday) or 6 with seconds first, got ${fields}`);
  try {
    CronExpressionParser.parse(cron, { tz: timezone });
  } catch (err) {
    throw new ValidationError(`cron_format: ${(err as Error).message}`);
  }
}

/** How many ticks of `cron` fall in [fromMs, toMs]. */
function ticksBetween(cron: string, timezone: string, fromMs: number, toMs: number): number {
  const it = CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date(fromMs - 1), endDate: new Date(toMs) });
  let count = 0;
  while (it.hasNext() && count < 1_000_000) {
    it.next();
    count++;
  }
  return count;
}

/**
 * Schedules on BullMQ job schedulers: each active schedule is one scheduler in Redis, which keeps
 * exactly one delayed job for its next tick whatever the number of servers, and every server runs
 * a worker on the one queue, so a tick is taken by one server only. A tick whose job is taken
 * later than `schedule_missed_after_sec` (no server was up) is reported on the schedule, not run.
 */
export class Scheduler {
  readonly queue: Queue<FireData>;
  private worker: Worker<FireData> | undefined;

  constructor(private readonly ctx: AppContext) {
    this.queue = new Queue<FireData>(SCHEDULE_QUEUE, { connection: ctx.queueRedis, prefix: 'forge' });
  }

  start(): void {
    this.worker = new Worker<FireData>(SCHEDULE_QUEUE, (job) => this.fire(job), { connection: this.ctx.queueRedis, prefix: 'forge', concurrency: 5 });
    this.worker.on('error', (err) => log.warn('schedule worker error', { error: err.message }));
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }

  /** Makes the BullMQ side match the record: a scheduler (cron), a delayed job (run_at), or nothing. */
  async sync(schedule: Schedule): Promise<void> {
    await this.remove(schedule);
    if (!schedule.active) return;
    const data: FireData = { schedule_id: schedule.id, project_id: schedule.project_id };
    const opts = { removeOnComplete: true, removeOnFail: 100 };
    if (schedule.type === 'run_at') {
      if (!schedule.run_at) return;
      await this.queue.add('fire', data, { ...opts, jobId: runAtJobId(schedule), delay: Math.max(0, Date.parse(schedule.run_at) - Date.now()) });
      return;
    }
    await this.queue.upsertJobScheduler(schedulerId(schedule), { pattern: schedule.cron_format, tz: schedule.timezone }, { name: 'fire', data, opts });
  }

  async remove(schedule: Pick<Schedule, 'id'>): Promise<void> {
    await this.queue.removeJobScheduler(schedulerId(schedule));
    await this.queue.remove(runAtJobId(schedule)).catch(() => 0);
  }

  /** When the schedule fires next (ISO), or null when it will not. */
  async nextRun(schedule: Schedule): Promise<string | null> {
    if (!schedule.active) return null;
    if (schedule.type === 'run_at') return schedule.run_at && Date.parse(schedule.run_at) > Date.now() ? schedule.run_at : null;
    const scheduler = await this.queue.getJobScheduler(schedulerId(schedule));
    return scheduler?.next ? new Date(scheduler.next).toISOString() : null;
  }

  private async fire(job: Job<FireData>): Promise<void> {
    const { schedule_id, project_id } = job.data;
    const tickMs = job.opts.prevMillis ?? job.timestamp + (job.opts.delay ?? 0);
    // A job a dead server had taken comes back as stalled; the tick must still count once.
    const first = await this.ctx.redis.set(keys.scheduleFired(job.id ?? `${schedule_id}:${tickMs}`), '1', 'PX', 7 * 24 * 3600_000, 'NX');
    if (!first) return;
    const store = schedules(this.ctx, project_id);
    const schedule = await store.get(schedule_id);
    if (!schedule || !schedule.active) return;
    const now = Date.now();
    const tick = new Date(tickMs).toISOString();
    if (now - tickMs > this.ctx.config.schedule_missed_after_sec * 1000) {
      const missed = schedule.type === 'run_at' ? 1 : Math.max(1, ticksBetween(schedule.cron_format, schedule.timezone, tickMs, now));
      log.warn('schedule ticks missed while no server was running; not run late', { schedule_id, missed, from: tick });
      await store.update(schedule_id, { missed_ticks: (schedule.missed_ticks ?? 0) + missed, last_missed_at: new Date(now).toISOString(), last_missed_from: tick });
      return;
    }
    try {
      const project = await this.ctx.stores.projects.get(project_id);
      const template = await this.ctx.stores.templates(project_id).get(schedule.template_id);
      if (!project || !template) {
        // Its template (or project) was deleted: the schedule stops instead of failing every tick.
        await this.remove(schedule);
        await store.update(schedule_id, { active: false, last_run: tick, last_error: `template ${schedule.template_id} no longer exists; the schedule was paused` });
        return;
      }
      const input = taskInput.parse({ ...schedule.task_params, template_id: template.id, message: `schedule "${schedule.name || schedule.id}" at ${tick}` });
      const task = await createTask(this.ctx, project, template, input, null);
      await store.update(schedule_id, { last_run: tick, last_task_id: task.id, last_error: '' });
    } catch (err) {
      log.warn('scheduled task could not start', { schedule_id, error: (err as Error).message });
      await store.update(schedule_id, { last_run: tick, last_error: (err as Error).message });
    }
  }
}
