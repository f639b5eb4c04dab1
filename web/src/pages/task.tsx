import { useEffect, useRef, useState } from 'preact/hooks';
import { api, checkSession, get } from '../api';
import { newAnsiState, renderAnsi } from '../ansi';
import { FINAL_STATUSES, type OutputLine, type Project, type Task, type Template } from '../types';
import { duration, ErrorBox, formatTime, Loading, notify, StatusBadge, useNow } from '../ui';
import { TaskNotifications } from './notifications';
import { RunDialog } from './templates';

/** Stream ids are "seq-n"; compares them as numbers. */
function after(a: string, b: string): boolean {
  const [a1, a2] = a.split('-').map(Number) as [number, number];
  const [b1, b2] = b.split('-').map(Number) as [number, number];
  return a1 > b1 || (a1 === b1 && (a2 ?? 0) > (b2 ?? 0));
}

/**
 * The live output: everything so far from /output, then the SSE stream from the last line seen.
 * EventSource resends the last event id when it reconnects, and lines at or before the last one
 * shown are ignored, so neither a reconnect nor a reload shows a line twice or skips one.
 */
function useTaskOutput(projectId: number, taskId: number, box: { current: HTMLDivElement | null }, onStatus: (t: Task) => void, onFollowChange: (f: boolean) => void) {
  const [count, setCount] = useState(0);
  const [streamState, setStreamState] = useState<'loading' | 'live' | 'reconnecting' | 'ended'>('loading');
  const [error, setError] = useState<unknown>();
  const following = useRef(true);
  const statusCb = useRef(onStatus);
  statusCb.current = onStatus;
  const followCb = useRef(onFollowChange);
  followCb.current = onFollowChange;

  useEffect(() => {
    let lastId = '0';
    let total = 0;
    let closed = false;
    let source: EventSource | undefined;
    const ansi = newAnsiState();
    let pending: OutputLine[] = [];
    let frame = 0;
    const base = `/api/project/${projectId}/tasks/${taskId}`;

    const flush = () => {
      frame = 0;
      const el = box.current;
      if (!el || pending.length === 0) return;
      const fragment = document.createDocumentFragment();
      for (const line of pending) {
        const row = document.createElement('div');
        row.className = 'line';
        row.dataset.id = line.id;
        const time = document.createElement('span');
        time.className = 'ts';
        time.textContent = line.time ? new Date(line.time).toLocaleTimeString() : '';
        time.setAttribute('aria-hidden', 'true');
        const text = document.createElement('span');
        text.className = 'text';
        renderAnsi(line.output, ansi, text);
        row.append(time, text);
        fragment.appendChild(row);
      }
      pending = [];
      el.appendChild(fragment);
      if (following.current) el.scrollTop = el.scrollHeight;
      setCount(total);
    };
    const add = (line: OutputLine) => {
      if (lastId !== '0' && !after(line.id, lastId)) return; // already shown
      lastId = line.id;
      total++;
      pending.push(line);
      if (!frame) frame = requestAnimationFrame(flush);
    };

    const onScroll = () => {
      const el = box.current!;
      const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
      if (atBottom !== following.current) {
        following.current = atBottom;
        followCb.current(atBottom);
      }
    };
    box.current?.addEventListener('scroll', onScroll, { passive: true });

    void (async () => {
      try {
        const lines = await get<OutputLine[]>(`${base}/output`);
        if (closed) return;
        for (const line of lines) add(line);
        flush();
        if (lines.length === 0) setCount(0);
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
      box.current?.removeEventListener('scroll', onScroll);
    };
  }, [projectId, taskId]);

  const follow = () => {
    following.current = true;
    followCb.current(true);
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  };
  return { count, streamState, error, follow };
}

export function TaskPage({ projectId, taskId }: { projectId: number; taskId: number }) {
  const [task, setTask] = useState<Task>();
  const [project, setProject] = useState<Project>();
  const [template, setTemplate] = useState<Template>();
  const [error, setError] = useState<unknown>();
  const [following, setFollowing] = useState(true);
  const [stopping, setStopping] = useState(false);
  const [rerun, setRerun] = useState(false);
  const [timestamps, setTimestamps] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const now = useNow(1000);

  useEffect(() => {
    setTask(undefined);
    setError(undefined);
    const base = `/api/project/${projectId}`;
    get<Task>(`${base}/tasks/${taskId}`).then((t) => {
      setTask((cur) => cur ?? t);
      get<Template>(`${base}/templates/${t.template_id}`).then(setTemplate, () => undefined);
    }, setError);
    get<Project>(base).then(setProject, () => undefined);
  }, [projectId, taskId]);

  const output = useTaskOutput(projectId, taskId, box, setTask, setFollowing);

  if (error) return <ErrorBox error={error} title={`Could not open task #${taskId}`} />;
  const final = task ? FINAL_STATUSES.includes(task.status) : false;
  const base = `/api/project/${projectId}/tasks/${taskId}`;

  const stop = async () => {
    setStopping(true);
    try {
      setTask(await api<Task>('POST', `${base}/stop`));
      notify(`Asked task #${taskId} to stop`);
    } catch (err) {
      notify(`Could not stop task #${taskId}: ${(err as Error).message}`, 'error');
    } finally {
      setStopping(false);
    }
  };

  const waited = task?.start ? (Date.parse(task.start) - Date.parse(task.created)) / 1000 : task && task.status === 'waiting' ? (now - Date.parse(task.created)) / 1000 : null;
  const ran = task?.start ? ((task.end ? Date.parse(task.end) : now) - Date.parse(task.start)) / 1000 : null;

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
          <a class="button" href={`${base}/raw_output`} download={`task-${taskId}.log`}>Download raw output</a>
          {template && final && <button type="button" onClick={() => setRerun(true)}>Run again</button>}
        </div>
      </div>

      {!task && <Loading what="Loading the task" />}
      {task && (
        <>
          <dl class="facts task-facts">
            <div><dt>Status</dt><dd data-testid="task-status"><StatusBadge status={task.status} />{task.exit_code !== null && task.exit_code !== undefined && <span class="muted small"> exit code {task.exit_code}</span>}</dd></div>
            <div><dt>Runner</dt><dd data-testid="task-runner">{task.runner_name || <span class="muted">{task.status === 'waiting' ? 'not yet assigned' : '—'}</span>}</dd></div>
            <div><dt>Commit</dt><dd>{task.commit_hash ? <><code>{task.commit_hash.slice(0, 10)}</code> <span class="muted small">{task.commit_message}</span></> : <span class="muted">—</span>}</dd></div>
            <div><dt>Branch</dt><dd>{task.git_branch || template?.git_branch || <span class="muted">default</span>}</dd></div>
            <div><dt>Created</dt><dd>{formatTime(task.created)}</dd></div>
            <div><dt>Started</dt><dd>{formatTime(task.start)}{waited !== null && <span class="muted small"> after {duration(waited)} waiting</span>}</dd></div>
            <div><dt>Finished</dt><dd>{formatTime(task.end)}</dd></div>
            <div><dt>Duration</dt><dd>{ran !== null ? duration(ran) : '—'}</dd></div>
            {task.message && <div><dt>Message</dt><dd>{task.message}</dd></div>}
            {(task.dry_run || task.debug || task.diff || task.limit || task.tags) && (
              <div><dt>Options</dt><dd>{[task.dry_run && 'dry run', task.diff && 'diff', task.debug && 'debug', task.limit && `limit ${task.limit}`, task.tags && `tags ${task.tags}`].filter(Boolean).join(' · ')}</dd></div>
            )}
          </dl>
          {task.status === 'waiting' && task.waiting_reason && (
            <p class="notice" role="status" data-testid="waiting-reason">Waiting: {task.waiting_reason === 'queued' ? 'queued for the next free runner' : task.waiting_reason}</p>
          )}
          {task.error && <div class="error-box" role="alert"><strong>Error:</strong> {task.error}</div>}
          <TaskNotifications task={task} />
        </>
      )}

      <div class="log-head">
        <h2>Output</h2>
        <span class="muted small" role="status" aria-live="polite" data-testid="stream-state">
          {output.count} line{output.count === 1 ? '' : 's'} · {output.streamState === 'live' ? 'live' : output.streamState === 'ended' ? 'complete' : output.streamState === 'reconnecting' ? 'reconnecting…' : 'loading…'}
        </span>
        <label class="inline small"><input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.currentTarget.checked)} /> Timestamps</label>
      </div>
      <ErrorBox error={output.error} title="Could not load the output" />
      <div class="log-wrap">
        {/* The log's children are managed outside Preact (appended in batches), so nothing else goes inside it. */}
        <div ref={box} class={`log${timestamps ? ' with-ts' : ''}`} role="log" aria-label="Task output" aria-live="off" tabIndex={0} data-testid="task-output" />
        {output.count === 0 && <p class="log-empty">{task && task.status === 'waiting' ? 'No output yet: the task is waiting for a runner.' : output.streamState === 'ended' ? 'This task wrote no output.' : 'No output yet.'}</p>}
        {!following && (
          <button type="button" class="follow-btn" onClick={output.follow}>↓ Follow output</button>
        )}
      </div>
      {template && <RunDialog template={rerun ? template : null} onClose={() => setRerun(false)} />}
    </div>
  );
}
