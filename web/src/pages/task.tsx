import { useEffect, useRef, useState } from 'preact/hooks';
import { api, checkSession, endpoints, get } from '../api';
import { ansiSegments, newAnsiState } from '../ansi';
import { findMatches, LogView, type LogLine, type Match } from '../log-view';
import { FINAL_STATUSES, type OutputLine, type Project, type Task, type TaskRow, type Template } from '../types';
import { duration, ErrorBox, Loading, notify, StatusBadge, Time, useNow } from '../ui';
import { RunDialog, runValuesOf } from './templates';
import { TaskNotifications } from './notifications';
import { PlanConfirmBar } from './plan-confirm';

/** Stream ids are "seq-n"; compares them as numbers. */
function after(a: string, b: string): boolean {
  const [a1, a2] = a.split('-').map(Number) as [number, number];
  const [b1, b2] = b.split('-').map(Number) as [number, number];
  return a1 > b1 || (a1 === b1 && (a2 ?? 0) > (b2 ?? 0));
}

/**
 * The live output: everything so far from /output, then the SSE stream from the last line seen.
 * EventSource resends the last event id when it reconnects, and lines at or before the last one
 * shown are ignored, so neither a reconnect nor a reload shows a line twice or skips one. Lines
 * are kept parsed (styled segments and plain text for search); LogView renders the visible ones.
 */
