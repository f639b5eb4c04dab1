import type { ChainableCommander } from 'ioredis';
import type { Batch } from '../redis/batch.js';
import type { RedisClient } from '../redis/connection.js';
import { channels, keys } from '../redis/keys.js';
import { script, scriptIn } from '../redis/scripts.js';
import { SpareIds } from './spare-id.js';
import { FINAL_STATUSES, type Task, type TaskStatus } from '../common/model.js';

export type NewTask = Omit<Task, 'id'>;

/** What a claim holds: the queue its job is in and who holds it for which attempt. */
export interface Lease { queue: string; runner_id: number; attempt: number }

/** A lease taken or dropped in the same atomic step as a task's status move. */
export type LeaseChange = { take?: { lease: Lease; runner_id: number; lease_ms: number }; drop?: true };

/** When a move applies (all given must hold); see task-transition.lua. */
export interface MoveCondition {
  from?: TaskStatus[];
  attempt?: number;
  /** The runner's lease for this attempt must be held (checked before anything else). */
  lease?: { runner_id: number; attempt: number };
  not_stop_requested?: true;
  /**
   * Refused ('limit') when the task's project already runs its max_parallel_tasks: `true` reads
   * the project in the move; a number is the limit as the caller's kept project record says.
   */
  within_project_limit?: true | number;
  /**
   * Refused ('full') when the runner taking the lease (`take`) already holds this many tasks: its
   * max_parallel_tasks, counted in the same step as the lease is taken.
   */
  within_runner_slots?: number;
}

export type MoveOptions = LeaseChange & {
  /** Renew the held lease by this many ms from now (a runner's report). */
  extend_ms?: number;
  /** The attempt goes up by one (a claim); a lease taken gets the new attempt. */
  next_attempt?: true;
  /** A 'success' of a task asked to stop ends 'stopped'. */
  stopped_if_requested?: true;
  /** A patched `start` does not replace one already set. */
  keep_start?: true;
  /** Answer the project's max_parallel_tasks (`projectLimit`). */
  project_limit?: true;
  /** The task ended: its extras (task-options/extras.ts) are deleted in the same step. */
  drop_extras?: true;
  /** Answer the task's extras as stored (`extras`): a claim's payload needs them, one round trip less. */
  read_extras?: true;
  /** Answer what the after-task hooks read (`after`), in the final move rather than in round trips of their own. */
  read_after?: true;
  quiet?: boolean;
};

/** A queue's two zsets (TaskQueues names them). */
export interface QueueKeys { wait: string; active: string }

/** A claim of a queue's head and the move of its task (queue-claim-move.lua). */
export interface ClaimTerms { queue: QueueKeys; cond: MoveCondition; patch: Partial<Task>; options?: MoveOptions }

/** What a claim took: the task id, how many still wait in its queue, and its task's move. */
export interface ClaimMove { taskId: number; waiting: number; moved: MoveOutcome }

export interface CreateOptions {
  /** Taken ahead (reserveId); else taken here. */
  id?: number;
  /** Adds writes that belong with the task to its MULTI; may answer fields its task event carries beyond the usual. */
  alongside?: (multi: ChainableCommander, task: Task) => Record<string, unknown> | void;
}

export type MoveOutcome =
  | { outcome: 'ok'; task: Task; heldLease?: Lease; projectLimit?: number; extras?: string | null; after?: AfterTaskReads }
  | { outcome: 'lease' | 'cond' | 'full' }
  | { outcome: 'limit'; limit: number };

/** What the after-task hooks would read, as the final move read it: the task's workflow link. */
export interface AfterTaskReads { workflowLink: string | null }

export interface TaskQuery {
  projectId?: number;
  templateId?: number;
  status?: TaskStatus[];
  offset?: number;
  limit?: number;
}

export class TaskStore {
  private readonly runTransition;
  private readonly runClaimMove;
  private readonly ids: SpareIds;

  constructor(private readonly redis: RedisClient) {
    this.runTransition = script(redis, 'task-transition');
    this.runClaimMove = script(redis, 'queue-claim-move');
    this.ids = new SpareIds(redis, keys.seq('task'));
  }

  /**
   * Stores a new task under `id` (from reserveId; taken here when not given). `alongside` adds
   * writes that belong with it (its audit entry) to the same MULTI, and may answer fields its task
   * event carries beyond the usual (the queue it wakes); the task event goes in the MULTI too.
   */
  async create(fields: NewTask, options: CreateOptions = {}): Promise<Task> {
    return (await this.createAndClaim(fields, options)).task;
  }

