import { useEffect, useState } from 'preact/hooks';
import { endpoints, get } from '../api';
import { useLiveEvents, useThrottled } from '../events';
import { setQuery, useLocation } from '../router';
import { TASK_STATUSES, type Task, type TaskStatus, type Template } from '../types';
import { duration, Empty, ErrorBox, Loading, Pagination, StatusBadge, TimeAgo, useAsync, useNow } from '../ui';

const LIMIT = 20;
const FILTERS: Array<[string, string, TaskStatus[]]> = [
  ['all', 'All', []], ['waiting', 'Waiting', ['waiting']], ['active', 'Running', ['starting', 'running', 'waiting_confirmation', 'confirmed', 'stopping']], ['waiting_confirmation', 'Needs confirmation', ['waiting_confirmation']],
  ['success', 'Succeeded', ['success']], ['error', 'Failed', ['error']], ['stopped', 'Stopped', ['stopped']], ['rejected', 'Rejected', ['rejected']],
];
/** Query keys the history keeps in the address. */
const KEYS = ['q', 'template', 'user', 'status', 'from', 'to', 'offset'] as const;

export function taskDuration(t: Task, now: number): string {
  if (!t.start) return '—';
  const end = t.end ? Date.parse(t.end) : now;
  return duration((end - Date.parse(t.start)) / 1000);
}

/** The search box: typing updates the address (and so the list) after a short pause. */
function SearchBox({ value }: { value: string }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return;
    const t = setTimeout(() => setQuery({ q: text.trim() || null, offset: null }), 300);
    return () => clearTimeout(t);
  }, [text, value]);
  return (
    <div class="field search-field">
      <label for="history-q">Search</label>
      <input id="history-q" type="search" name="q" value={text} placeholder="task #, message, commit, branch, user…" onInput={(e) => setText(e.currentTarget.value)} />
    </div>
  );
}

/**
 * Task history of a project or one template: text search, filters by template, user, status and
 * date (all kept in the address), pages, live updates.
 */
