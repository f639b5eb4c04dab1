import type { RedisClient } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { script } from '../redis/scripts.js';
import { Collection } from '../store/collection.js';
import { toWorkflow, type Workflow, type WorkflowInput, type WorkflowRunRecord } from './model.js';
import { isActive } from './progress.js';

export const workflowsOf = (redis: RedisClient, projectId: number) => new Collection<Workflow>(redis, 'workflows', `p${projectId}`);

/** Stores a new workflow: its id is known only once created, and its nodes and edges carry it. */
export async function createWorkflow(redis: RedisClient, projectId: number, input: WorkflowInput): Promise<Workflow> {
  const workflows = workflowsOf(redis, projectId);
  const { id } = await workflows.create(toWorkflow(input, projectId, 0));
  return workflows.put(toWorkflow(input, projectId, id));
}

/**
 * Workflow runs in Redis: one JSON record per run (changed only through the compare-and-set
 * script, so replicas never overwrite each other), a sorted set of each workflow's runs, the set
 * of active runs (checked at start-up), and for each node task the run and node it belongs to.
 */
export class WorkflowRuns {
  private readonly step;

  constructor(private readonly redis: RedisClient) {
    this.step = script(redis, 'workflow-run-step');
  }

  async create(fields: Omit<WorkflowRunRecord, 'id' | 'version'>, prepare: (run: WorkflowRunRecord) => void): Promise<WorkflowRunRecord> {
    const id = await this.redis.incr(keys.seq('workflow_runs'));
    const run: WorkflowRunRecord = { ...fields, id, version: 1 };
    prepare(run);
    await this.redis.multi()
      .set(keys.workflowRun(id), JSON.stringify(run))
      .zadd(keys.workflowRuns(run.workflow_template_id), id, String(id))
      .sadd(keys.workflowRunsActive(), String(id))
      .exec();
    if (!isActive(run)) await this.redis.srem(keys.workflowRunsActive(), String(id));
    return run;
  }

  async get(id: number): Promise<WorkflowRunRecord | undefined> {
    const raw = await this.redis.get(keys.workflowRun(id));
    return raw ? (JSON.parse(raw) as WorkflowRunRecord) : undefined;
  }

  /** A workflow's runs, newest first. */
  async list(workflowId: number): Promise<WorkflowRunRecord[]> {
    const ids = await this.redis.zrevrange(keys.workflowRuns(workflowId), 0, -1);
    if (!ids.length) return [];
    const raws = await this.redis.mget(...ids.map((id) => keys.workflowRun(Number(id))));
    return raws.filter((raw): raw is string => raw !== null).map((raw) => JSON.parse(raw) as WorkflowRunRecord);
  }

  activeIds = async (): Promise<number[]> => (await this.redis.smembers(keys.workflowRunsActive())).map(Number);

  /**
   * Applies `change` to the run and stores it if nobody stored another version meanwhile (else
   * reads again and retries). `change` answers undefined to leave the run as it is. Answers what
   * `change` answered with the stored run, or undefined when nothing was stored.
   */
  async change<T>(id: number, change: (run: WorkflowRunRecord) => T | undefined): Promise<{ run: WorkflowRunRecord; result: T } | undefined> {
    for (;;) {
      const run = await this.get(id);
      if (!run) return undefined;
      const version = run.version;
      const result = change(run);
      if (result === undefined) return undefined;
      run.version = version + 1;
      const written = await this.step(keys.workflowRun(id), keys.workflowRunsActive(), String(version), JSON.stringify(run), String(id), isActive(run) ? '0' : '1');
      if (written === 1) return { run, result };
      if (written === -1) return undefined;
    }
  }

  async linkTask(taskId: number, runId: number, nodeId: number): Promise<void> {
    await this.redis.set(keys.workflowTask(taskId), `${runId}:${nodeId}`);
  }

  async taskLink(taskId: number): Promise<{ runId: number; nodeId: number } | undefined> {
    return parseTaskLink(await this.redis.get(keys.workflowTask(taskId)));
  }

  async deleteForWorkflow(workflowId: number): Promise<void> {
    const runs = await this.list(workflowId);
    const taskKeys = runs.flatMap((run) => Object.values(run.nodes).flatMap((n) => (n.task_id ? [keys.workflowTask(n.task_id)] : [])));
    await this.redis.multi()
      .del(keys.workflowRuns(workflowId), ...runs.map((run) => keys.workflowRun(run.id)), ...taskKeys)
      .srem(keys.workflowRunsActive(), ...runs.map((run) => String(run.id)), '0')
      .exec();
  }
}

/** A task's workflow link as stored ("runId:nodeId"), or undefined for none. */
export function parseTaskLink(raw: string | null): { runId: number; nodeId: number } | undefined {
  if (!raw) return undefined;
  const [runId, nodeId] = raw.split(':').map(Number);
  return { runId: runId!, nodeId: nodeId! };
}