  /**
   * `create`, and with `claim` the head of that queue claimed and its task moved in the same MULTI,
   * after the new task's event (as `claimAndMove` does it alone): a new task handed to a runner
   * parked on this server goes out with no wake-up and no claim of its own. `claimed` is the
   * claim's outcome as `claimAndMove` answers it, or the error the script met.
   */
  async createAndClaim(fields: NewTask, options: CreateOptions = {}, claim?: ClaimTerms): Promise<{ task: Task; claimed?: ClaimMove | null | Error }> {
    const id = options.id ?? (await this.reserveId());
    const task: Task = { ...fields, id };
    const multi = this.redis
      .multi()
      .set(keys.task(id), JSON.stringify(task))
      .zadd(keys.tasksByProject(task.project_id), id, String(id))
      .zadd(keys.tasksByTemplate(task.template_id), id, String(id));
    const eventFields = options.alongside?.(multi, task);
    multi.publish(channels.taskEvents, taskEvent(task, eventFields ?? undefined));
    if (claim) scriptIn(multi, 'queue-claim-move', ...this.claimMoveArgs(claim));
    const replies = await multi.exec();
    if (!claim) return { task };
    const [error, reply] = replies?.[replies.length - 1] ?? [new Error('the MULTI answered nothing')];
    return { task, claimed: error ?? claimMove(reply, claim.options) };
  }

  /** A task id taken ahead (see SpareIds: usually no round trip at all). */
  reserveId(): Promise<number> {
    return this.ids.take();
  }

  /** reserveId with its read, when one is needed, part of a batch of commands sent together. */
  reserveIdIn(batch: Batch): Promise<number> {
    return this.ids.take(batch);
  }

  async get(id: number): Promise<Task | undefined> {
    const raw = await this.redis.get(keys.task(id));
    return raw ? (JSON.parse(raw) as Task) : undefined;
  }

  async getMany(ids: number[]): Promise<Task[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(...ids.map((id) => keys.task(id)));
    return raws.filter((raw): raw is string => Boolean(raw)).map((raw) => JSON.parse(raw) as Task);
  }

  /** Newest first. A status filter walks the index until the page is full. */
  async list(query: TaskQuery): Promise<{ tasks: Task[]; total: number }> {
    const index = query.templateId ? keys.tasksByTemplate(query.templateId) : keys.tasksByProject(query.projectId ?? 0);
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 50;
    if (!query.status?.length) {
      const ids = await this.redis.zrevrange(index, offset, offset + limit - 1);
      const total = await this.redis.zcard(index);
      return { tasks: await this.getMany(ids.map(Number)), total };
    }
    const matches: Task[] = [];
    let matched = 0;
    const chunk = 500;
    for (let start = 0; ; start += chunk) {
      const ids = await this.redis.zrevrange(index, start, start + chunk - 1);
      if (ids.length === 0) break;
      for (const task of await this.getMany(ids.map(Number))) {
        if (!query.status.includes(task.status)) continue;
        if (matched >= offset && matches.length < limit) matches.push(task);
        matched++;
      }
    }
    return { tasks: matches, total: matched };
  }

  /**
   * Moves a task from one status to the next atomically (see task-transition.lua): the patch
   * applies only if the task is in one of `from` (and the same attempt), so a result delivered
   * twice or a stop racing a finish changes the record once. `lease`: take or drop the task's
   * lease in the same step. A task event is published (from the same script) only when the record changed.
   */
  async transition(id: number, cond: MoveCondition, patch: Partial<Task>, lease: LeaseChange = {}): Promise<Task | undefined> {
    const moved = await this.move(id, cond, patch, lease);
    return moved.outcome === 'ok' ? moved.task : undefined;
  }

  /**
   * `transition` that also says why a move did not happen and what the script saw on the way:
   * the lease held before the move (a runner's report names it in `cond.lease`, checked first and,
   * with `extend_ms`, renewed) and, when asked, the project's max_parallel_tasks. `quiet`: no task
   * event (the caller announces once it has stored what goes with the move).
   */
  async move(id: number, cond: MoveCondition, patch: Partial<Task>, options: MoveOptions = {}): Promise<MoveOutcome> {
    return moveOutcome(await this.runTransition(...transitionKeys(keys.task(id), keys.taskExtras(id)), ...transitionArgs(cond, patch, options)), options);
  }

  /**
   * The head of a queue claimed and its task moved, in one script (a single Redis only: see
   * queue-claim-move.lua): null when the queue is empty, else the task id, how many tasks still
   * wait there, and the move's outcome as `move` answers it.
   */
  async claimAndMove(queue: QueueKeys, cond: MoveCondition, patch: Partial<Task>, options: MoveOptions = {}): Promise<ClaimMove | null> {
    return claimMove(await this.runClaimMove(...this.claimMoveArgs({ queue, cond, patch, options })), options);
  }

  /** queue-claim-move.lua's KEYS and ARGV. */
  private claimMoveArgs({ queue, cond, patch, options = {} }: ClaimTerms): string[] {
    return [
      queue.wait, queue.active, ...transitionKeys(keys.prefix(keys.task(0)), keys.prefix(keys.taskExtras(0))),
      String(Date.now()), ...transitionArgs(cond, patch, options),
    ];
  }

  /** Plain field update with no status change (e.g. the reason a task waits). */
  async patch(id: number, patch: Partial<Omit<Task, 'status'>>): Promise<Task | undefined> {
    return this.transition(id, {}, patch);
  }

  async activeCountInProject(projectId: number): Promise<number> {
    return this.redis.scard(keys.projectActive(projectId));
  }

