/**
 * The REST client: same-origin fetch with the session cookie. A 401 on anything but login sends
 * the user to the login page with the page they were on, so they come back to it afterwards.
 */
import { navigate } from './router';
import type { ApiToken, HistoryPage, Info, LastTask, Placement, QueueRow, TaskRow, User } from './types';

export class ApiError extends Error {
  /** Field errors parsed from the API's "field: message; field2: message" form. */
  readonly fields: Record<string, string>;
  constructor(readonly status: number, message: string) {
    super(message);
    this.fields = parseFieldErrors(message);
  }
}

/** "name: must not be empty; ssh.private_key: needs a key" → {name: ..., 'ssh.private_key': ...}. */
export function parseFieldErrors(message: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of message.split('; ')) {
    const m = /^([A-Za-z_][\w.]*): (.+)$/s.exec(part);
    if (m && m[1] !== '(root)') out[m[1]!] = m[2]!;
  }
  return out;
}

let redirecting = false;

export function loginPath(): string {
  const here = location.pathname + location.search;
  return here.startsWith('/login') ? here : `/login?next=${encodeURIComponent(here)}`;
}

/** Sends the user to log in, remembering where they were. */
export function sessionExpired(): void {
  if (redirecting || location.pathname === '/login') return;
  redirecting = true;
  currentUser = null;
  navigate(loginPath(), { replace: true, state: { expired: true } });
  setTimeout(() => (redirecting = false), 0);
}

async function request(method: string, path: string, body?: unknown): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `cannot reach the Forge server (${(err as Error).message}); check your connection and try again`);
  }
  if (res.ok) return res;
  let message = `${res.status} ${res.statusText}`;
  try {
    const data = (await res.json()) as { error?: string };
    if (data.error) message = data.error;
  } catch {
    /* not JSON: keep the status line */
  }
  if (res.status === 401 && !path.startsWith('/api/auth/')) sessionExpired();
  throw new ApiError(res.status, message);
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await request(method, path, body);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const get = <T>(path: string) => api<T>('GET', path);

/** A page of a list endpoint that answers X-Total-Count. */
export async function getPage<T>(path: string): Promise<{ items: T[]; total: number }> {
  const res = await request('GET', path);
  const items = (await res.json()) as T[];
  return { items, total: Number(res.headers.get('X-Total-Count') ?? items.length) };
}

let currentUser: User | null = null;
const userListeners = new Set<(user: User | null) => void>();

export function setUser(user: User | null): void {
  currentUser = user;
  for (const fn of userListeners) fn(user);
}
export const getUser = () => currentUser;
export function onUser(fn: (user: User | null) => void): () => void {
  userListeners.add(fn);
  return () => userListeners.delete(fn);
}

export async function login(auth: string, password: string): Promise<User> {
  await api('POST', '/api/auth/login', { auth, password });
  const user = await get<User>('/api/user');
  setUser(user);
  return user;
}

export async function logout(): Promise<void> {
  await api('POST', '/api/auth/logout').catch(() => undefined);
  setUser(null);
  navigate('/login', { replace: true });
}

/**
 * Whether a stream that failed did so because the session ended (EventSource does not expose
 * the status): ask /api/user, which redirects to login on 401.
 */
export async function checkSession(): Promise<boolean> {
  try {
    await get<User>('/api/user');
    return true;
  } catch (err) {
    return !(err instanceof ApiError && err.status === 401);
  }
}

let info: Info | undefined;
/** /api/info (version, whether remote runners are on, the configured web_host), loaded once at start. */
export const serverInfo = () => info;
export async function loadInfo(): Promise<void> {
  try {
    info = await get<Info>('/api/info');
  } catch {
    /* the UI works without it */
  }
}

/**
 * The address runners should use: the server's web_host, unless that is the unset default
 * (localhost) while this browser reached the server under another name, or has port 0.
 */
export function webHost(): string {
  const configured = (info?.web_host ?? '').replace(/\/$/, '');
  if (!configured) return location.origin;
  try {
    const url = new URL(configured);
    const local = (h: string) => h === 'localhost' || h === '127.0.0.1' || h === '[::1]';
    if (url.port === '0' || (local(url.hostname) && !local(location.hostname))) return location.origin;
  } catch {
    return location.origin;
  }
  return configured;
}

/*
 * Every endpoint the UI's newer pages call, in one place (the API is being aligned with
 * Semaphore's names; a rename is a change here only).
 */
export const endpoints = {
  history: (projectId: number, query: string) => get<HistoryPage>(`/api/project/${projectId}/ui/history${query ? `?${query}` : ''}`),
  lastTasks: (projectId: number) => get<LastTask[]>(`/api/project/${projectId}/ui/last_tasks`),
  taskRow: (projectId: number, taskId: number) => get<TaskRow>(`/api/project/${projectId}/ui/tasks/${taskId}`),
  placement: (projectId: number, templateId: number) => get<Placement>(`/api/project/${projectId}/ui/placement/${templateId}`),
  queues: () => get<{ remote_runners: boolean; queues: QueueRow[] }>('/api/ui/queues'),
  tokens: () => get<ApiToken[]>('/api/user/tokens'),
  /** The token itself comes back once, as `id`. */
  createToken: () => api<ApiToken>('POST', '/api/user/tokens'),
  revokeToken: (id: string) => api<void>('DELETE', `/api/user/tokens/${encodeURIComponent(id)}`),
  users: () => get<User[]>('/api/users'),
  createUser: (body: { login: string; name: string; email: string; password: string; admin: boolean }) => api<User>('POST', '/api/users', body),
  setPassword: (userId: number, password: string, currentPassword?: string) =>
    api<void>('POST', `/api/users/${userId}/password`, currentPassword === undefined ? { password } : { password, current_password: currentPassword }),
};
