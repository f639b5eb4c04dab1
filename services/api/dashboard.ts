import { Router, type Request, type Response } from 'express';
import type { Project, Task, TaskStatus, User } from '../common/model.js';
import type { AppContext } from '../context.js';
import { waitingReason } from '../dispatch/waiting.js';
import { channels } from '../redis/keys.js';
import type { RunnerView } from '../store/runners.js';
import { watchStreamAccess } from './stream-access.js';

/** What the dashboard shows, computed from Redis on each call so every API replica agrees. */
export interface DashboardSummary {
  generated: string;
  remote_runners: boolean;
  runners: {
    online: number; offline: number; disabled: number; total: number; draining: number;
    /** Tasks running on online runners, and the sum of their max_parallel_tasks (0 = no limit, counted apart). */
    busy_slots: number; capacity: number; unlimited: number;
  };
  /** Without remote runners: the in-process worker's slots. */
  local: { max_parallel_tasks: number; active: number } | null;
  queues: DashboardQueue[];
  running: DashboardTask[];
  last_hour: {
    since: string; bucket_sec: number; success: number; error: number; stopped: number;
    buckets: Array<{ start: string; success: number; error: number; stopped: number }>;
  };
}

export interface DashboardQueue {
  queue: string; project_id: number; project_name: string; tag: string; waiting: number;
  oldest_task_id: number | null; oldest_created: string | null; oldest_wait_sec: number;
  /** Why the oldest task waits, in words an operator can act on ('queued' when a runner will take it). */
  reason: string; runners_online: number;
}

export interface DashboardTask {
  id: number; project_id: number; project_name: string; template_id: number; template_name: string;
  status: TaskStatus; runner_name: string; created: string; start: string | null;
}

const HOUR_MS = 3600_000;
const BUCKET_SEC = 300;
const MAX_TASKS = 5000;
const REFRESH_MS = 3000;

const visibleProject = (user: User, project: Project | undefined) => Boolean(project && (user.admin || project.members.includes(user.id)));

