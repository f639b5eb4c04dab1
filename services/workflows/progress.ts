import type { EdgeCondition, NodeState, WorkflowRunRecord } from './model.js';

/**
 * How a run moves on, as pure functions over its record (the engine stores the result with a
 * compare-and-set): a node that ends decides its outgoing links, and a pending node whose links
 * are decided starts (all of them followed for `all`, one for `any`) or is skipped, which decides
 * its own links as not followed. Nodes with no incoming link start with the run.
 */
const DONE: NodeState[] = ['success', 'failed', 'rejected', 'skipped'];

export const isDone = (state: NodeState) => DONE.includes(state);

function follows(condition: EdgeCondition, outcome: NodeState): boolean {
  if (outcome === 'skipped') return false;
  if (condition === 'always') return true;
  return condition === 'on_success' ? outcome === 'success' : outcome !== 'success';
}

/** Marks a node done with an outcome and decides its outgoing links. */
export function finishNode(run: WorkflowRunRecord, nodeId: number, outcome: NodeState, error = ''): void {
  const node = run.nodes[nodeId]!;
  run.nodes[nodeId] = { ...node, state: outcome, error: error || node.error };
  for (const edge of run.graph.edges) if (edge.source_node_id === nodeId) run.edges[edge.id] = follows(edge.condition, outcome);
}

/**
 * Starts or skips every pending node whose incoming links allow it, until nothing changes. The
 * nodes it moves to `starting` (task nodes), `waiting` (approvals) or `running` with a due time
 * (delays) are returned: whoever stores this record first owns their start.
 */
export function settle(run: WorkflowRunRecord, now: string, approvalId: () => number): number[] {
  const started: number[] = [];
  for (let changed = true; changed;) {
    changed = false;
    for (const node of run.graph.nodes) {
      if (run.nodes[node.id]!.state !== 'pending') continue;
      if (node.kind === 'note') {
        run.nodes[node.id] = { ...run.nodes[node.id]!, state: 'skipped' };
        continue;
      }
      const incoming = run.graph.edges.filter((e) => e.destination_node_id === node.id).map((e) => run.edges[e.id]);
      const followed = incoming.filter((x) => x === true).length;
      const decided = incoming.filter((x) => x !== undefined).length;
      const go = incoming.length === 0 || (node.convergence_mode === 'any' ? followed > 0 : followed === incoming.length);
      if (go) {
        if (node.kind === 'approval') {
          const approval = {
            id: approvalId(), project_id: run.project_id, workflow_run_id: run.id, workflow_node_id: node.id, status: 'pending' as const,
            created: now, resolved: null, resolved_by_user_id: null, message: node.approval_message,
          };
          run.nodes[node.id] = { ...run.nodes[node.id]!, state: 'waiting', approval };
        } else if (node.kind === 'delay') {
          run.nodes[node.id] = { ...run.nodes[node.id]!, state: 'running', due_at: new Date(Date.parse(now) + (node.delay_seconds ?? 0) * 1000).toISOString() };
        } else run.nodes[node.id] = { ...run.nodes[node.id]!, state: 'starting', claimed_at: now };
        started.push(node.id);
        changed = true;
      } else if (decided === incoming.length) {
        finishNode(run, node.id, 'skipped');
        changed = true;
      }
    }
  }
  run.status = statusOf(run);
  if (!isActive(run)) run.end ??= now;
  return started;
}

/**
 * The run's status: running or waiting for an approval while a node is active; then rejected or
 * failed when an approval was rejected or a task failed with no link to follow from it, else success.
 */
function statusOf(run: WorkflowRunRecord): WorkflowRunRecord['status'] {
  const states = Object.values(run.nodes);
  if (states.some((n) => n.state === 'starting' || n.state === 'running')) return 'running';
  if (states.some((n) => n.state === 'waiting')) return 'approval';
  const unhandled = (outcome: NodeState) => run.graph.nodes.some((node) =>
    run.nodes[node.id]!.state === outcome && !run.graph.edges.some((e) => e.source_node_id === node.id && run.edges[e.id]));
  if (unhandled('rejected')) return 'rejected';
  if (unhandled('failed')) return 'failed';
  return 'success';
}

export const isActive = (run: WorkflowRunRecord) => run.status === 'running' || run.status === 'approval';
