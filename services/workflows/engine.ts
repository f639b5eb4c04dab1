import { logger } from '../../protocol/log.js';
import { FINAL_STATUSES } from '../../protocol/records.js';
import { taskInput, type Project, type Task } from '../common/model.js';
import type { AppContext } from '../context.js';
import { createTask } from '../dispatch/tasks.js';
import type { Workflow, WorkflowApproval, WorkflowRunRecord } from './model.js';
import { finishNode, isActive, settle } from './progress.js';
import { parseTaskLink, WorkflowRuns } from './store.js';

const log = logger('workflows');

const runsByContext = new WeakMap<AppContext, WorkflowRuns>();
export function runsOf(ctx: AppContext): WorkflowRuns {
  let runs = runsByContext.get(ctx);
  if (!runs) runsByContext.set(ctx, (runs = new WorkflowRuns(ctx.redis)));
  return runs;
}

/** An approval's id: unique across runs without a counter (a workflow has at most 200 nodes). */
const approvalIds = (run: WorkflowRunRecord) => {
  let next = 0;
  return () => run.id * 1000 + ++next;
};

/** Starts a run: its record is stored with the start nodes claimed, then their tasks start through the normal task path. */
export async function startRun(ctx: AppContext, project: Project, workflow: Workflow, userId: number | null): Promise<WorkflowRunRecord> {
  const now = new Date().toISOString();
  const run = await runsOf(ctx).create({
    project_id: project.id, workflow_template_id: workflow.id, status: 'running', start: now, end: null, root_task_id: null, user_id: userId,
    graph: { nodes: workflow.nodes, edges: workflow.edges },
    nodes: Object.fromEntries(workflow.nodes.map((n) => [n.id, { state: 'pending' as const, task_id: null, approval: null, error: '' }])),
    edges: {},
  }, (fresh) => settle(fresh, now, approvalIds(fresh)));
  await launchAll(ctx, run, Object.keys(run.nodes).map(Number));
  return (await runsOf(ctx).get(run.id)) ?? run;
}

/** Applies a change that may finish nodes, settles what follows, and launches what this replica claimed. */
async function advance(ctx: AppContext, runId: number, change: (run: WorkflowRunRecord) => boolean): Promise<WorkflowRunRecord | undefined> {
  const stored = await runsOf(ctx).change(runId, (run) => {
    const wasActive = isActive(run);
    if (!change(run)) return undefined;
    return { started: settle(run, new Date().toISOString(), approvalIds(run)), ended: wasActive && !isActive(run) };
  });
  if (!stored) return undefined;
  const { run, result } = stored;
  if (result.ended) {
    await ctx.stores.audit.record({ project_id: run.project_id, user_id: null, object_type: 'workflow', object_id: run.workflow_template_id, description: `workflow run ${run.id} ended: ${run.status}` });
    log.info('workflow run ended', { run_id: run.id, status: run.status });
  }
  await launchAll(ctx, run, result.started);
  return run;
}

/** Starts the tasks of the nodes this replica claimed and arms the timers of the delays it began. */
async function launchAll(ctx: AppContext, run: WorkflowRunRecord, nodeIds: number[]): Promise<void> {
  for (const nodeId of nodeIds) {
    const state = run.nodes[nodeId]!;
    if (state.state === 'starting') await launch(ctx, run, nodeId);
    else if (state.state === 'running' && state.due_at) armDelay(ctx, run.id, nodeId, state.due_at);
  }
}

/** setTimeout's longest wait; a longer delay is ended by the sweep. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const delayTimers = new WeakMap<AppContext, Map<string, NodeJS.Timeout>>();

/**
 * Ends a delay node on time on this replica. Every replica that sees the delay (the one that began
 * it, and each sweep) may arm one; the compare-and-set in endDelay lets only the first end it.
 */
function armDelay(ctx: AppContext, runId: number, nodeId: number, dueAt: string): void {
  let timers = delayTimers.get(ctx);
  if (!timers) delayTimers.set(ctx, (timers = new Map()));
  const key = `${runId}:${nodeId}`;
  const wait = Math.max(0, Date.parse(dueAt) - Date.now()) + 5; // +5 ms: a timer may fire a millisecond early
  if (timers.has(key) || wait > MAX_TIMER_MS) return;
  const timer = setTimeout(() => {
    timers.delete(key);
    void endDelay(ctx, runId, nodeId).catch((err) => log.warn('workflow delay could not end', { run_id: runId, node_id: nodeId, error: (err as Error).message }));
  }, wait);
  timer.unref();
  timers.set(key, timer);
}

/** Stops this replica's delay timers (server shutdown); the delays end on whichever server sweeps next. */
export function stopDelayTimers(ctx: AppContext): void {
  for (const timer of delayTimers.get(ctx)?.values() ?? []) clearTimeout(timer);
  delayTimers.delete(ctx);
}

/** A delay node whose due time has passed ends with success (once: compare-and-set) and the run moves on. */
async function endDelay(ctx: AppContext, runId: number, nodeId: number): Promise<void> {
  await advance(ctx, runId, (run) => {
    const node = run.nodes[nodeId];
    if (!node || node.state !== 'running' || !node.due_at || Date.parse(node.due_at) > Date.now()) return false;
    finishNode(run, nodeId, 'success');
    return true;
  });
}

/**
 * Starts the task of a node this replica claimed. Its link to the run is written before the node
 * shows `running`, and the task is read again after: a task that ended in between is not missed.
 */
