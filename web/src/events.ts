/** Live updates from GET /api/events/live (Server-Sent Events). */
import { useEffect, useRef } from 'preact/hooks';
import { checkSession, sessionExpired } from './api';

export type LiveEvent = { type: 'task'; id: number; project_id: number; status: string } | { type: 'runner'; id: number; status: string } | { type: 'dashboard'; data: unknown };

/**
 * Opens an EventSource while mounted and calls `onEvent` for each event. EventSource reconnects
 * by itself; when it fails, /api/user tells whether the session ended (then: login page).
 */
export function useLiveEvents(onEvent: (e: LiveEvent) => void, options: { summary?: boolean; onStatus?: (live: boolean) => void } = {}): void {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const status = useRef(options.onStatus);
  status.current = options.onStatus;
  useEffect(() => {
    const source = new EventSource(`/api/events/live${options.summary ? '?summary=1' : ''}`);
    source.addEventListener('open', () => status.current?.(true));
    source.addEventListener('task', (e) => handler.current({ type: 'task', ...(JSON.parse((e as MessageEvent).data) as { id: number; project_id: number; status: string }) }));
    source.addEventListener('runner', (e) => handler.current({ type: 'runner', ...(JSON.parse((e as MessageEvent).data) as { id: number; status: string }) }));
    source.addEventListener('dashboard', (e) => handler.current({ type: 'dashboard', data: JSON.parse((e as MessageEvent).data) }));
    source.addEventListener('expired', () => {
      source.close();
      sessionExpired();
    });
    source.addEventListener('error', () => {
      status.current?.(false);
      void checkSession().then((ok) => {
        if (!ok) source.close();
      });
    });
    return () => source.close();
  }, [options.summary]);
}

/** Calls `fn` at most once per `ms`, trailing, for refetching after bursts of events. */
export function useThrottled(fn: () => void, ms: number): () => void {
  const timer = useRef<number | undefined>(undefined);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => clearTimeout(timer.current), []);
  return () => {
    if (timer.current !== undefined) return;
    timer.current = window.setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
  };
}