export async function dashboardSummary(ctx: AppContext, user: User): Promise<DashboardSummary> {
  const s = ctx.stores;
  const now = Date.now();
  const [projectList, views, waitingIds, activeIds, finishedIds] = await Promise.all([
    s.projects.list(), s.runners.views(), s.tasks.waitingIds(), s.tasks.activeIds(), s.tasks.finishedSince(now - HOUR_MS),
  ]);
  const projects = new Map(projectList.map((p) => [p.id, p]));
  const canSee = (projectId: number) => visibleProject(user, projects.get(projectId));
  const runners = views.filter((r) => user.admin || r.project_id === null || canSee(r.project_id));

  const online = runners.filter((r) => r.status === 'online');
  const summaryRunners = {
    online: online.length,
    offline: runners.filter((r) => r.status === 'offline').length,
    disabled: runners.filter((r) => r.status === 'disabled').length,
    total: runners.length,
    draining: online.filter((r) => r.draining).length,
    busy_slots: online.reduce((sum, r) => sum + r.active_tasks, 0),
    capacity: online.reduce((sum, r) => sum + r.max_parallel_tasks, 0),
    unlimited: online.filter((r) => r.max_parallel_tasks === 0).length,
  };

  const [waiting, active, finished] = await Promise.all([
    s.tasks.getMany(waitingIds.slice(0, MAX_TASKS)),
    s.tasks.getMany(activeIds.slice(0, MAX_TASKS)),
    s.tasks.getMany(finishedIds.slice(-MAX_TASKS)),
  ]);
  const mine = (t: Task) => canSee(t.project_id);

  // Every known queue (so a tag with no runner shows its reason even before it fills), plus any
  // queue a waiting task names that this process has not learned of yet.
  const queues = new Map<string, DashboardQueue>();
  const reasonFor = (projectId: number, tag: string, fallback: string) =>
    ctx.config.use_remote_runner ? waitingReason({ project_id: projectId, runner_tag: tag }, views) : fallback || 'queued';
  const matchingOnline = (projectId: number, tag: string) =>
    views.filter((r) => r.status === 'online' && (r.project_id === null || r.project_id === projectId) && (tag === '' || r.tags.includes(tag))).length;
  const addQueue = (name: string, projectId: number, tag: string) => {
    if (queues.has(name) || !canSee(projectId)) return;
    queues.set(name, {
      queue: name, project_id: projectId, project_name: projects.get(projectId)?.name ?? `project ${projectId}`, tag, waiting: 0,
      oldest_task_id: null, oldest_created: null, oldest_wait_sec: 0, reason: reasonFor(projectId, tag, ''),
      runners_online: ctx.config.use_remote_runner ? matchingOnline(projectId, tag) : 0,
    });
  };
  for (const [name, scope] of ctx.queues.list()) addQueue(name, scope.project_id, scope.tag);
  for (const task of waiting.filter(mine)) {
    if (task.status !== 'waiting') continue;
    addQueue(task.queue, task.project_id, task.runner_tag);
    const q = queues.get(task.queue)!;
    q.waiting++;
    if (!q.oldest_created || task.created < q.oldest_created) {
      q.oldest_created = task.created;
      q.oldest_task_id = task.id;
      q.oldest_wait_sec = Math.max(0, Math.round((now - Date.parse(task.created)) / 1000));
      if (!ctx.config.use_remote_runner) q.reason = task.waiting_reason || 'queued';
    }
  }

  const templateNames = new Map<string, string>();
  const running = active.filter(mine).sort((a, b) => a.id - b.id);
  for (const projectId of new Set(running.map((t) => t.project_id))) {
    for (const template of await s.templates(projectId).list()) templateNames.set(`${projectId}/${template.id}`, template.name);
  }

  const since = now - HOUR_MS;
  const buckets = Array.from({ length: HOUR_MS / 1000 / BUCKET_SEC }, (_, i) => ({
    start: new Date(since + i * BUCKET_SEC * 1000).toISOString(), success: 0, error: 0, stopped: 0,
  }));
  const totals = { success: 0, error: 0, stopped: 0 };
  for (const task of finished.filter(mine)) {
    if (task.status !== 'success' && task.status !== 'error' && task.status !== 'stopped') continue;
    const end = task.end ? Date.parse(task.end) : now;
    const index = Math.min(buckets.length - 1, Math.max(0, Math.floor((end - since) / (BUCKET_SEC * 1000))));
    buckets[index]![task.status]++;
    totals[task.status]++;
  }

  return {
    generated: new Date(now).toISOString(),
    remote_runners: ctx.config.use_remote_runner,
    runners: summaryRunners,
    // Only the caller's projects count: how busy other projects are is not theirs to see.
    local: ctx.config.use_remote_runner ? null : { max_parallel_tasks: ctx.config.max_parallel_tasks, active: user.admin ? activeIds.length : active.filter(mine).length },
    queues: [...queues.values()].sort((a, b) => b.waiting - a.waiting || b.oldest_wait_sec - a.oldest_wait_sec || a.queue.localeCompare(b.queue)),
    running: running.map((t) => ({
      id: t.id, project_id: t.project_id, project_name: projects.get(t.project_id)?.name ?? '', template_id: t.template_id,
      template_name: templateNames.get(`${t.project_id}/${t.template_id}`) ?? `template ${t.template_id}`,
      status: t.status, runner_name: t.runner_name, created: t.created, start: t.start,
    })),
    last_hour: { since: new Date(since).toISOString(), bucket_sec: BUCKET_SEC, ...totals, buckets },
  };
}

/** Runners the caller may see, for the `runner` events of /api/events/live. */
function runnerVisible(user: User, runner: RunnerView | undefined, projects: Map<number, Project>): boolean {
  if (!runner) return true; // deleted: its id alone says nothing secret
  return user.admin || runner.project_id === null || visibleProject(user, projects.get(runner.project_id));
}

/** The transport of a live feed: Server-Sent Events or a WebSocket. */
export interface LiveSink {
  send(event: string, data: unknown): void;
  /** Keeps an idle connection from being cut by proxies. */
  keepAlive(): void;
  /** Ends the connection (after an `expired` event). */
  end(): void;
}

