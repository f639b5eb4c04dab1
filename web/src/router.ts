/** A small history router: paths as the server serves them (it answers index.html for any page path). */
import { useEffect, useState } from 'preact/hooks';

type Listener = () => void;
const listeners = new Set<Listener>();
let navState: unknown = null;

export function navigate(to: string, options: { replace?: boolean; state?: unknown } = {}): void {
  navState = options.state ?? null;
  if (options.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const fn of listeners) fn();
  if (!options.replace) window.scrollTo(0, 0);
}

/** State passed with the last navigate() (e.g. that the session expired), cleared after reading. */
export function takeNavState<T>(): T | null {
  const s = navState as T | null;
  navState = null;
  return s;
}

window.addEventListener('popstate', () => {
  navState = null;
  for (const fn of listeners) fn();
});

export interface Location { path: string; query: URLSearchParams }

export function useLocation(): Location {
  const [, setTick] = useState(0);
  useEffect(() => {
    const fn = () => setTick((n) => n + 1);
    listeners.add(fn);
    return () => void listeners.delete(fn);
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** Matches "/project/:pid/tasks/:tid" against a path; numbers stay strings. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i]!.startsWith(':')) params[p[i]!.slice(1)] = decodeURIComponent(s[i]!);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

/** Click handler for same-origin links: client-side navigation unless a modifier asks for a new tab. */
export function onLinkClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element).closest('a');
  if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
  if (a.pathname.startsWith('/api/') || a.pathname.startsWith('/admin/') || a.pathname === '/metrics') return;
  e.preventDefault();
  navigate(a.pathname + a.search + a.hash);
}

/** Sets ?key=value on the current URL without adding a history entry. */
export function setQuery(values: Record<string, string | null>): void {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(values)) {
    if (v === null || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  navigate(location.pathname + (s ? `?${s}` : ''), { replace: true });
}
