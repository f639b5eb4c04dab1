import { useEffect, useState } from 'preact/hooks';
import { get, getUser } from '../api';
import { useLiveEvents } from '../events';
import type { Dashboard } from '../types';
import { clockTime, Dot, duration, Empty, ErrorBox, Loading, StatusBadge, TimeAgo, useNow } from '../ui';

/** Finished tasks per 5 minutes over the last hour: stacked bars, success below, failures on top. */
function HourChart({ data }: { data: Dashboard['last_hour'] }) {
  const max = Math.max(1, ...data.buckets.map((b) => b.success + b.error + b.stopped));
  const w = 24;
  const gap = 4;
  const h = 60;
  const width = data.buckets.length * (w + gap);
  const label = `Tasks finished per 5 minutes over the last hour: ${data.buckets.map((b) => b.success + b.error + b.stopped).join(', ')} (oldest first)`;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${h + 14}`} role="img" aria-label={label} preserveAspectRatio="none">
        {data.buckets.map((b, i) => {
          const x = i * (w + gap);
          const ok = (b.success / max) * h;
          const bad = (b.error / max) * h;
          const stop = (b.stopped / max) * h;
          
          return (
            <g key={b.start}>
              <title>{`${clockTime(b.start).slice(0, 5)}: ${b.success} succeeded, ${b.error} failed, ${b.stopped} stopped`}</title>
              <rect x={x} y={0} width={w} height={h} class="bar-bg" />
              <rect x={x} y={h - ok} width={w} height={ok} class="bar-ok" />
              <rect x={x} y={h - ok - stop} width={w} height={stop} class="bar-stop" />
              <rect x={x} y={h - ok - stop - bad} width={w} height={bad} class="bar-err" />
            </g>
          );
        })}
        <text x={0} y={h + 12} class="axis">−60 min</text>
        <text x={width} y={h + 12} class="axis" text-anchor="end">now</text>
      </svg>
      <figcaption>
        <span class="key key-ok" /> success <span class="key key-err" /> failed <span class="key key-stop" /> stopped
      </figcaption>
    </figure>
  );
}

export function DashboardPage() {
  const [data, setData] = useState<Dashboard>();
  const [error, setError] = useState<unknown>();
  const [live, setLive] = useState(false);
  const now = useNow(1000);
  const admin = getUser()?.admin;

  useEffect(() => {
    get<Dashboard>('/api/dashboard').then(setData, setError);
  }, []);
  useLiveEvents((e) => {
    if (e.type === 'dashboard') {
      setData(e.data as Dashboard);
      setError(undefined);
    }
  }, { summary: true, onStatus: setLive });

  if (error && !data) return <ErrorBox error={error} title="The dashboard could not load" />;
  if (!data) return <Loading what="Loading the dashboard" />;
  const r = data.runners;
  const waiting = data.queues.filter((q) => q.waiting > 0);
  const idle = data.queues.filter((q) => q.waiting === 0);
  const slots = data.local
    ? `${data.local.active} / ${data.local.max_parallel_tasks}`
    : `${r.busy_slots} / ${r.capacity}${r.unlimited ? ` + ${r.unlimited} unlimited` : ''}`;
  const age = Math.max(0, Math.round((now - Date.parse(data.generated)) / 1000));

  return (
    <section aria-labelledby="dash-title">
      <div class="page-head">
        <h1 id="dash-title">Dashboard</h1>
        <p class={`live ${live ? 'on' : 'off'}`} role="status" aria-live="off">
          <Dot status={live ? 'online' : 'offline'} /> {live ? 'Live' : 'Reconnecting'} · updated {age < 2 ? 'just now' : `${age} s ago`}
        </p>
      </div>
      <ErrorBox error={error} />

      <div class="cards">
        <a class="card stat" href={admin ? '/runners' : '/projects'} data-testid="runners-card">
          <h2>Runners</h2>
          {data.remote_runners ? (
            <ul class="counts" aria-label="Runners by status">
              <li data-count="online"><Dot status="online" /> <strong>{r.online}</strong> online</li>
              <li data-count="offline"><Dot status="offline" /> <strong>{r.offline}</strong> offline</li>
              <li data-count="disabled"><Dot status="disabled" /> <strong>{r.disabled}</strong> disabled</li>
            </ul>
          ) : (
            <p>Tasks run in the server's own worker (remote runners are off: set <code>FORGE_USE_REMOTE_RUNNER=true</code>).</p>
          )}
          {data.remote_runners && r.total === 0 && <p class="muted">No runners yet — add one on the Runners page.</p>}
        </a>
        <div class="card stat" data-testid="slots-card">
          <h2>Busy slots</h2>
          <p class="big" data-value={slots}>{slots}</p>
          <p class="muted">{data.local ? 'local worker slots in use' : 'tasks running / capacity of online runners'}{r.draining ? ` · ${r.draining} draining` : ''}</p>
        </div>
        <div class="card stat" data-testid="running-card">
          <h2>Running now</h2>
          <p class="big">{data.running.length}</p>
          <p class="muted">{waiting.reduce((s, q) => s + q.waiting, 0)} waiting in {waiting.length} queue{waiting.length === 1 ? '' : 's'}</p>
        </div>
        <div class="card stat" data-testid="hour-card">
          <h2>Last hour</h2>
          <p class="big">
            <span class="ok-text" data-value={data.last_hour.success}>{data.last_hour.success}</span> <span class="muted small">ok</span>{' '}
            <span class="err-text" data-value={data.last_hour.error}>{data.last_hour.error}</span> <span class="muted small">failed</span>
            {data.last_hour.stopped > 0 && <> <span>{data.last_hour.stopped}</span> <span class="muted small">stopped</span></>}
          </p>
          <HourChart data={data.last_hour} />
        </div>
      </div>

      <div class="panels">
        <section class="panel" aria-labelledby="waiting-title">
          <h2 id="waiting-title">Waiting tasks by runner tag</h2>
          {waiting.length === 0 ? (
            <Empty title="Nothing is waiting.">{data.queues.length === 0 ? <>Run a template from a <a href="/projects">project</a> to see its queue here.</> : 'Every queue is empty.'}</Empty>
          ) : (
            <div class="table-wrap">
              <table class="stack">
                <thead><tr><th scope="col">Project</th><th scope="col">Tag</th><th scope="col">Waiting</th><th scope="col">Oldest wait</th><th scope="col">Why</th></tr></thead>
                <tbody>
                  {waiting.map((q) => (
                    <tr key={q.queue} data-queue={q.queue}>
                      <td data-label="Project"><a href={`/project/${q.project_id}/tasks?status=waiting`}>{q.project_name}</a></td>
                      <td data-label="Tag">{q.tag ? <span class="tag">{q.tag}</span> : <span class="muted">untagged</span>}</td>
                      <td data-label="Waiting" class="num">{q.waiting}</td>
                      <td data-label="Oldest wait">{q.oldest_task_id ? <a href={`/project/${q.project_id}/tasks/${q.oldest_task_id}`}>{duration(q.oldest_wait_sec + (now - Date.parse(data.generated)) / 1000)}</a> : '—'}</td>
                      <td data-label="Why" class={q.reason === 'queued' ? '' : 'warn-text'}>{q.reason === 'queued' ? 'next in line for a free runner' : q.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {idle.length > 0 && data.remote_runners && idle.some((q) => q.runners_online === 0) && (
            <details class="idle-queues">
              <summary>{idle.length} empty queue{idle.length === 1 ? '' : 's'}, {idle.filter((q) => q.runners_online === 0).length} with no runner online</summary>
              <ul>
                {idle.map((q) => (
                  <li key={q.queue}>{q.project_name} · {q.tag || 'untagged'}: {q.runners_online > 0 ? `${q.runners_online} runner(s) online` : q.reason}</li>
                ))}
              </ul>
            </details>
          )}
        </section>

        <section class="panel" aria-labelledby="running-title">
          <h2 id="running-title">Running tasks</h2>
          {data.running.length === 0 ? (
            <Empty title="No task is running.">Open a project's templates and press Run.</Empty>
          ) : (
            <div class="table-wrap">
              <table class="stack">
                <thead><tr><th scope="col">Task</th><th scope="col">Template</th><th scope="col">Status</th><th scope="col">Runner</th><th scope="col">Started</th></tr></thead>
                <tbody>
                  {data.running.map((t) => (
                    <tr key={t.id}>
                      <td data-label="Task"><a href={`/project/${t.project_id}/tasks/${t.id}`}>#{t.id}</a></td>
                      <td data-label="Template"><a href={`/project/${t.project_id}/templates/${t.template_id}`}>{t.template_name}</a> <span class="muted small">{t.project_name}</span></td>
                      <td data-label="Status"><StatusBadge status={t.status} /></td>
                      <td data-label="Runner">{t.runner_name || <span class="muted">—</span>}</td>
                      <td data-label="Started"><TimeAgo iso={t.start ?? t.created} now={now} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      </div>
    </section>
  );
}
