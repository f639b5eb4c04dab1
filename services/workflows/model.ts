import { z } from 'zod';
import { taskParamsInput } from '../common/model.js';

/**
 * Semaphore's workflows (api-docs.yml: WorkflowTemplate, WorkflowNode, WorkflowEdge, WorkflowRun,
 * WorkflowApproval): a graph of nodes — a template to run, an approval gate, a delay, a note — joined by
 * edges that are followed on the source's success, on its failure, or always.
 */
export const NODE_KINDS = ['task', 'approval', 'note', 'delay'] as const;
export const EDGE_CONDITIONS = ['on_success', 'on_failure', 'always'] as const;
export const RUN_STATUSES = ['running', 'approval', 'success', 'failed', 'rejected'] as const;
export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected'] as const;

/** A delay node waits at most 30 days (Semaphore sets no limit; a run far longer is more likely a typo). */
const MAX_DELAY_SECONDS = 30 * 24 * 3600;

const nodeId = z.number({ error: 'expected a numeric node id' }).int().positive();

/** Semaphore's TaskPrams for a node's task: the task defaults schedules take, plus its message and branch. */
const nodeTaskParams = z.object({ message: z.string().max(4096).optional(), git_branch: z.string().max(255).optional() }).strip().and(taskParamsInput);

const nodeInput = z.object({
  id: nodeId.optional(),
  kind: z.enum(NODE_KINDS).default('task'),
  template_id: z.number({ error: 'expected the numeric id of a template' }).int().positive().nullable().default(null),
  convergence_mode: z.enum(['all', 'any']).nullable().default('all').transform((mode) => mode ?? 'all'),
  approval_timeout: z.number().int().min(0).nullable().default(0).transform((value) => value ?? 0),
  approval_message: z.string().max(4096).nullable().default('').transform((value) => value ?? ''),
  delay_seconds: z.number().int().min(1).max(MAX_DELAY_SECONDS, `at most ${MAX_DELAY_SECONDS} (30 days)`).nullable().default(null),
  task_params: nodeTaskParams.nullable().default({}).transform((params) => params ?? {}),
});

const edgeInput = z.object({
  id: z.number().int().positive().optional(),
  source_node_id: nodeId,
  destination_node_id: nodeId,
  condition: z.enum(EDGE_CONDITIONS).nullable().default('on_success').transform((condition) => condition ?? 'on_success'),
});

type NodeIn = z.infer<typeof nodeInput>;
type EdgeIn = z.infer<typeof edgeInput>;

/**
 * The body of POST/PUT /workflows, checked as a graph against the project's templates: every
 * task node names a template of the project, links join nodes that exist, notes take no links,
 * and there is no cycle. Each problem is a 400 naming its field (e.g. `edges.1.destination_node_id`).
 */
export function workflowInput(templateIds: ReadonlySet<number>) {
  return z
    .object({
      name: z.string().trim().min(1, 'must not be empty').max(200),
      description: z.string().max(4096).nullable().default('').transform((value) => value ?? ''),
      nodes: z.array(nodeInput).min(1, 'a workflow needs at least one node').max(200),
      edges: z.array(edgeInput).max(1000).nullable().default([]).transform((edges) => edges ?? []),
    })
    .superRefine((workflow, ctx) => checkGraph(workflow.nodes, workflow.edges, templateIds, ctx));
}

function checkGraph(nodes: NodeIn[], edges: EdgeIn[], templateIds: ReadonlySet<number>, ctx: z.RefinementCtx): void {
  const issue = (path: Array<string | number>, message: string) => ctx.addIssue({ code: 'custom', path, message });
  const kinds = new Map<number, NodeIn['kind']>();
  nodes.forEach((node, index) => {
    if (node.id !== undefined && kinds.has(node.id)) issue(['nodes', index, 'id'], `node id ${node.id} is used twice; give each node its own id`);
    if (node.id !== undefined) kinds.set(node.id, node.kind);
    if (node.kind === 'task' && node.template_id === null) issue(['nodes', index, 'template_id'], 'a task node needs the id of the template it runs');
    if (node.kind === 'task' && node.template_id !== null && !templateIds.has(node.template_id)) {
      issue(['nodes', index, 'template_id'], `no template ${node.template_id} in this project`);
    }
    if (node.kind === 'delay' && node.delay_seconds === null) issue(['nodes', index, 'delay_seconds'], 'a delay node needs delay_seconds: how long the run waits there (1 or more)');
  });
  const unnamed = nodes.filter((node) => node.id === undefined).length;
  edges.forEach((edge, index) => {
    for (const end of ['source_node_id', 'destination_node_id'] as const) {
      const kind = kinds.get(edge[end]);
      if (!kind) issue(['edges', index, end], `no node with id ${edge[end]} in this workflow${unnamed ? ' (links can only join nodes sent with an id)' : ''}`);
      else if (kind === 'note') issue(['edges', index, end], `node ${edge[end]} is a note; notes take no links`);
    }
    if (edge.source_node_id === edge.destination_node_id) issue(['edges', index, 'destination_node_id'], 'a link cannot lead back to its own node');
  });
  // As Semaphore's server: a run starts at one node, the only one no link leads to (notes aside).
  const linked = new Set(edges.map((e) => e.destination_node_id));
  const roots = nodes.filter((n) => n.kind !== 'note' && (n.id === undefined || !linked.has(n.id)));
  if (roots.length > 1) {
    issue(['nodes'], `a workflow starts at exactly one node, the one no link leads to; these have none: ${roots.map((n) => n.id ?? '(no id)').join(', ')}; link them from the start node`);
  }
  const cycle = edgeInCycle(edges.filter((e) => kinds.has(e.source_node_id) && kinds.has(e.destination_node_id) && e.source_node_id !== e.destination_node_id));
  if (cycle !== undefined) {
    const edge = edges[cycle]!;
    issue(['edges', cycle, 'destination_node_id'], `the link ${edge.source_node_id} → ${edge.destination_node_id} closes a cycle; a workflow runs each node at most once, so remove a link of the loop`);
  }
}

