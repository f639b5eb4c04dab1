/** Shared pieces: data loading, time formatting, dialogs, switches, tabs, copy buttons, toasts. */
import { Component, type ComponentChildren, type JSX } from 'preact';
import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import type { TaskStatus } from './types';

/**
 * Loads data for the given deps. The data is kept with the deps it was loaded for, and only data
 * loaded for the current deps is ever returned: a component reused for another resource (say, a
 * tab switching from Repositories to Inventories) shows "loading", never the previous rows.
 */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): {
  data: T | undefined; error: ApiError | Error | undefined; loading: boolean; reload: () => Promise<void>; setData: (d: T) => void;
  /** Shows `d` (what a save answered) at once, then reads again; a read already under way cannot bring back what was there before. */
  update: (d: T) => void;
} {
  const key = JSON.stringify(deps);
  const [state, setState] = useState<{ key: string; data?: T; error?: Error }>({ key });
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++generation.current;
    setLoading(true);
    try {
      const value = await load();
      if (mine === generation.current) setState({ key, data: value });
    } catch (err) {
      if (mine === generation.current) setState((cur) => ({ key, data: cur.key === key ? cur.data : undefined, error: err as Error }));
    } finally {
      if (mine === generation.current) setLoading(false);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  useEffect(() => {
    void reload();
  }, [reload]);
  const current = state.key === key;
  const setData = useCallback((d: T) => setState({ key, data: d }), [key]);
  const update = useCallback((d: T) => {
    setData(d);
    void reload(); // a new generation: an older read's answer is dropped
  }, [setData, reload]);
  return { data: current ? state.data : undefined, error: current ? state.error : undefined, loading: loading || !current, reload, setData, update };
}

/** The current time, refreshed every `ms`, for "3 s ago" labels. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

export function duration(sec: number): string {
  sec = Math.max(0, Math.round(sec));
  if (sec < 60) return `${sec} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${sec % 60} s`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min`;
  return `${Math.floor(sec / 86400)} d ${Math.floor((sec % 86400) / 3600)} h`;
}

export function ago(iso: string | null | undefined, now: number): string {
  if (!iso) return 'never';
  const sec = (now - Date.parse(iso)) / 1000;
  return sec < 1 ? 'just now' : `${duration(sec)} ago`;
}

const pad = (n: number) => String(n).padStart(2, '0');
/** "2026-11-30 01:47:27" in the browser's time zone: ISO order, no locale guessing. */
export function isoTime(iso: string | null | undefined, withSeconds = true): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${date} ${pad(d.getHours())}:${pad(d.getMinutes())}${withSeconds ? `:${pad(d.getSeconds())}` : ''}`;
}
export const clockTime = (iso: string) => {
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};
/** The exact time with its UTC offset, for hover titles. */
export function exactTime(iso: string): string {
  const d = new Date(iso);
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'UTC' : `UTC${off > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${isoTime(iso)} ${zone}`;
}

/** A relative time ("3 min ago") with the exact time on hover. */
export function TimeAgo({ iso, now }: { iso: string | null | undefined; now: number }) {
  if (!iso) return <span class="muted">never</span>;
  return <time dateTime={iso} title={exactTime(iso)}>{ago(iso, now)}</time>;
}

/** An ISO-ordered time with the exact time (and zone) on hover. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span class="muted">—</span>;
  return <time dateTime={iso} title={exactTime(iso)}>{isoTime(iso)}</time>;
}

export const formatTime = (iso: string | null | undefined) => isoTime(iso);

const STATUS_LABEL: Record<TaskStatus, string> = {
  waiting: 'Waiting', starting: 'Starting', running: 'Running', waiting_confirmation: 'Waiting for confirmation', confirmed: 'Confirmed', stopping: 'Stopping',
  stopped: 'Stopped', success: 'Success', error: 'Failed', rejected: 'Rejected',
};
export function StatusBadge({ status }: { status: TaskStatus }) {
  return <span class={`badge st-${status}`} data-status={status}>{STATUS_LABEL[status] ?? status}</span>;
}

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div class="error-box" role="alert">
      {title && <strong>{title}: </strong>}
      {message}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return <p class="loading" role="status">{what}…</p>;
}

/** An empty state that says what to do next. */
export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children && <div class="empty-next">{children}</div>}
    </div>
  );
}

/** A modal on the native <dialog>: focus is trapped, Escape closes, focus returns afterwards. */
export function Dialog({ open, title, onClose, children, wide }: { open: boolean; title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} class={wide ? 'wide' : ''} aria-labelledby={titleId} onClose={onClose} onCancel={(e) => { e.preventDefault(); onClose(); }}>
      {open && (
        <div class="dialog-body">
          <header class="dialog-head">
            <h2 id={titleId}>{title}</h2>
            <button type="button" class="icon-btn" aria-label="Close dialog" onClick={onClose}>×</button>
          </header>
          {children}
        </div>
      )}
    </dialog>
  );
}

export function ConfirmDialog({ open, title, message, confirmLabel, onConfirm, onClose, danger = true }: {
  open: boolean; title: string; message: ComponentChildren; confirmLabel: string; onConfirm: () => Promise<void>; onClose: () => void; danger?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (open) setError(undefined);
  }, [open]);
  return (
    <Dialog open={open} title={title} onClose={onClose}>
      <div class="confirm-message">{message}</div>
      <ErrorBox error={error} />
      <div class="actions">
        <button type="button" onClick={onClose}>Cancel</button>
        <button
          type="button" class={danger ? 'danger' : 'primary'} disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await onConfirm();
              onClose();
            } catch (err) {
              setError(err);
            } finally {
              setBusy(false);
            }
          }}
        >
          {busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}

export function Switch({ checked, onChange, label, disabled }: { checked: boolean; onChange: (v: boolean) => void; label: string; disabled?: boolean }) {
  return (
    <button type="button" role="switch" aria-checked={checked} aria-label={label} class="switch" disabled={disabled} onClick={() => onChange(!checked)}>
      <span class="switch-knob" aria-hidden="true" />
    </button>
  );
}

/** Tabs with the ARIA tab pattern: arrow keys move between tabs. */
export function Tabs({ tabs, label }: { tabs: Array<{ id: string; title: string; body: ComponentChildren }>; label: string }) {
  const [active, setActive] = useState(tabs[0]!.id);
  const base = useId();
  const refs = useRef<Array<HTMLButtonElement | null>>([]);
  const onKey = (e: KeyboardEvent, i: number) => {
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : null;
    if (next === null) return;
    e.preventDefault();
    const j = (next + tabs.length) % tabs.length;
    setActive(tabs[j]!.id);
    refs.current[j]?.focus();
  };
  return (
    <div class="tabs">
      <div role="tablist" aria-label={label} class="tablist">
        {tabs.map((t, i) => (
          <button
            key={t.id} ref={(el) => { refs.current[i] = el; }} type="button" role="tab" id={`${base}-t-${t.id}`} aria-controls={`${base}-p-${t.id}`}
            aria-selected={active === t.id} tabIndex={active === t.id ? 0 : -1} onClick={() => setActive(t.id)} onKeyDown={(e) => onKey(e, i)}
          >
            {t.title}
          </button>
        ))}
      </div>
      {tabs.map((t) => (
        <div key={t.id} role="tabpanel" id={`${base}-p-${t.id}`} aria-labelledby={`${base}-t-${t.id}`} hidden={active !== t.id} class="tabpanel">
          {t.body}
        </div>
      ))}
    </div>
  );
}

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-HTTP servers: the Clipboard API is unavailable; fall back to a selection copy.
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'offscreen';
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('the browser refused to copy; select the text and copy it by hand');
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [state, setState] = useState<'idle' | 'done' | 'failed'>('idle');
  return (
    <button
      // The accessible name contains the visible text in every state (WCAG 2.5.3).
      type="button" class="copy-btn" aria-label={state === 'done' ? `${label}: Copied` : state === 'failed' ? `${label}: Copy failed` : label}
      onClick={async () => {
        try {
          await copyText(text);
          setState('done');
        } catch {
          setState('failed');
        }
        setTimeout(() => setState('idle'), 2000);
      }}
    >
      {state === 'done' ? 'Copied' : state === 'failed' ? 'Copy failed' : 'Copy'}
      <span class="sr-only" role="status">{state === 'done' ? 'Copied to the clipboard' : ''}</span>
    </button>
  );
}

/** A code block with a copy button. */
export function CodeBlock({ code, label }: { code: string; label: string }) {
  return (
    <div class="code-block">
      <pre tabIndex={0} aria-label={label}><code>{code}</code></pre>
      <CopyButton text={code} label={`Copy ${label}`} />
    </div>
  );
}

type Toast = { id: number; kind: 'ok' | 'error'; text: string };
let toastId = 0;
const toastListeners = new Set<(t: Toast[]) => void>();
let toasts: Toast[] = [];
function setToasts(next: Toast[]) {
  toasts = next;
  for (const fn of toastListeners) fn(toasts);
}
/** A short message in the corner, read out by screen readers. Errors stay until dismissed. */
export function notify(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const t = { id: ++toastId, kind, text };
  setToasts([...toasts, t]);
  if (kind === 'ok') setTimeout(() => setToasts(toasts.filter((x) => x.id !== t.id)), 4000);
}
export function Toasts() {
  const [list, setList] = useState(toasts);
  useEffect(() => {
    toastListeners.add(setList);
    return () => void toastListeners.delete(setList);
  }, []);
  return (
    <div class="toasts" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast ${t.kind}`} role={t.kind === 'error' ? 'alert' : undefined}>
          <span>{t.text}</span>
          <button type="button" class="icon-btn" aria-label="Dismiss message" onClick={() => setToasts(toasts.filter((x) => x.id !== t.id))}>×</button>
        </div>
      ))}
    </div>
  );
}

