import { Queue, Worker, type Job } from 'bullmq';
import { logger } from '../../protocol/log.js';
import type { Task } from '../common/model.js';
import type { AppContext } from '../context.js';
import { keys } from '../redis/keys.js';
import { Collection } from '../store/collection.js';
import { send, type NotificationChannel, type TaskEnd } from './channels.js';

const log = logger('notifications');
export const NOTIFICATION_QUEUE = '{forge-notifications}';

/** One channel's outcome for one task, as GET …/tasks/:id/notifications shows it. */
export interface NotificationResult {
  channel_id: number; name: string; type: string; status: 'pending' | 'retrying' | 'sent' | 'failed';
  attempts: number; error: string; updated: string;
}

interface SendJob { channel_id: number; project_id: number; end: TaskEnd }

export const channelsOf = (ctx: AppContext, projectId: number) => new Collection<NotificationChannel>(ctx.redis, 'notifications', `p${projectId}`, ctx.stores.cache);

/**
 * Notifications when a task ends go through their own BullMQ queue, one job per channel, with
 * retries and doubling backoff, so a slow or unreachable endpoint costs the task nothing.
 */
export class Notifier {
  private readonly queue: Queue<SendJob>;
  private worker: Worker<SendJob> | undefined;

  constructor(private readonly ctx: AppContext) {
    this.queue = new Queue<SendJob>(NOTIFICATION_QUEUE, { connection: ctx.queueRedis, prefix: 'forge' });
  }

  start(): void {
    this.worker = new Worker<SendJob>(NOTIFICATION_QUEUE, (job) => this.deliver(job), { connection: this.ctx.queueRedis, prefix: 'forge', concurrency: 10 });
    this.worker.on('error', (err) => log.warn('notification worker error', { error: err.message }));
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }

  /**
   * Queues the notifications a finished task calls for (none for stopped tasks or suppressed
   * alerts). The channels are kept records (record-cache.ts): most tasks cost no read here.
   */
  async taskEnded(task: Task): Promise<void> {
    if (task.status !== 'success' && task.status !== 'error') return;
    const success = task.status === 'success';
    // The channels first: most projects have none, and then the template need not be read.
    const all = await channelsOf(this.ctx, task.project_id).list();
    const channels = all.filter((c) =>
      c.active && (success ? c.on_success : c.on_failure) && (c.template_ids.length === 0 || c.template_ids.includes(task.template_id)));
    if (channels.length === 0) return;
    const template = await this.ctx.stores.templates(task.project_id).get(task.template_id);
    if (!template) return;
    if (success ? template.suppress_success_alerts : template.suppress_error_alerts) return;
    const end: TaskEnd = {
      task_id: task.id, project_id: task.project_id, template_id: task.template_id, template_name: template.name, status: task.status,
      version: task.version ?? '', error: task.error, start: task.start, end: task.end,
      url: `${this.ctx.config.web_host.replace(/\/$/, '')}/project/${task.project_id}/tasks/${task.id}`,
    };
    await this.queueSends(task.id, channels, end);
    await this.ctx.stores.tasks.patch(task.id, { notifications_url: `/api/project/${task.project_id}/tasks/${task.id}/notifications` });
  }

  /** Sends a test message through every active channel of a project (no task record involved). */
  async test(projectId: number): Promise<number> {
    const channels = (await channelsOf(this.ctx, projectId).list()).filter((c) => c.active);
    const end: TaskEnd = { task_id: 0, project_id: projectId, template_id: 0, template_name: 'test notification', status: 'success', version: '', error: '', start: null, end: new Date().toISOString(), url: this.ctx.config.web_host };
    for (const channel of channels) await this.queue.add('send', { channel_id: channel.id, project_id: projectId, end }, this.jobOptions());
    return channels.length;
  }

  async results(taskId: number): Promise<NotificationResult[]> {
    const all = await this.ctx.redis.hvals(keys.taskNotifications(taskId));
    return all.map((raw) => JSON.parse(raw) as NotificationResult).sort((a, b) => a.channel_id - b.channel_id);
  }

  private jobOptions() {
    const { notification_attempts: attempts, notification_backoff_ms: delay } = this.ctx.config;
    return { attempts, backoff: { type: 'exponential' as const, delay }, removeOnComplete: true, removeOnFail: 1000 };
  }

  private async queueSends(taskId: number, channels: NotificationChannel[], end: TaskEnd): Promise<void> {
    for (const channel of channels) {
      await this.setResult(taskId, { channel_id: channel.id, name: channel.name, type: channel.type, status: 'pending', attempts: 0, error: '', updated: new Date().toISOString() });
      await this.queue.add('send', { channel_id: channel.id, project_id: channel.project_id, end }, { ...this.jobOptions(), jobId: `task-${taskId}-channel-${channel.id}` });
    }
  }

  private async setResult(taskId: number, result: NotificationResult): Promise<void> {
    if (!taskId) return;
    const key = keys.taskNotifications(taskId);
    await this.ctx.redis.multi().hset(key, String(result.channel_id), JSON.stringify(result)).expire(key, 90 * 24 * 3600).exec();
  }

  private async deliver(job: Job<SendJob>): Promise<void> {
    const { channel_id, project_id, end } = job.data;
    const channel = await channelsOf(this.ctx, project_id).get(channel_id);
    if (!channel) return;
    const attempts = job.attemptsMade + 1;
    const base = { channel_id, name: channel.name, type: channel.type, attempts, updated: new Date().toISOString() };
    try {
      await send(this.ctx.config, channel, channel.secret ? this.ctx.stores.secrets.decrypt(channel.secret) : '', end);
      await this.setResult(end.task_id, { ...base, status: 'sent', error: '' });
    } catch (err) {
      const last = attempts >= (job.opts.attempts ?? 1);
      const error = (err as Error).message;
      await this.setResult(end.task_id, { ...base, status: last ? 'failed' : 'retrying', error });
      if (last) log.warn('notification failed for good', { channel_id, task_id: end.task_id, attempts, error });
      throw err;
    }
  }
}
