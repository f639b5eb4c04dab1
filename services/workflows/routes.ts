import { Router, type Request } from 'express';
import type { AppContext } from '../context.js';
import { projectAccess, type Need } from '../api/access.js';
import { audit } from '../api/audit.js';
import { HttpError, idParam, notFound } from '../api/http.js';
import { parseInput } from '../api/input.js';
import { taskView } from '../api/tasks.js';
import { ApprovalConflict, resolveApproval, runsOf, startRun } from './engine.js';
import { approvalResolveInput, toWorkflow, workflowInput, type WorkflowRunRecord } from './model.js';
import { createWorkflow, workflowsOf } from './store.js';

const BASE = '/project/:project_id/workflows';

/** Semaphore's WorkflowRun (the graph and node states are in the run details). */
export const runView = (run: WorkflowRunRecord) => ({
  id: run.id, project_id: run.project_id, workflow_template_id: run.workflow_template_id, status: run.status,
  start: run.start, end: run.end, root_task_id: run.root_task_id, user_id: run.user_id,
});

/**
 * Semaphore's workflow operations: guests read; task runners (and up) run workflows and resolve
 * approvals; managers and owners create, change and delete workflows.
 */
export function workflowRouter(ctx: AppContext): Router {
  const router = Router();
  const workflowOf = async (req: Request, need: Need) => {
    const project = await projectAccess(ctx, req, need);
    const workflow = await workflowsOf(ctx.redis, project.id).get(idParam(req, 'workflow_id'));
    if (!workflow) throw notFound('workflow');
    return { project, workflow };
  };
  const runOf = async (req: Request, need: Need) => {
    const found = await workflowOf(req, need);
    const run = await runsOf(ctx).get(idParam(req, 'run_id'));
    if (!run || run.workflow_template_id !== found.workflow.id || run.project_id !== found.project.id) throw notFound('workflow run');
    return { ...found, run };
  };
  const inputOf = async (req: Request, projectId: number, id?: number) => {
    const templateIds = new Set((await ctx.stores.templates(projectId).list()).map((t) => t.id));
    return parseInput(workflowInput(templateIds), req, { projectId, id });
  };

  router.get(BASE, async (req, res) => {
    const project = await projectAccess(ctx, req, 'read');
    res.json(await workflowsOf(ctx.redis, project.id).list());
  });
  router.post(BASE, async (req, res) => {
    const project = await projectAccess(ctx, req, 'edit');
    const input = await inputOf(req, project.id);
    const workflow = await createWorkflow(ctx.redis, project.id, input);
    await audit(ctx, req, { project_id: project.id, object_type: 'workflow', object_id: workflow.id, description: `workflow ${workflow.name} created` });
    res.status(201).json(workflow);
  });
  router.get(`${BASE}/:workflow_id`, async (req, res) => {
    res.json((await workflowOf(req, 'read')).workflow);
  });
  router.put(`${BASE}/:workflow_id`, async (req, res) => {
    const { project, workflow } = await workflowOf(req, 'edit');
    const input = await inputOf(req, project.id, workflow.id);
    if (!(await workflowsOf(ctx.redis, project.id).change(workflow.id, () => toWorkflow(input, project.id, workflow.id)))) throw notFound('workflow');
    await audit(ctx, req, { project_id: project.id, object_type: 'workflow', object_id: workflow.id, description: `workflow ${input.name} updated` });
    res.status(204).end();
  });
  router.delete(`${BASE}/:workflow_id`, async (req, res) => {
    const { project, workflow } = await workflowOf(req, 'edit');
    const active = (await runsOf(ctx).list(workflow.id)).filter((run) => run.status === 'running' || run.status === 'approval');
    if (active.length) {
      throw new HttpError(409, `workflow ${workflow.id} has ${active.length} unfinished run(s) (${active.map((r) => `${r.id}: ${r.status}`).join(', ')}); resolve their approvals or wait for their tasks to end, then delete it`);
    }
    await runsOf(ctx).deleteForWorkflow(workflow.id);
    await workflowsOf(ctx.redis, project.id).delete(workflow.id);
    await audit(ctx, req, { project_id: project.id, object_type: 'workflow', object_id: workflow.id, description: `workflow ${workflow.name} deleted` });
    res.status(204).end();
  });

  router.post(`${BASE}/:workflow_id/run`, async (req, res) => {
    const { project, workflow } = await workflowOf(req, 'run');
    const run = await startRun(ctx, project, workflow, req.user!.id);
    await audit(ctx, req, { project_id: project.id, object_type: 'workflow', object_id: workflow.id, description: `workflow ${workflow.name} run ${run.id} started` });
    res.status(201).json(runView(run));
  });
  router.get(`${BASE}/:workflow_id/runs`, async (req, res) => {
    const { workflow } = await workflowOf(req, 'read');
    res.json((await runsOf(ctx).list(workflow.id)).map(runView));
  });
  router.get(`${BASE}/:workflow_id/runs/:run_id`, async (req, res) => {
    const { project, run } = await runOf(req, 'read');
    const templates = new Map((await ctx.stores.templates(project.id).list()).map((t) => [t.id, t]));
    const taskIds = Object.values(run.nodes).flatMap((n) => (n.task_id ? [n.task_id] : []));
    const tasks = new Map((await ctx.stores.tasks.getMany(taskIds)).map((t) => [t.id, t]));
    res.json({
      run: runView(run),
      nodes: run.graph.nodes.map((node) => {
        const state = run.nodes[node.id]!;
        const task = state.task_id ? tasks.get(state.task_id) : undefined;
        return { node, task: task ? taskView(task, templates.get(task.template_id)) : null, approval: state.approval, state: state.state, error: state.error, due_at: state.due_at ?? null };
      }),
    });
  });
  router.get(`${BASE}/:workflow_id/runs/:run_id/approvals`, async (req, res) => {
    const { run } = await runOf(req, 'read');
    res.json(Object.values(run.nodes).flatMap((n) => (n.approval ? [n.approval] : [])));
  });
  router.get(`${BASE}/:workflow_id/runs/:run_id/artifacts`, async (req, res) => {
    const { project, run } = await runOf(req, 'read');
    const taskIds = Object.values(run.nodes).flatMap((n) => (n.task_id ? [n.task_id] : []));
    const tasks = new Map((await ctx.stores.tasks.getMany(taskIds)).map((t) => [t.id, t]));
    // What each node's task produced, merged into one object keyed by node id: its status, the commit it ran, its version and where its output is.
    const artifacts: Record<string, unknown> = {};
    for (const node of run.graph.nodes) {
      const task = tasks.get(run.nodes[node.id]!.task_id ?? 0);
      if (!task) continue;
      const output = `/api/project/${project.id}/tasks/${task.id}`;
      artifacts[node.id] = {
        node_id: node.id, template_id: task.template_id, task_id: task.id, status: task.status, start: task.start, end: task.end, exit_code: task.exit_code,
        commit_hash: task.commit_hash, commit_message: task.commit_message, version: task.version ?? null, output: `${output}/output`, raw_output: `${output}/raw_output`,
      };
    }
    res.json(artifacts);
  });
  router.post(`${BASE}/:workflow_id/runs/:run_id/approvals/:node_id`, async (req, res) => {
    const { project, run } = await runOf(req, 'run');
    const nodeId = idParam(req, 'node_id');
    const { status } = parseInput(approvalResolveInput, req);
    if (!run.graph.nodes.some((n) => n.id === nodeId && n.kind === 'approval')) throw new HttpError(404, `node ${nodeId} is not an approval node of this run`);
    try {
      const approval = await resolveApproval(ctx, run.id, nodeId, status, req.user!.id);
      await audit(ctx, req, { project_id: project.id, object_type: 'workflow', object_id: run.workflow_template_id, description: `workflow run ${run.id}: node ${nodeId} ${status}` });
      res.json(approval);
    } catch (err) {
      if (err instanceof ApprovalConflict) throw new HttpError(409, err.message);
      throw err;
    }
  });
  return router;
}