export function Pagination({ offset, limit, total, onChange }: { offset: number; limit: number; total: number; onChange: (offset: number) => void }) {
  if (total <= limit && offset === 0) return null;
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  return (
    <nav class="pagination" aria-label="Pages">
      <button type="button" disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - limit))}>← Newer</button>
      <span>Page {page} of {pages} · {total} tasks</span>
      <button type="button" disabled={offset + limit >= total} onClick={() => onChange(offset + limit)}>Older →</button>
    </nav>
  );
}

/** A labelled form field with its validation message wired to aria-describedby. */
export function Field({ label, error, hint, children, id }: { label: string; error?: string; hint?: ComponentChildren; children: (props: { id: string; 'aria-invalid': boolean; 'aria-describedby': string | undefined }) => JSX.Element; id?: string }) {
  const auto = useId();
  const fieldId = id ?? auto;
  const describedBy = [error ? `${fieldId}-err` : '', hint ? `${fieldId}-hint` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${error ? ' invalid' : ''}`}>
      <label for={fieldId}>{label}</label>
      {children({ id: fieldId, 'aria-invalid': Boolean(error), 'aria-describedby': describedBy })}
      {hint && <div class="hint" id={`${fieldId}-hint`}>{hint}</div>}
      {error && <div class="field-error" id={`${fieldId}-err`}>{error}</div>}
    </div>
  );
}

export function Dot({ status }: { status: string }) {
  return <span class={`dot dot-${status}`} aria-hidden="true" />;
}

/**
 * Catches a rendering error in the page below it and shows what happened with a retry, instead of
 * a blank page. Keyed by the page's address, so moving to another page starts clean.
 */
export class ErrorBoundary extends Component<{ children: ComponentChildren }, { error: Error | null; attempt: number }> {
  override state = { error: null as Error | null, attempt: 0 };
  static override getDerivedStateFromError(error: Error) {
    return { error };
  }
  override componentDidCatch(error: Error) {
    this.setState({ error });
  }
  render() {
    const { error, attempt } = this.state;
    if (error) {
      return (
        <div class="error-box page-error" role="alert">
          <h1>This page failed to show</h1>
          <p>{error.message}</p>
          <p><button type="button" class="primary" onClick={() => this.setState({ error: null, attempt: attempt + 1 })}>Try again</button> or go to the <a href="/">dashboard</a>.</p>
        </div>
      );
    }
    return <div key={attempt} class="page-body">{this.props.children}</div>;
  }
}