async function launch(ctx: AppContext, run: WorkflowRunRecord, nodeId: number): Promise<void> {
  const node = run.graph.nodes.find((n) => n.id === nodeId)!;
  let task: Task;
  try {
    const project = await ctx.stores.projects.get(run.project_id);
    const template = project && node.template_id ? await ctx.stores.templates(project.id).get(node.template_id) : undefined;
    if (!project || !template) throw new Error(`template ${node.template_id} no longer exists`);
    const input = taskInput.parse({ message: `workflow run ${run.id}, node ${node.id}`, ...node.task_params, template_id: template.id });
    task = await createTask(ctx, project, template, input, run.user_id);
  } catch (err) {
    const error = `the task could not start: ${(err as Error).message}`;
    log.warn('workflow node could not start', { run_id: run.id, node_id: nodeId, error });
    await advance(ctx, run.id, (r) => {
      if (r.nodes[nodeId]!.state !== 'starting') return false;
      finishNode(r, nodeId, 'failed', error);
      return true;
    });
    return;
  }
  await runsOf(ctx).linkTask(task.id, run.id, nodeId);
  await runsOf(ctx).change(run.id, (r) => {
    if (r.nodes[nodeId]!.state !== 'starting') return undefined;
    r.nodes[nodeId] = { ...r.nodes[nodeId]!, state: 'running', task_id: task.id };
    r.root_task_id ??= task.id;
    return true;
  });
  const now = await ctx.stores.tasks.get(task.id);
  if (now && FINAL_STATUSES.includes(now.status)) await taskEnded(ctx, now);
}

/**
 * A task ended (once per task, on the replica that finalised it): if it is a workflow node's, the
 * run moves on. `storedLink`: its link as the final move read it (null: none); else read here.
 */
export async function taskEnded(ctx: AppContext, task: Task, storedLink?: string | null): Promise<void> {
  const link = storedLink === undefined ? await runsOf(ctx).taskLink(task.id) : parseTaskLink(storedLink);
  if (!link) return;
  const outcome = task.status === 'success' ? 'success' : 'failed';
  await advance(ctx, link.runId, (run) => {
    const node = run.nodes[link.nodeId];
    if (!node || node.state !== 'running' || node.task_id !== task.id) return false;
    finishNode(run, link.nodeId, outcome, outcome === 'failed' ? `task ${task.id} ended ${task.status}${task.error ? `: ${task.error}` : ''}` : '');
    return true;
  });
}

export class ApprovalConflict extends Error {}

/** Approves or rejects a pending approval; a rejection is the node's failure (its on_failure links are followed). */
export async function resolveApproval(ctx: AppContext, runId: number, nodeId: number, status: 'approved' | 'rejected', userId: number): Promise<WorkflowApproval> {
  let conflict = '';
  const run = await advance(ctx, runId, (r) => {
    const node = r.nodes[nodeId];
    if (!node?.approval || node.state !== 'waiting') {
      conflict = node?.approval ? `the approval of node ${nodeId} is already ${node.approval.status}` : `node ${nodeId} of run ${runId} is not waiting for an approval`;
      return false;
    }
    r.nodes[nodeId] = { ...node, approval: { ...node.approval, status, resolved: new Date().toISOString(), resolved_by_user_id: userId } };
    finishNode(r, nodeId, status === 'approved' ? 'success' : 'rejected');
    return true;
  });
  if (!run) throw new ApprovalConflict(conflict || `run ${runId} not found`);
  return run.nodes[nodeId]!.approval!;
}

/** A claim to start a node older than this was lost (creating a task takes milliseconds): the node is claimed again. */
const LOST_CLAIM_MS = 60_000;

/**
 * Run at start-up and every few seconds on each replica: a node task that ended while no server
 * was listening (or whose end was not applied before a crash) moves its run on; a node whose start
 * was claimed by a replica that died before creating its task is claimed again (by one replica:
 * compare-and-set) and started; an approval pending longer than its `approval_timeout` is rejected;
 * a delay node past its due time ends (and one not yet due gets a timer on this replica).
 */
export async function sweepRuns(ctx: AppContext): Promise<void> {
  const now = Date.now();
  for (const id of await runsOf(ctx).activeIds()) {
    const run = await runsOf(ctx).get(id);
    for (const node of run?.graph.nodes ?? []) {
      const state = run!.nodes[node.id]!;
      if (state.state === 'running' && node.kind === 'delay' && state.due_at) {
        if (Date.parse(state.due_at) <= now) await endDelay(ctx, id, node.id);
        else armDelay(ctx, id, node.id, state.due_at); // e.g. a delay begun before this server started
      } else if (state.state === 'running' && state.task_id) {
        const task = await ctx.stores.tasks.get(state.task_id);
        if (task && FINAL_STATUSES.includes(task.status)) await taskEnded(ctx, task);
      } else if (state.state === 'starting' && now - Date.parse(state.claimed_at ?? '') > LOST_CLAIM_MS) {
        const claimed = await runsOf(ctx).change(id, (r) => {
          const current = r.nodes[node.id]!;
          if (current.state !== 'starting' || current.claimed_at !== state.claimed_at) return undefined;
          r.nodes[node.id] = { ...current, claimed_at: new Date().toISOString() };
          return true;
        });
        if (claimed) {
          log.warn('workflow node claim was lost; starting it again', { run_id: id, node_id: node.id });
          await launch(ctx, claimed.run, node.id);
        }
      } else if (state.state === 'waiting' && state.approval?.status === 'pending' && node.approval_timeout > 0
        && now - Date.parse(state.approval.created) > node.approval_timeout * 1000) {
        await advance(ctx, id, (r) => {
          const current = r.nodes[node.id]!;
          if (current.state !== 'waiting' || current.approval?.status !== 'pending') return false;
          r.nodes[node.id] = { ...current, approval: { ...current.approval, status: 'rejected', resolved: new Date().toISOString() } };
          finishNode(r, node.id, 'rejected', `not approved within approval_timeout (${node.approval_timeout} s)`);
          return true;
        });
      }
    }
  }
}