export function TaskHistory({ projectId, templateId }: { projectId: number; templateId?: number }) {
  const loc = useLocation();
  const param = (k: string) => loc.query.get(k) ?? '';
  const statuses = param('status').split(',').filter((s): s is TaskStatus => (TASK_STATUSES as readonly string[]).includes(s));
  const offset = Math.max(0, Number(param('offset')) || 0);
  const api = new URLSearchParams();
  const put = (k: string, v: string) => v && api.set(k, v);
  put('q', param('q'));
  put('template_id', templateId ? String(templateId) : param('template'));
  put('user_id', param('user'));
  put('status', statuses.join(','));
  put('from', param('from'));
  put('to', param('to'));
  api.set('offset', String(offset));
  api.set('limit', String(LIMIT));
  const query = api.toString();
  const page = useAsync(() => endpoints.history(projectId, query), [projectId, query]);
  const templates = useAsync(() => (templateId ? Promise.resolve([] as Template[]) : get<Template[]>(`/api/project/${projectId}/templates`)), [projectId, templateId]);
  const now = useNow(1000);
  const refresh = useThrottled(() => void page.reload(), 500);
  useLiveEvents((e) => {
    if (e.type === 'task' && e.project_id === projectId) refresh();
  });

  const current = FILTERS.find(([, , s]) => s.length === statuses.length && s.every((x) => statuses.includes(x)))?.[0] ?? 'custom';
  const narrowed = ['q', 'user', 'from', 'to', ...(templateId ? [] : ['template'])].some((k) => param(k));
  const filtered = narrowed || statuses.length > 0;
  const select = (key: string, label: string, options: Array<[string, string]>) => (
    <div class="field">
      <label for={`history-${key}`}>{label}</label>
      <select id={`history-${key}`} value={param(key)} onChange={(e) => setQuery({ [key]: e.currentTarget.value || null, offset: null })}>
        {options.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
      </select>
    </div>
  );
  const date = (key: 'from' | 'to', label: string) => (
    <div class="field">
      <label for={`history-${key}`}>{label}</label>
      <input id={`history-${key}`} type="date" value={param(key)} onChange={(e) => setQuery({ [key]: e.currentTarget.value || null, offset: null })} />
    </div>
  );

  return (
    <section aria-labelledby="history-title">
      <div class="page-head">
        <h2 id="history-title">Task history</h2>
      </div>
      <div class="history-filters">
        <SearchBox value={param('q')} />
        {!templateId && select('template', 'Template', [['', 'Any template'], ...(templates.data ?? []).map((t): [string, string] => [String(t.id), t.name])])}
        {select('user', 'Started by', [['', 'Anyone'], ...(page.data?.users ?? []).map((u): [string, string] => [String(u.id), u.name])])}
        {date('from', 'From')}
        {date('to', 'To')}
      </div>
      <div class="filters" role="group" aria-label="Filter by status">
        {FILTERS.map(([id, label, s]) => (
          <button key={id} type="button" class={`chip${current === id ? ' active' : ''}`} aria-pressed={current === id} onClick={() => setQuery({ status: s.join(',') || null, offset: null })}>
            {label}
          </button>
        ))}
        {filtered && <button type="button" class="link-btn" onClick={() => setQuery(Object.fromEntries(KEYS.filter((k) => k !== 'template' || !templateId).map((k) => [k, null])))}>Clear filters</button>}
      </div>
      <ErrorBox error={page.error} title="Could not load tasks" />
      {!page.data && !page.error && <Loading what="Loading tasks" />}
      {page.data && page.data.tasks.length === 0 && (
        <Empty title={narrowed ? 'No task matches these filters.' : statuses.length ? 'No tasks with this status.' : 'No tasks yet.'}>
          {filtered
            ? <button type="button" class="link-btn" onClick={() => setQuery({ q: null, status: null, user: null, from: null, to: null, offset: null, ...(templateId ? {} : { template: null }) })}>Show all tasks</button>
            : templateId ? 'Press Run above to start the first one.' : <>Run a template from the <a href={`/project/${projectId}/templates`}>Templates</a> tab.</>}
        </Empty>
      )}
      {page.data && page.data.tasks.length > 0 && (
        <>
          <div class="table-wrap">
            <table class="tasks stack">
              <thead>
                <tr>
                  <th scope="col">Task</th><th scope="col">Status</th>{!templateId && <th scope="col">Template</th>}<th scope="col">Message</th><th scope="col">Branch</th>
                  <th scope="col">Started by</th><th scope="col">Runner</th><th scope="col">Commit</th><th scope="col">Created</th><th scope="col">Duration</th>
                </tr>
              </thead>
              <tbody>
                {page.data.tasks.map((t) => (
                  <tr key={t.id} data-task={t.id} data-status={t.status}>
                    <td data-label="Task"><a href={`/project/${projectId}/tasks/${t.id}`}>#{t.id}</a></td>
                    <td data-label="Status"><StatusBadge status={t.status} /></td>
                    {!templateId && <td data-label="Template"><a href={`/project/${projectId}/templates/${t.template_id}`}>{t.template_name}</a></td>}
                    <td data-label="Message" class="message">{t.message || <span class="muted">—</span>}{t.dry_run && <span class="tag">dry run</span>}</td>
                    <td data-label="Branch">{t.branch ? <code>{t.branch}</code> : <span class="muted" title="the repository's default branch">default</span>}</td>
                    <td data-label="Started by">{t.user_name || <span class="muted">—</span>}</td>
                    <td data-label="Runner">{t.runner_name || <span class="muted">{t.status === 'waiting' ? 'waiting' : '—'}</span>}</td>
                    <td data-label="Commit">{t.commit_hash ? <code title={t.commit_message}>{t.commit_hash.slice(0, 8)}</code> : <span class="muted">—</span>}</td>
                    <td data-label="Created"><TimeAgo iso={t.created} now={now} /></td>
                    <td data-label="Duration">{taskDuration(t, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {!page.data.searched_all && <p class="muted small">Searched the newest 20,000 tasks.</p>}
          <Pagination offset={offset} limit={LIMIT} total={page.data.total} onChange={(o) => setQuery({ offset: o ? String(o) : null })} />
        </>
      )}
    </section>
  );
}