  /**
   * Every active task: the union of the projects' active sets (there is no global one to keep up
   * on each claim and end, two commands per task; this read is for dashboards and metrics).
   */
  async activeIds(): Promise<number[]> {
    const projectIds = await this.redis.hkeys(keys.collection('projects'));
    if (projectIds.length === 0) return [];
    return (await this.redis.sunion(...projectIds.map((id) => keys.projectActive(Number(id))))).map(Number);
  }

  /**
   * Every waiting task, oldest first: the union of the task queues' waiting sets (there is no
   * index of its own to keep up on each creation and claim; this read is for dashboards and metrics).
   */
  async waitingIds(): Promise<number[]> {
    const queues = await this.redis.hkeys(keys.queueRegistry());
    const each = await Promise.all(queues.map((name) => this.redis.zrange(keys.queueWait(name), '0', '-1')));
    return [...new Set(each.flat().map(Number))].sort((a, b) => a - b);
  }

  async finishedSince(sinceMs: number): Promise<number[]> {
    return (await this.redis.zrangebyscore(keys.tasksFinished(), String(sinceMs), '+inf')).map(Number);
  }

  /** Deletes one finished task: its record, its place in the indexes, and its output. */
  async delete(id: number): Promise<void> {
    const task = await this.get(id);
    if (!task) return;
    await this.redis
      .multi()
      .del(keys.task(id))
      .zrem(keys.tasksByProject(task.project_id), String(id))
      .zrem(keys.tasksByTemplate(task.template_id), String(id))
      .zrem(keys.tasksFinished(), String(id))
      .exec();
    await this.redis.del(keys.output(id), keys.outputMeta(id));
  }

  /**
   * Deletes every task of a project (its project is being deleted): records, output, what is kept
   * per task elsewhere (extras, notification results, workflow link), their places in the shared
   * status indexes, and the project's and its templates' task indexes.
   */
  async deleteForProject(projectId: number, templateIds: number[]): Promise<void> {
    const ids = await this.redis.zrange(keys.tasksByProject(projectId), '0', '-1');
    for (const id of ids.map(Number)) {
      // Records and output live in different Cluster slots: one DEL per slot.
      await this.redis.multi()
        .del(keys.task(id), keys.taskExtras(id), keys.taskNotifications(id), keys.workflowTask(id))
        .zrem(keys.tasksFinished(), String(id))
        .exec();
      await this.redis.del(keys.output(id), keys.outputMeta(id));
    }
    await this.redis.del(keys.tasksByProject(projectId), keys.projectActive(projectId), ...templateIds.map((id) => keys.tasksByTemplate(id)));
  }
}

/** A task event; a final one names the runner whose slot it freed (parked long-polls listen for it). */
export const taskEvent = (task: Task, more?: Record<string, unknown>) => JSON.stringify({
  type: 'task', id: task.id, project_id: task.project_id, status: task.status, ...(isFinal(task.status) ? { runner_id: task.runner_id } : {}), ...more,
});

export const isFinal = (status: TaskStatus) => FINAL_STATUSES.includes(status);

/** task-transition.lua's KEYS, with the record's and the extras' keys as given (whole, or prefixes). */
function transitionKeys(record: string, extras: string): string[] {
  return [
    record, keys.tasksFinished(), keys.prefix(keys.projectActive(0)), keys.leases(), keys.leaseExpiry(), keys.prefix(keys.runnerTasks(0)),
    keys.collection('projects'), extras, keys.prefix(keys.workflowTask(0)),
  ];
}

/** task-transition.lua's ARGV. */
function transitionArgs(cond: MoveCondition, patch: Partial<Task>, options: MoveOptions): string[] {
  const { quiet, ...scriptOptions } = options;
  return [JSON.stringify(cond), JSON.stringify(patch), String(Date.now()), JSON.stringify(scriptOptions), quiet ? '' : channels.taskEvents];
}

/** queue-claim-move.lua's reply: null when the queue was empty. */
function claimMove(reply: unknown, options: MoveOptions = {}): ClaimMove | null {
  const [head, waiting, moved] = reply as ['empty'] | [string, number, unknown];
  if (head === 'empty') return null;
  return { taskId: Number(head), waiting: Number(waiting), moved: moveOutcome(moved, options) };
}

/** task-transition.lua's reply, as `move` answers it. */
function moveOutcome(reply: unknown, options: MoveOptions): MoveOutcome {
  const [outcome, record, held, limit, extras, after] = reply as [string, string?, string?, number?, string?, [string | null]?];
  if (outcome === 'lease' || outcome === 'cond' || outcome === 'full') return { outcome };
  if (outcome === 'limit') return { outcome, limit: Number(record) };
  return {
    outcome: 'ok', task: JSON.parse(record!) as Task, heldLease: held ? (JSON.parse(held) as Lease) : undefined,
    projectLimit: limit === null || limit === undefined ? undefined : Number(limit),
    ...(options.read_extras ? { extras: extras ?? null } : {}),
    ...(after ? { after: { workflowLink: after[0] ?? null } } : {}),
  };
}