/**
 * The live events for one caller: `hello`, then `task` ({id, project_id, status}) and `runner`
 * ({id, status}) as they happen, and with `summary` a `dashboard` event carrying the whole summary
 * on connect, shortly after each change, and every few seconds (a runner going offline sends no
 * message: it just stops heartbeating). When the session or API token behind it ends, an `expired`
 * event is sent and the sink is ended. Answers the function that stops the feed.
 */
export function startLiveFeed(ctx: AppContext, req: Request, options: { summary: boolean }, sink: LiveSink): () => void {
  const user = req.user!;
  const wantsSummary = options.summary;
  let projects = new Map<number, Project>();
  let closed = false;
  const send = (event: string, data: unknown) => {
    if (!closed) sink.send(event, data);
  };

  let computing = false;
  let pending = false;
  let debounce: NodeJS.Timeout | undefined;
  const pushSummary = async () => {
    if (!wantsSummary || closed) return;
    if (computing) {
      pending = true;
      return;
    }
    computing = true;
    try {
      do {
        pending = false;
        send('dashboard', await dashboardSummary(ctx, user));
      } while (pending && !closed);
    } catch (err) {
      send('problem', { error: `dashboard summary failed: ${(err as Error).message}` });
    } finally {
      computing = false;
    }
  };
  const soon = () => {
    if (!wantsSummary || debounce) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      void pushSummary();
    }, 150);
  };

  const offTask = ctx.bus.on(channels.taskEvents, (message) => {
    const m = message as { type?: string; id?: number; project_id?: number; status?: string };
    if (m.type !== 'task' || typeof m.project_id !== 'number') return; // output batches are for the task page's own stream
    if (!visibleProject(user, projects.get(m.project_id))) return;
    send('task', { id: m.id, project_id: m.project_id, status: m.status });
    soon();
  });
  const offRunner = ctx.bus.on(channels.runnerEvents, (message) => {
    const m = message as { id?: number };
    void ctx.stores.runners.views((r) => r.id === m.id).then(([view]) => {
      if (!runnerVisible(user, view, projects)) return;
      send('runner', { id: m.id, status: view?.status ?? 'deleted' });
      soon();
    }).catch(() => {});
  });
  const loadProjects = async () => {
    projects = new Map((await ctx.stores.projects.list()).map((p) => [p.id, p]));
  };

  let ticks = 0;
  const timer = setInterval(() => {
    void (async () => {
      ticks++;
      if (ticks % 10 === 0) await loadProjects();
      if (wantsSummary) await pushSummary();
      else if (!closed) sink.keepAlive();
    })().catch(() => {});
  }, REFRESH_MS);

  const stopWatching = watchStreamAccess(ctx, req, (reason) => {
    send('expired', { error: reason });
    stop();
    sink.end();
  });
  const stop = () => {
    if (closed) return;
    closed = true;
    stopWatching();
    offTask();
    offRunner();
    clearInterval(timer);
    if (debounce) clearTimeout(debounce);
  };
  void loadProjects().then(() => {
    send('hello', { user: user.login, summary: wantsSummary, refresh_ms: REFRESH_MS });
    return pushSummary();
  }).catch(() => {});
  return stop;
}

export const wantsSummary = (query: Record<string, unknown>) => query.summary === '1' || query.summary === 'true';

/** GET /api/dashboard: the summary. GET /api/events/live: the live feed (startLiveFeed) as Server-Sent Events. */
export function dashboardRouter(ctx: AppContext): Router {
  const router = Router();

  router.get('/dashboard', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json(await dashboardSummary(ctx, req.user!));
  });

  router.get('/events/live', (req: Request, res: Response) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 2000\n\n');
    const stop = startLiveFeed(ctx, req, { summary: wantsSummary(req.query) }, {
      send: (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
      keepAlive: () => res.write(': keep-alive\n\n'),
      end: () => res.end(),
    });
    req.on('close', stop);
  });

  return router;
}