/** The index of an edge on a cycle (Kahn's algorithm: what is left after peeling off sources), or undefined. */
function edgeInCycle(edges: EdgeIn[]): number | undefined {
  const incoming = new Map<number, number>();
  for (const edge of edges) incoming.set(edge.destination_node_id, (incoming.get(edge.destination_node_id) ?? 0) + 1);
  const ready = [...new Set(edges.map((e) => e.source_node_id))].filter((id) => !incoming.get(id));
  const removed = new Set<number>();
  while (ready.length) {
    const id = ready.pop()!;
    edges.forEach((edge, index) => {
      if (edge.source_node_id !== id || removed.has(index)) return;
      removed.add(index);
      const left = incoming.get(edge.destination_node_id)! - 1;
      incoming.set(edge.destination_node_id, left);
      if (left === 0) ready.push(edge.destination_node_id);
    });
  }
  const index = edges.findIndex((_, i) => !removed.has(i));
  return index === -1 ? undefined : index;
}

export type WorkflowInput = z.infer<ReturnType<typeof workflowInput>>;
export type NodeKind = (typeof NODE_KINDS)[number];
export type EdgeCondition = (typeof EDGE_CONDITIONS)[number];

export interface WorkflowNode {
  id: number;
  workflow_template_id: number;
  kind: NodeKind;
  template_id: number | null;
  convergence_mode: 'all' | 'any';
  approval_timeout: number;
  approval_message: string;
  delay_seconds: number | null;
  task_params: Record<string, unknown>;
}

export interface WorkflowEdge { id: number; workflow_template_id: number; source_node_id: number; destination_node_id: number; condition: EdgeCondition }

export interface Workflow { id: number; project_id: number; name: string; description: string; nodes: WorkflowNode[]; edges: WorkflowEdge[] }

/** The stored workflow: nodes without an id get the next free one, edges keep theirs where unique. */
export function toWorkflow(input: WorkflowInput, projectId: number, id: number): Omit<Workflow, 'id'> & { id: number } {
  let nextNode = Math.max(0, ...input.nodes.map((n) => n.id ?? 0)) + 1;
  const nodes = input.nodes.map((node) => ({ ...node, id: node.id ?? nextNode++, workflow_template_id: id }));
  const seen = new Set<number>();
  let nextEdge = Math.max(0, ...input.edges.map((e) => e.id ?? 0)) + 1;
  const edges = input.edges.map(({ id: given, ...edge }) => {
    const edgeId = given !== undefined && !seen.has(given) ? given : nextEdge++;
    seen.add(edgeId);
    return { ...edge, id: edgeId, workflow_template_id: id };
  });
  return { id, project_id: projectId, name: input.name, description: input.description, nodes, edges };
}

export const approvalResolveInput = z.object({ status: z.enum(['approved', 'rejected'], { error: 'expected "approved" or "rejected"' }) });

/** Where a node of a run is: waiting for its links, started, or done with an outcome. */
export type NodeState = 'pending' | 'starting' | 'running' | 'waiting' | 'success' | 'failed' | 'rejected' | 'skipped';

export interface WorkflowApproval {
  id: number; project_id: number; workflow_run_id: number; workflow_node_id: number; status: (typeof APPROVAL_STATUSES)[number];
  created: string; resolved: string | null; resolved_by_user_id: number | null; message: string;
}

export interface NodeRun {
  state: NodeState; task_id: number | null; approval: WorkflowApproval | null; error: string;
  /** When a replica claimed the node's start (state `starting`): a claim far older than a task takes to create was lost in a crash. */
  claimed_at?: string | null;
  /** A delay node (state `running`): when it ends with success and the run moves on. */
  due_at?: string | null;
}

/** A run, stored whole in one Redis key and changed only by compare-and-set on `version`. */
export interface WorkflowRunRecord {
  id: number; project_id: number; workflow_template_id: number; status: (typeof RUN_STATUSES)[number];
  start: string; end: string | null; root_task_id: number | null; user_id: number | null; version: number;
  /** The graph as it was when the run started: later edits of the workflow do not change a running run. */
  graph: { nodes: WorkflowNode[]; edges: WorkflowEdge[] };
  nodes: Record<string, NodeRun>;
  /** Each decided edge: followed (true) or not (false). */
  edges: Record<string, boolean>;
}
