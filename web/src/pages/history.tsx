import { get, getPage } from '../api';
import { useLiveEvents, useThrottled } from '../events';
import { setQuery, useLocation } from '../router';
import { TASK_STATUSES, type Task, type TaskStatus, type Template } from '../types';
import { duration, Empty, ErrorBox, Loading, Pagination, StatusBadge, TimeAgo, useAsync, useNow } from '../ui';

const LIMIT = 20;
const FILTERS: Array<[string, string, TaskStatus[]]> = [
  ['all', 'All', []], ['waiting', 'Waiting', ['waiting']], ['active', 'Running', ['starting', 'running', 'stopping']],
  ['success', 'Succeeded', ['success']], ['error', 'Failed', ['error']], ['stopped', 'Stopped', ['stopped']],
];

export function taskDuration(t: Task, now: number): string {
  if (!t.start) return '—';
  const end = t.end ? Date.parse(t.end) : now;
  return duration((end - Date.parse(t.start)) / 1000);
}

/** Task history of a project or one template: filter by status, page through, updates live. */
export function TaskHistory({ projectId, templateId }: { projectId: number; templateId?: number }) {
  const loc = useLocation();
  const statusParam = loc.query.get('status') ?? '';
  const statuses = statusParam.split(',').filter((s): s is TaskStatus => (TASK_STATUSES as readonly string[]).includes(s));
  const offset = Math.max(0, Number(loc.query.get('offset') ?? 0) || 0);
  const base = templateId ? `/api/project/${projectId}/templates/${templateId}/tasks` : `/api/project/${projectId}/tasks`;
  const url = `${base}?limit=${LIMIT}&offset=${offset}${statuses.length ? `&status=${statuses.join(',')}` : ''}`;
  const page = useAsync(() => getPage<Task>(url), [url]);
  const templates = useAsync(() => (templateId ? Promise.resolve([] as Template[]) : get<Template[]>(`/api/project/${projectId}/templates`)), [projectId, templateId]);
  const now = useNow(1000);
  const refresh = useThrottled(() => void page.reload(), 500);
  useLiveEvents((e) => {
    if (e.type === 'task' && e.project_id === projectId) refresh();
  });

  const current = FILTERS.find(([, , s]) => s.length === statuses.length && s.every((x) => statuses.includes(x)))?.[0] ?? 'custom';
  const templateName = (id: number) => templates.data?.find((t) => t.id === id)?.name ?? `#${id}`;

  return (
    <section aria-labelledby="history-title">
      <div class="page-head">
        <h2 id="history-title">Task history</h2>
      </div>
      <div class="filters" role="group" aria-label="Filter by status">
        {FILTERS.map(([id, label, s]) => (
          <button key={id} type="button" class={`chip${current === id ? ' active' : ''}`} aria-pressed={current === id} onClick={() => setQuery({ status: s.join(',') || null, offset: null })}>
            {label}
          </button>
        ))}
      </div>
      <ErrorBox error={page.error} title="Could not load tasks" />
      {!page.data && !page.error && <Loading what="Loading tasks" />}
      {page.data && page.data.items.length === 0 && (
        <Empty title={statuses.length ? 'No tasks with this status.' : 'No tasks yet.'}>
          {statuses.length
            ? <button type="button" class="link-btn" onClick={() => setQuery({ status: null, offset: null })}>Show all tasks</button>
            : templateId ? 'Press Run above to start the first one.' : <>Run a template from the <a href={`/project/${projectId}/templates`}>Templates</a> tab.</>}
        </Empty>
      )}
      {page.data && page.data.items.length > 0 && (
        <>
          <div class="table-wrap">
            <table class="tasks">
              <thead>
                <tr>
                  <th scope="col">Task</th>{!templateId && <th scope="col">Template</th>}<th scope="col">Status</th><th scope="col">Message / branch</th>
                  <th scope="col">Runner</th><th scope="col">Commit</th><th scope="col">Created</th><th scope="col">Duration</th>
                </tr>
              </thead>
              <tbody>
                {page.data.items.map((t) => (
                  <tr key={t.id} data-task={t.id} data-status={t.status}>
                    <td><a href={`/project/${projectId}/tasks/${t.id}`}>#{t.id}</a></td>
                    {!templateId && <td><a href={`/project/${projectId}/templates/${t.template_id}`}>{templateName(t.template_id)}</a></td>}
                    <td><StatusBadge status={t.status} /></td>
                    <td>{t.message || (t.git_branch ? <code>{t.git_branch}</code> : <span class="muted">—</span>)}{t.dry_run && <span class="tag">dry run</span>}</td>
                    <td>{t.runner_name || <span class="muted">{t.status === 'waiting' ? 'waiting' : '—'}</span>}</td>
                    <td>{t.commit_hash ? <code title={t.commit_message}>{t.commit_hash.slice(0, 8)}</code> : <span class="muted">—</span>}</td>
                    <td><TimeAgo iso={t.created} now={now} /></td>
                    <td>{taskDuration(t, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pagination offset={offset} limit={LIMIT} total={page.data.total} onChange={(o) => setQuery({ offset: o ? String(o) : null })} />
        </>
      )}
    </section>
  );
}