function useTaskOutput(projectId: number, taskId: number, onStatus: (t: Task) => void) {
  const lines = useRef<LogLine[]>([]);
  const [version, setVersion] = useState(0);
  const [streamState, setStreamState] = useState<'loading' | 'live' | 'reconnecting' | 'ended'>('loading');
  const [error, setError] = useState<unknown>();
  const statusCb = useRef(onStatus);
  statusCb.current = onStatus;

  useEffect(() => {
    let lastId = '0';
    let closed = false;
    let source: EventSource | undefined;
    const ansi = newAnsiState();
    let frame = 0;
    lines.current = [];
    setVersion(0);
    setStreamState('loading');
    const base = `/api/project/${projectId}/tasks/${taskId}`;

    const flush = () => {
      frame = 0;
      setVersion(lines.current.length);
    };
    const add = (line: OutputLine) => {
      if (lastId !== '0' && !after(line.id, lastId)) return; // already shown
      lastId = line.id;
      const segs = ansiSegments(line.output, ansi);
      const text = segs.map((x) => x.text).join('');
      lines.current.push({ id: line.id, time: line.time, segs, text, lower: text.toLowerCase() });
      if (!frame) frame = requestAnimationFrame(flush);
    };

    void (async () => {
      try {
        const got = await get<OutputLine[]>(`${base}/output`);
        // Parse a long backlog in slices, yielding between them, so the page keeps painting.
        for (let i = 0; i < got.length && !closed; i += 5000) {
          for (const line of got.slice(i, i + 5000)) add(line);
          if (i + 5000 < got.length) await new Promise((resolve) => setTimeout(resolve, 0));
        }
        if (closed) return;
        flush();
      } catch (err) {
        setError(err);
      }
      if (closed) return;
      source = new EventSource(`${base}/output/stream?after=${encodeURIComponent(lastId)}`);
      source.addEventListener('open', () => setStreamState('live'));
      source.addEventListener('line', (e) => {
        const m = e as MessageEvent;
        const data = JSON.parse(m.data) as Omit<OutputLine, 'id'>;
        add({ ...data, id: m.lastEventId });
      });
      source.addEventListener('status', (e) => statusCb.current(JSON.parse((e as MessageEvent).data) as Task));
      source.addEventListener('end', () => {
        source?.close();
        if (frame) cancelAnimationFrame(frame);
        flush();
        setStreamState('ended');
      });
      source.addEventListener('error', () => {
        if (closed || source?.readyState === EventSource.CLOSED) return;
        setStreamState('reconnecting');
        void checkSession().then((ok) => {
          if (!ok) source?.close();
        });
      });
    })();

    return () => {
      closed = true;
      source?.close();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [projectId, taskId]);

  return { lines: lines.current, version, streamState, error };
}

/** Search in the output: matches update as lines arrive; Enter / Shift+Enter step through them. */
function useOutputSearch(lines: LogLine[], version: number) {
  const [query, setQuery] = useState('');
  const [index, setIndex] = useState(-1);
  const [jump, setJump] = useState(0);
  const found = useRef<{ q: string; upTo: number; matches: Match[] }>({ q: '', upTo: 0, matches: [] });
  const q = query.toLowerCase();
  const f = found.current;
  if (f.q !== q || f.upTo > lines.length) {
    found.current = { q, upTo: 0, matches: [] };
  }
  const cur = found.current;
  if (cur.upTo < lines.length) {
    findMatches(lines, q, cur.upTo, cur.matches);
    cur.upTo = lines.length;
  }
  void version;
  const matches = cur.matches;
  const go = (delta: number) => {
    if (!matches.length) return;
    setIndex((i) => (i < 0 ? (delta > 0 ? 0 : matches.length - 1) : (i + delta + matches.length) % matches.length));
    setJump((j) => j + 1);
  };
  const set = (value: string) => {
    setQuery(value);
    setIndex(-1);
  };
  const current = index >= 0 && index < matches.length ? matches[index]! : null;
  return { query, q, set, matches, index, current, jump, next: () => go(1), prev: () => go(-1) };
}

export function TaskPage({ projectId, taskId }: { projectId: number; taskId: number }) {
  const [task, setTask] = useState<TaskRow>();
  const [project, setProject] = useState<Project>();
  const [template, setTemplate] = useState<Template>();
  const [error, setError] = useState<unknown>();
  const [following, setFollowing] = useState(true);
  const [stopping, setStopping] = useState(false);
  const [rerun, setRerun] = useState(false);
  const [timestamps, setTimestamps] = useState(false);
  const now = useNow(1000);

  useEffect(() => {
    setTask(undefined);
    setError(undefined);
    const base = `/api/project/${projectId}`;
    endpoints.taskRow(projectId, taskId).then((t) => {
      setTask((cur) => (cur ? { ...t, ...cur } : t));
      get<Template>(`${base}/templates/${t.template_id}`).then(setTemplate, () => undefined);
    }, setError);
    get<Project>(base).then(setProject, () => undefined);
  }, [projectId, taskId]);

  // The stream's status events carry the plain task; keep the names the first load brought.
  const output = useTaskOutput(projectId, taskId, (t) => setTask((cur) => (cur ? { ...cur, ...t } : undefined)));
  const search = useOutputSearch(output.lines, output.version);
  const searchInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    // Ctrl/Cmd+F on the task page opens the output search (the browser's own cannot see unrendered lines).
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key === 'f' && searchInput.current) {
        e.preventDefault();
        searchInput.current.focus();
        searchInput.current.select();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  useEffect(() => {
    if (search.current) setFollowing(false);
  }, [search.jump]);

  if (error) return <ErrorBox error={error} title={`Could not open task #${taskId}`} />;
  const final = task ? FINAL_STATUSES.includes(task.status) : false;
  const base = `/api/project/${projectId}/tasks/${taskId}`;

  const stop = async () => {
    setStopping(true);
    try {
      await api('POST', `${base}/stop`);
      const fresh = await api<Task>('GET', base);
      setTask((cur) => (cur ? { ...cur, ...fresh } : cur));
      notify(`Asked task #${taskId} to stop`);
    } catch (err) {
      notify(`Could not stop task #${taskId}: ${(err as Error).message}`, 'error');
    } finally {
      setStopping(false);
    }
  };

  const waited = task?.start ? (Date.parse(task.start) - Date.parse(task.created)) / 1000 : task && task.status === 'waiting' ? (now - Date.parse(task.created)) / 1000 : null;
  const ran = task?.start ? ((task.end ? Date.parse(task.end) : now) - Date.parse(task.start)) / 1000 : null;

  const count = output.version;
  const statusWord = output.streamState === 'live' ? 'live' : output.streamState === 'ended' ? 'complete' : output.streamState === 'reconnecting' ? 'reconnecting…' : 'loading…';

  return (
    <div class="task-page">
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href="/projects">Projects</a> <span aria-hidden="true">/</span> <a href={`/project/${projectId}/tasks`}>{project?.name ?? `Project ${projectId}`}</a>
        {template && <> <span aria-hidden="true">/</span> <a href={`/project/${projectId}/templates/${template.id}`}>{template.name}</a></>}
        <span aria-hidden="true"> /</span> <span>Task #{taskId}</span>
      </nav>
      <div class="page-head">
        <h1>Task #{taskId}{template ? <span class="muted"> · {template.name}</span> : null}</h1>
        <div class="head-actions">
          {task && !final && (
            <button type="button" class="danger" onClick={() => void stop()} disabled={stopping || task.status === 'stopping'}>
              {task.status === 'stopping' ? 'Stopping…' : 'Stop'}
            </button>
          )}
          {template && task && final && <button type="button" class="primary" onClick={() => setRerun(true)}>Run again</button>}
          <a class="button" href={`${base}/raw_output`} download={`task-${taskId}.log`}>Download raw output</a>
        </div>
      </div>

      {!task && <Loading what="Loading the task" />}
      {task && (
        <>
          {/* On a phone this one line stands in for the facts, which move below the output. */}
          <p class="status-line" aria-hidden="true">
            <StatusBadge status={task.status} /> {task.runner_name ? `on ${task.runner_name}` : task.status === 'waiting' ? 'waiting for a runner' : ''}{ran !== null ? ` · ${duration(ran)}` : ''}
          </p>
          <dl class="facts task-facts">
            <div><dt>Status</dt><dd data-testid="task-status"><StatusBadge status={task.status} />{task.exit_code !== null && task.exit_code !== undefined && <span class="muted small"> exit code {task.exit_code}</span>}</dd></div>
            <div><dt>Runner</dt><dd data-testid="task-runner">{task.runner_name || <span class="muted">{task.status === 'waiting' ? 'not yet assigned' : '—'}</span>}</dd></div>
            <div><dt>Started by</dt><dd data-testid="task-user">{task.user_name || <span class="muted">—</span>}</dd></div>
            <div><dt>Commit</dt><dd>{task.commit_hash ? <><code>{task.commit_hash.slice(0, 10)}</code> <span class="muted small">{task.commit_message}</span></> : <span class="muted">—</span>}</dd></div>
            <div><dt>Branch</dt><dd data-testid="task-branch">{task.branch ? <code>{task.branch}</code> : <span class="muted">the repository's default</span>}</dd></div>
            <div><dt>Created</dt><dd><Time iso={task.created} /></dd></div>
            <div><dt>Started</dt><dd><Time iso={task.start} />{waited !== null && <span class="muted small"> after {duration(waited)} waiting</span>}</dd></div>
            <div><dt>Finished</dt><dd><Time iso={task.end} /></dd></div>
            <div><dt>Duration</dt><dd>{ran !== null ? duration(ran) : '—'}</dd></div>
            <div><dt>Message</dt><dd data-testid="task-message">{task.message || <span class="muted">—</span>}</dd></div>
            {(task.dry_run || task.debug || task.diff || task.limit || task.tags) && (
              <div><dt>Options</dt><dd>{[task.dry_run && 'dry run', task.diff && 'diff', task.debug && 'debug', task.limit && `limit ${task.limit}`, task.tags && `tags ${task.tags}`].filter(Boolean).join(' · ')}</dd></div>
            )}
          </dl>
          {task.status === 'waiting' && task.waiting_reason && (
            <p class="notice" role="status" data-testid="waiting-reason">Waiting: {task.waiting_reason === 'queued' ? 'queued for the next free runner' : task.waiting_reason}</p>
          )}
          {task.status === 'waiting_confirmation' && !task.confirmation && (
            <PlanConfirmBar base={base} taskId={taskId} lines={output.lines} onDecided={async () => {
              const fresh = await api<Task>('GET', base);
              setTask((cur) => (cur ? { ...cur, ...fresh } : cur));
            }} />
          )}
          {task.error && <div class="error-box" role="alert"><strong>Error:</strong> {task.error}</div>}
          <TaskNotifications task={task} />
        </>
      )}

      <section class="output" aria-labelledby="output-title">
        <div class="log-head">
          <h2 id="output-title">Output</h2>
          <span class="muted small" role="status" aria-live="polite" data-testid="stream-state">
            {count} line{count === 1 ? '' : 's'} · {statusWord}
          </span>
          <form class="log-search" role="search" onSubmit={(e) => { e.preventDefault(); search.next(); }}>
            <label class="sr-only" for="output-search">Search the output</label>
            <input
              id="output-search" ref={searchInput} type="search" placeholder="Search output" value={search.query} autoComplete="off"
              onInput={(e) => search.set(e.currentTarget.value)}
              onKeyDown={(e) => { if (e.key === 'Enter' && e.shiftKey) { e.preventDefault(); search.prev(); } }}
            />
            <span class="muted small match-count" data-testid="match-count" aria-live="polite">
              {search.q ? (search.matches.length ? `${search.index >= 0 ? search.index + 1 : 0} of ${search.matches.length}` : 'no match') : ''}
            </span>
            <button type="button" class="small" onClick={search.prev} disabled={!search.matches.length} aria-label="Previous match">↑</button>
            <button type="submit" class="small" disabled={!search.matches.length} aria-label="Next match">↓</button>
          </form>
          <label class="inline small"><input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.currentTarget.checked)} /> Timestamps</label>
        </div>
        <ErrorBox error={output.error} title="Could not load the output" />
        {count === 0 ? (
          <p class="log-empty" data-testid="output-empty">
            {task && task.status === 'waiting' ? 'No output yet: the task is waiting for a runner.' : output.streamState === 'ended' ? 'This task wrote no output.' : 'No output yet.'}
          </p>
        ) : (
          <div class="log-wrap">
            <LogView
              lines={output.lines} version={output.version} following={following} onFollowChange={setFollowing}
              query={search.q} current={search.current} jump={search.jump} timestamps={timestamps}
            />
            {!following && <button type="button" class="follow-btn" onClick={() => setFollowing(true)}>↓ Follow output</button>}
          </div>
        )}
      </section>
      {template && task && <RunDialog template={rerun ? template : null} initial={runValuesOf(task)} onClose={() => setRerun(false)} />}
    </div>
  );
}
