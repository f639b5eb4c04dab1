/** A project's workflows: each with its runs, every node's state, and Approve/Reject on a waiting approval. */
import { useEffect, useState } from 'preact/hooks';
import { api, get } from '../api';
import { useLiveEvents, useThrottled } from '../events';
import type { Template } from '../types';
import { Empty, ErrorBox, Loading, notify, Time, useAsync } from '../ui';

interface WorkflowNode { id: number; kind: 'task' | 'approval' | 'note' | 'delay'; template_id: number | null; approval_message: string }
interface Workflow { id: number; name: string; description: string; nodes: WorkflowNode[]; edges: Array<{ source_node_id: number; destination_node_id: number; condition: string }> }
interface WorkflowRun { id: number; status: string; start: string; end: string | null }
interface RunDetails {
  run: WorkflowRun;
  nodes: Array<{ node: WorkflowNode; state: string; error: string; task: { id: number; status: string } | null; approval: { status: string; message: string } | null }>;
}

/** How many runs of each workflow the page shows in detail. */
const RUNS_SHOWN = 5;

const RUN_LABEL: Record<string, string> = { running: 'Running', approval: 'Waiting for approval', success: 'Success', failed: 'Failed', rejected: 'Rejected' };
const RUN_CLASS: Record<string, string> = { success: 'st-success', failed: 'st-error', rejected: 'st-stopped' };

export function WorkflowsSection({ pid }: { pid: number }) {
  const data = useAsync(async () => {
    const [workflows, templates] = await Promise.all([get<Workflow[]>(`/api/project/${pid}/workflows`), get<Template[]>(`/api/project/${pid}/templates`)]);
    const runs = await Promise.all(workflows.map(async (w) => {
      const list = (await get<WorkflowRun[]>(`/api/project/${pid}/workflows/${w.id}/runs`)).slice(0, RUNS_SHOWN);
      return Promise.all(list.map((r) => get<RunDetails>(`/api/project/${pid}/workflows/${w.id}/runs/${r.id}`)));
    }));
    return { workflows, templates, runs };
  }, [pid]);
  const refresh = useThrottled(() => void data.reload(), 1000);
  useLiveEvents((e) => {
    if (e.type === 'task' && e.project_id === pid) refresh();
  });
  // A run moves on just after its task's event (the next node starts, the run ends): while one runs, look again.
  const unfinished = data.data?.runs.some((list) => list.some((r) => r.run.status === 'running')) ?? false;
  useEffect(() => {
    if (!unfinished) return undefined;
    const timer = setInterval(refresh, 2000);
    return () => clearInterval(timer);
  }, [unfinished]);

  if (data.error) return <ErrorBox error={data.error} title="Could not load workflows" />;
  if (!data.data) return <Loading what="Loading workflows" />;
  const { workflows, templates, runs } = data.data;
  const templateName = (id: number | null) => templates.find((t) => t.id === id)?.name ?? `template #${id}`;
  return (
    <section aria-label="Workflows">
      <div class="page-head"><h2>Workflows</h2></div>
      {workflows.length === 0 && (
        <Empty title="No workflows yet.">
          A workflow runs templates one after another, with approval gates between them. Create one with <code>POST /api/project/{pid}/workflows</code> (see <a href="/api/docs">the API docs</a>).
        </Empty>
      )}
      {workflows.map((workflow, index) => (
        <WorkflowCard key={workflow.id} pid={pid} workflow={workflow} runs={runs[index] ?? []} templateName={templateName} onChanged={() => void data.reload()} />
      ))}
    </section>
  );
}

function WorkflowCard({ pid, workflow, runs, templateName, onChanged }: {
  pid: number; workflow: Workflow; runs: RunDetails[]; templateName: (id: number | null) => string; onChanged: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const act = async (what: string, fn: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await fn();
      notify(what);
      onChanged();
    } catch (err) {
      notify((err as Error).message, 'error');
    } finally {
      setBusy(false);
    }
  };
  const base = `/api/project/${pid}/workflows/${workflow.id}`;
  const nodeLabel = (node: WorkflowNode) => (node.kind === 'task' ? templateName(node.template_id) : node.kind === 'approval' ? 'Approval' : node.kind);
  return (
    <article class="card workflow" aria-label={`Workflow ${workflow.name}`} data-workflow={workflow.id}>
      <div class="page-head">
        <h3>{workflow.name}</h3>
        <button type="button" class="small primary" disabled={busy} onClick={() => void act(`Workflow ${workflow.name} started`, () => api('POST', `${base}/run`))}>Run</button>
      </div>
      {workflow.description && <p class="muted">{workflow.description}</p>}
      <p class="small">
        {workflow.nodes.filter((n) => n.kind !== 'note').map(nodeLabel).join(' · ')}{' '}
        <span class="muted">({workflow.edges.length} link{workflow.edges.length === 1 ? '' : 's'})</span>
      </p>
      {runs.length === 0 ? <p class="muted">Not run yet.</p> : (
        <div class="table-wrap">
          <table class="stack">
            <thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Nodes</th></tr></thead>
            <tbody>
              {runs.map(({ run, nodes }) => (
                <tr key={run.id} data-run={run.id}>
                  <td data-label="Run">#{run.id}</td>
                  <td data-label="Status"><span class={`badge ${RUN_CLASS[run.status] ?? ''}`} data-run-status={run.status}>{RUN_LABEL[run.status] ?? run.status}</span></td>
                  <td data-label="Started"><Time iso={run.start} /></td>
                  <td data-label="Nodes">
                    <ul class="workflow-nodes">
                      {nodes.filter((n) => n.node.kind !== 'note').map(({ node, state, task, approval, error }) => (
                        <li key={node.id} data-node={node.id} data-state={state} title={error || undefined}>
                          {task ? <a href={`/project/${pid}/tasks/${task.id}`}>{nodeLabel(node)}</a> : nodeLabel(node)}{' '}
                          <span class="muted small">{state}</span>
                          {state === 'waiting' && approval && (
                            <span class="approval-actions">
                              {approval.message && <span class="small"> {approval.message} </span>}
                              <button type="button" class="small primary" disabled={busy}
                                onClick={() => void act(`Run #${run.id} approved`, () => api('POST', `${base}/runs/${run.id}/approvals/${node.id}`, { status: 'approved' }))}>Approve</button>{' '}
                              <button type="button" class="small danger" disabled={busy}
                                onClick={() => void act(`Run #${run.id} rejected`, () => api('POST', `${base}/runs/${run.id}/approvals/${node.id}`, { status: 'rejected' }))}>Reject</button>
                            </span>
                          )}
                        </li>
                      ))}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </article>
  );
}
