/** A project's schedules: list with next run and missed ticks, and the editor (cron, time zone, active). */
import { get } from '../api';
import { ResourceSection, type ResourceSpec } from '../resource';
import type { Template } from '../types';
import { ErrorBox, formatTime, Loading, useAsync } from '../ui';

export interface Schedule {
  id: number; project_id: number; template_id: number; name: string; cron_format: string; timezone: string; active: boolean;
  next_run: string | null; last_run: string | null; last_task_id: number | null; last_error: string;
  missed_ticks: number; last_missed_at: string | null; last_missed_from: string | null;
}

const CRON_RE = /^\S+(\s+\S+){4,5}$/;

function scheduleSpec(pid: number, templates: Template[]): ResourceSpec<Schedule> {
  const templateName = (id: number) => templates.find((t) => t.id === id)?.name ?? `#${id}`;
  return {
    api: `/api/project/${pid}/schedules`, title: 'Schedules', singular: 'Schedule',
    empty: 'A schedule runs a template on a cron timetable, e.g. every night at 02:00 in your time zone.',
    fields: [
      { key: 'name', label: 'Name', kind: 'text' },
      { key: 'template_id', label: 'Template', kind: 'select', options: [['', 'Choose a template'], ...templates.map((t): [string, string] => [String(t.id), t.name])], validate: (x) => (x ? undefined : 'choose the template to run') },
      {
        key: 'cron_format', label: 'Cron expression', kind: 'text', mono: true, placeholder: '0 2 * * *',
        hint: 'minute hour day-of-month month day-of-week (a sixth field in front counts seconds).',
        validate: (x) => (CRON_RE.test(String(x ?? '').trim()) ? undefined : '5 fields, e.g. 0 2 * * * for 02:00 every day'),
      },
      { key: 'timezone', label: 'Time zone', kind: 'text', placeholder: 'UTC', hint: 'An IANA name such as Europe/Berlin. Empty: the server\'s schedule_timezone.' },
      { key: 'active', label: 'Active', kind: 'checkbox' },
    ],
    initial: (s) => ({
      name: s?.name ?? '', template_id: s ? String(s.template_id) : templates.length === 1 ? String(templates[0]!.id) : '',
      cron_format: s?.cron_format ?? '', timezone: s?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? '', active: s?.active ?? true,
    }),
    toBody: (v) => ({
      name: String(v.name ?? '').trim(), template_id: Number(v.template_id), cron_format: String(v.cron_format).trim(),
      ...(String(v.timezone ?? '').trim() ? { timezone: String(v.timezone).trim() } : {}), active: Boolean(v.active),
    }),
    columns: [
      { label: 'Name', render: (s) => s.name || <span class="muted">#{s.id}</span> },
      { label: 'Template', render: (s) => <a href={`/project/${pid}/templates/${s.template_id}`}>{templateName(s.template_id)}</a> },
      { label: 'When', render: (s) => <span><code>{s.cron_format}</code> <span class="muted small">{s.timezone}</span></span> },
      { label: 'Next run', render: (s) => (s.active ? <span data-next-run>{formatTime(s.next_run)}</span> : <span class="muted">paused</span>) },
      {
        label: 'Last run', render: (s) => (
          <span>
            {s.last_task_id ? <a href={`/project/${pid}/tasks/${s.last_task_id}`}>{formatTime(s.last_run)}</a> : '—'}
            {s.last_error && <span class="error-text small"> {s.last_error}</span>}
            {s.missed_ticks > 0 && <div class="warn small" role="note">{s.missed_ticks} tick{s.missed_ticks === 1 ? '' : 's'} missed while no server ran (from {formatTime(s.last_missed_from)})</div>}
          </span>
        ),
      },
    ],
  };
}

export function SchedulesSection({ pid }: { pid: number }) {
  const templates = useAsync(() => get<Template[]>(`/api/project/${pid}/templates`), [pid]);
  if (templates.error) return <ErrorBox error={templates.error} title="Could not load templates" />;
  if (!templates.data) return <Loading />;
  return <ResourceSection spec={scheduleSpec(pid, templates.data)} />;
}
