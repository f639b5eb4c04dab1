import { Router, type Request } from 'express';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { HttpError, idParam, notFound, parseBody } from '../api/http.js';
import { editorsChange } from '../api/access.js';
import { projectOf } from '../api/projects.js';
import { featuresOf } from '../features.js';
import { CHANNEL_TYPES, type NotificationChannel } from './channels.js';
import { channelsOf } from './notifier.js';

export const channelInput = z
  .object({
    id: z.number().int().optional(),
    project_id: z.number().int().optional(),
    name: z.string().trim().min(1, 'must not be empty').max(200),
    type: z.enum(CHANNEL_TYPES, { error: `type must be one of ${CHANNEL_TYPES.join(', ')}` }),
    active: z.boolean().default(true),
    url: z.string().trim().max(2048).default(''),
    chat_id: z.string().trim().max(200).default(''),
    to: z.string().trim().max(2048).default(''),
    /** Write-only (a Telegram bot token); an update without it keeps the stored one. */
    secret: z.string().max(4096).optional(),
    secret_set: z.boolean().optional(),
    on_success: z.boolean().default(true),
    on_failure: z.boolean().default(true),
    template_ids: z.array(z.number().int().positive()).max(1000).default([]),
  })
  .strict()
  .superRefine((v, ctx) => {
    const need = (field: string, ok: boolean, message: string) => ok || ctx.addIssue({ code: 'custom', path: [field], message });
    if (['webhook', 'slack', 'teams'].includes(v.type)) need('url', /^https?:\/\/\S+$/.test(v.url), `a ${v.type} notification needs the http(s) URL to post to`);
    if (v.type === 'telegram') need('chat_id', Boolean(v.chat_id), 'a telegram notification needs the chat id');
    if (v.type === 'email') need('to', /^[^\s@,]+@[^\s@,]+(\s*,\s*[^\s@,]+@[^\s@,]+)*$/.test(v.to), 'an email notification needs recipients: a@example.com, b@example.com');
  });

const view = ({ secret, ...channel }: NotificationChannel) => ({ ...channel, secret_set: Boolean(secret) });

/** Notification channels of a project (Forge's addition), Semaphore's test endpoint, and each task's results. */
export function notificationRouter(ctx: AppContext): Router {
  const router = Router();
  const base = '/project/:project_id/notifications';

  async function channelOf(req: Request) {
    const project = await projectOf(ctx, req);
    const channel = await channelsOf(ctx, project.id).get(idParam(req, 'notification_id'));
    if (!channel) throw notFound('notification');
    return channel;
  }
  async function toRecord(projectId: number, input: z.infer<typeof channelInput>, existing?: NotificationChannel): Promise<Omit<NotificationChannel, 'id'>> {
    if (input.type === 'telegram' && !input.secret && !existing?.secret) throw new HttpError(400, 'secret: a telegram notification needs the bot token');
    const { id: _i, project_id: _p, secret, secret_set: _s, ...fields } = input;
    return { ...fields, project_id: projectId, secret: secret ? ctx.stores.secrets.encrypt(secret) : (existing?.secret ?? '') };
  }

  router.use(base, editorsChange(ctx));
  router.get(base, async (req, res) => {
    res.json((await channelsOf(ctx, (await projectOf(ctx, req)).id).list()).map(view));
  });
  router.post(base, async (req, res) => {
    const project = await projectOf(ctx, req);
    const record = await toRecord(project.id, parseBody(channelInput, req.body));
    res.status(201).json(view(await channelsOf(ctx, project.id).create(record)));
  });
  router.post(`${base}/test`, async (req, res) => {
    const project = await projectOf(ctx, req);
    const sent = await featuresOf(ctx).notifier.test(project.id);
    if (sent === 0) throw new HttpError(409, 'no active notification in this project; add one first');
    res.status(204).end();
  });
  router.get(`${base}/:notification_id`, async (req, res) => {
    res.json(view(await channelOf(req)));
  });
  router.put(`${base}/:notification_id`, async (req, res) => {
    const channel = await channelOf(req);
    const input = parseBody(channelInput, req.body);
    const changed = await channelsOf(ctx, channel.project_id).change(channel.id, async (current) => ({ ...(await toRecord(channel.project_id, input, current)), id: current.id }));
    if (!changed) throw notFound('notification channel');
    res.status(204).end();
  });
  router.delete(`${base}/:notification_id`, async (req, res) => {
    const channel = await channelOf(req);
    await channelsOf(ctx, channel.project_id).delete(channel.id);
    res.status(204).end();
  });
  router.get('/project/:project_id/tasks/:task_id/notifications', async (req, res) => {
    const project = await projectOf(ctx, req);
    const task = await ctx.stores.tasks.get(idParam(req, 'task_id'));
    if (!task || task.project_id !== project.id) throw notFound('task');
    res.json(await featuresOf(ctx).notifier.results(task.id));
  });
  return router;
}
