import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get, login } from '../api';
import { navigate, takeNavState } from '../router';
import { ErrorBox } from '../ui';

/** Only same-site paths are followed after login, never another origin. */
function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/login')) return '/';
  return next;
}

interface LoginMetadata { oidc_providers: Array<{ id: string; name: string }> }

export function LoginPage({ next, oidcError }: { next: string | null; oidcError?: string | null }) {
  const [providers, setProviders] = useState<LoginMetadata['oidc_providers']>([]);
  useEffect(() => {
    get<LoginMetadata>('/api/auth/login').then((meta) => setProviders(meta.oidc_providers), () => undefined);
  }, []);
  const [auth, setAuth] = useState('');
  const [password, setPassword] = useState('');
  // A single sign-on that failed comes back here with the server's message.
  const [error, setError] = useState<unknown>(() => (oidcError ? new Error(`Single sign-on failed: ${oidcError}`) : undefined));
  const [busy, setBusy] = useState(false);
  const [expired] = useState(() => Boolean(takeNavState<{ expired?: boolean }>()?.expired) || Boolean(next && next !== '/'));
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!auth || !password) {
      setError(new Error('enter your login (or email) and your password'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await login(auth.trim(), password);
      const target = safeNext(next);
      // Pages served by the server itself (the queue inspector) need a full load.
      if (target.startsWith('/admin/')) location.assign(target);
      else navigate(target, { replace: true });
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? new Error('Wrong login or password.') : err);
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login-page">
      <form class="login-card" onSubmit={submit} noValidate aria-labelledby="login-title">
        <h1 id="login-title"><span class="brand">Forge</span> Log in</h1>
        {expired && !error && <p class="notice" role="status">Log in to continue; you will return to the page you were on.</p>}
        <div class="field">
          <label for="login-auth">Login or email</label>
          <input id="login-auth" ref={first} name="auth" autoComplete="username" value={auth} onInput={(e) => setAuth(e.currentTarget.value)} required />
        </div>
        <div class="field">
          <label for="login-password">Password</label>
          <input id="login-password" name="password" type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
        </div>
        <ErrorBox error={error} />
        <button type="submit" class="primary wide" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
        {providers.length > 0 && (
          <div class="login-providers" role="group" aria-label="Single sign-on">
            {/* A full page load: the server sends the browser on to the provider. */}
            {providers.map((p) => (
              <a key={p.id} class="button wide" href={`/api/auth/oidc/${encodeURIComponent(p.id)}/login?redirect=${encodeURIComponent(safeNext(next))}`}>{p.name}</a>
            ))}
          </div>
        )}
        <p class="hint">First start? The server printed the admin password (also in <code>data/initial_admin_password</code>).</p>
      </form>
    </main>
  );
}
