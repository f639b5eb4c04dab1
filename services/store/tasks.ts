import type { RedisClient } from '../redis/connection.js';
import { channels, keys } from '../redis/keys.js';
import { defineScript } from '../redis/scripts.js';
import { FINAL_STATUSES, type Task, type TaskStatus } from '../common/model.js';

/**
 * Moves a task record from one status to the next atomically: the patch applies only if the task
 * is in one of the expected statuses (and, when given, the same attempt), so a result delivered
 * twice or a stop racing a finish changes the record once. The status indexes move in the same step.
 */
const TRANSITION = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local task = cjson.decode(raw)
local cond = cjson.decode(ARGV[1])
if cond.from then
  local ok = false
  for _, s in ipairs(cond.from) do if s == task.status then ok = true end end
  if not ok then return false end
end
if cond.attempt and cond.attempt ~= task.attempt then return false end
if cond.project_limit and cond.project_limit > 0 and redis.call('SCARD', KEYS[5] .. task.project_id) >= cond.project_limit then return false end
local patch = cjson.decode(ARGV[2])
for k, v in pairs(patch) do task[k] = v end
local out = cjson.encode(task)
redis.call('SET', KEYS[1], out)
local s = task.status
local id = tostring(task.id)
if s == 'waiting' then redis.call('ZADD', KEYS[3], ARGV[4], id) else redis.call('ZREM', KEYS[3], id) end
if s == 'starting' or s == 'running' or s == 'stopping' then
  redis.call('SADD', KEYS[2], id)
  redis.call('SADD', KEYS[5] .. task.project_id, id)
else
  redis.call('SREM', KEYS[2], id)
  redis.call('SREM', KEYS[5] .. task.project_id, id)
end
if s == 'success' or s == 'error' or s == 'stopped' then redis.call('ZADD', KEYS[4], ARGV[3], id) end
return out
`;

export type NewTask = Omit<Task, 'id'>;

export interface TaskQuery {
  projectId?: number;
  templateId?: number;
  status?: TaskStatus[];
  offset?: number;
  limit?: number;
}

export class TaskStore {
  private readonly runTransition;

  constructor(private readonly redis: RedisClient) {
    this.runTransition = defineScript(redis, 'forgeTaskTransition', 5, TRANSITION);
  }

  async create(fields: NewTask): Promise<Task> {
    const id = await this.redis.incr(keys.seq('task'));
    const task: Task = { ...fields, id };
    const now = Date.now();
    await this.redis
      .multi()
      .set(keys.task(id), JSON.stringify(task))
      .zadd(keys.tasksByProject(task.project_id), id, String(id))
      .zadd(keys.tasksByTemplate(task.template_id), id, String(id))
      .zadd(keys.tasksWaiting(), now, String(id))
      .exec();
    await this.publish(task);
    return task;
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
   * `project_limit`: refuse (answer undefined) when the task's project already has that many
   * active tasks, checked in the same atomic step as the move.
   */
  async transition(id: number, cond: { from?: TaskStatus[]; attempt?: number; project_limit?: number }, patch: Partial<Task>): Promise<Task | undefined> {
    const now = Date.now();
    const out = (await this.runTransition(
      // KEYS[5] is the prefix of the per-project active set; it shares the {forge} slot.
      keys.task(id), keys.tasksActive(), keys.tasksWaiting(), keys.tasksFinished(), keys.projectActive(0).slice(0, -1),
      JSON.stringify(cond), JSON.stringify(patch), String(now), String(now),
    )) as string | null;
    if (!out) return undefined;
    const task = JSON.parse(out) as Task;
    await this.publish(task);
    return task;
  }

  /** Plain field update with no status change (e.g. the reason a task waits). */
  async patch(id: number, patch: Partial<Omit<Task, 'status'>>): Promise<Task | undefined> {
    return this.transition(id, {}, patch);
  }

  async activeCountInProject(projectId: number): Promise<number> {
    return this.redis.scard(keys.projectActive(projectId));
  }

  async activeIds(): Promise<number[]> {
    return (await this.redis.smembers(keys.tasksActive())).map(Number);
  }

  async waitingIds(): Promise<number[]> {
    return (await this.redis.zrange(keys.tasksWaiting(), '0', '-1')).map(Number);
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
      .zrem(keys.tasksWaiting(), String(id))
      .exec();
    await this.redis.del(keys.output(id), keys.outputMeta(id));
  }

  async deleteForProject(projectId: number): Promise<void> {
    const ids = await this.redis.zrange(keys.tasksByProject(projectId), '0', '-1');
    for (const id of ids.map(Number)) {
      // Records and output live in different Cluster slots: one DEL per slot.
      await this.redis.del(keys.task(id));
      await this.redis.del(keys.output(id), keys.outputMeta(id));
    }
    await this.redis.del(keys.tasksByProject(projectId));
  }

  private async publish(task: Task): Promise<void> {
    await this.redis.publish(
      channels.taskEvents,
      JSON.stringify({ type: 'task', id: task.id, project_id: task.project_id, status: task.status }),
    );
  }
}

export const isFinal = (status: TaskStatus) => FINAL_STATUSES.includes(status);
