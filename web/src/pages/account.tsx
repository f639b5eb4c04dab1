/** The user menu's pages: profile and password change, API tokens, and (admins) users. */
import { useState } from 'preact/hooks';
import { ApiError, endpoints } from '../api';
import type { ApiToken, User } from '../types';
import { ConfirmDialog, CopyButton, Dialog, Empty, ErrorBox, Field, Loading, notify, Time, useAsync } from '../ui';

function PasswordForm({ user }: { user: User }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<unknown>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const errors = {
    current: fieldErrors.current_password ?? (touched && !current ? 'type your current password' : undefined),
    next: fieldErrors.password ?? (touched && next.length < 8 ? 'at least 8 characters' : undefined),
    again: touched && again !== next ? 'the two new passwords differ' : undefined,
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched(true);
    if (!current || next.length < 8 || again !== next) return;
    setBusy(true);
    setError(undefined);
    setFieldErrors({});
    try {
      await endpoints.setPassword(user.id, next, current);
      notify('Password changed');
      setCurrent('');
      setNext('');
      setAgain('');
      setTouched(false);
    } catch (err) {
      if (err instanceof ApiError) setFieldErrors(err.fields);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} noValidate class="panel narrow" aria-labelledby="pw-title">
      <h2 id="pw-title">Change password</h2>
      <Field label="Current password" error={errors.current}>
        {(p) => <input {...p} type="password" name="current_password" autoComplete="current-password" value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />}
      </Field>
      <Field label="New password" error={errors.next} hint="At least 8 characters.">
        {(p) => <input {...p} type="password" name="password" autoComplete="new-password" value={next} onInput={(e) => setNext(e.currentTarget.value)} />}
      </Field>
      <Field label="New password again" error={errors.again}>
        {(p) => <input {...p} type="password" name="password_again" autoComplete="new-password" value={again} onInput={(e) => setAgain(e.currentTarget.value)} />}
      </Field>
      <ErrorBox error={error} title="The password was not changed" />
      <div class="actions"><button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Change password'}</button></div>
    </form>
  );
}

export function ProfilePage({ user }: { user: User }) {
  return (
    <section aria-labelledby="profile-title">
      <h1 id="profile-title">Profile</h1>
      <dl class="facts">
        <div><dt>Login</dt><dd>{user.username}</dd></div>
        <div><dt>Name</dt><dd>{user.name || <span class="muted">—</span>}</dd></div>
        <div><dt>Email</dt><dd>{user.email || <span class="muted">none</span>}</dd></div>
        <div><dt>Role</dt><dd>{user.admin ? 'admin' : 'user'}</dd></div>
        <div><dt>Since</dt><dd><Time iso={user.created} /></dd></div>
      </dl>
      <PasswordForm user={user} />
      <p>Scripts and the CLI use <a href="/user/tokens">API tokens</a> instead of your password.</p>
    </section>
  );
}

export function TokensPage() {
  const list = useAsync(() => endpoints.tokens(), []);
  const [created, setCreated] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const [busy, setBusy] = useState(false);
  const create = async () => {
    setBusy(true);
    try {
      const token = await endpoints.createToken();
      setCreated(token.id);
      await list.reload();
    } catch (err) {
      notify(`Could not create a token: ${(err as Error).message}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  const active = (list.data ?? []).filter((t) => !t.expired);
  return (
    <section aria-labelledby="tokens-title">
      <div class="page-head">
        <h1 id="tokens-title">API tokens</h1>
        <button type="button" class="primary" onClick={() => void create()} disabled={busy}>New token</button>
      </div>
      <p class="muted">Send a token as <code>Authorization: Bearer TOKEN</code>. It acts as you, with your rights.</p>
      <ErrorBox error={list.error} title="Could not load your tokens" />
      {!list.data && !list.error && <Loading what="Loading tokens" />}
      {list.data && active.length === 0 && <Empty title="No API tokens yet.">Create one for a script or the CLI; it is shown once.</Empty>}
      {active.length > 0 && (
        <div class="table-wrap">
          <table class="stack">
            <thead><tr><th scope="col">Token id</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {active.map((t) => (
                <tr key={t.id} data-token={t.id}>
                  <td data-label="Token id"><code>{t.id}…</code></td>
                  <td data-label="Created"><Time iso={t.created} /></td>
                  <td class="row-actions"><button type="button" class="small danger" onClick={() => setRevoking(t)} aria-label={`Revoke token ${t.id}`}>Revoke</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={created !== null} title="New API token" onClose={() => setCreated(null)}>
        <div class="token-once">
          <p><strong>Copy it now:</strong> this is the only time the token is shown.</p>
          <div class="token-row"><code class="token" data-testid="api-token">{created}</code><CopyButton text={created ?? ''} label="Copy API token" /></div>
        </div>
        <div class="actions"><button type="button" class="primary" onClick={() => setCreated(null)}>Done</button></div>
      </Dialog>
      <ConfirmDialog
        open={revoking !== null} title="Revoke token" confirmLabel="Revoke" onClose={() => setRevoking(null)}
        message={revoking && <p>Revoke token <code>{revoking.id}…</code>? Scripts using it stop working at once.</p>}
        onConfirm={async () => {
          await endpoints.revokeToken(revoking!.id);
          notify('Token revoked');
          await list.reload();
        }}
      />
    </section>
  );
}

function NewUserForm({ onDone, onCancel }: { onDone: () => void; onCancel: () => void }) {
  const [v, setV] = useState({ login: '', name: '', email: '', password: '', admin: false });
  const [error, setError] = useState<unknown>();
  const [fields, setFields] = useState<Record<string, string>>({});
  const [touched, setTouched] = useState(false);
  const local: Record<string, string | undefined> = {
    login: /^[a-z0-9_.@-]{1,64}$/i.test(v.login) ? undefined : 'use 1-64 letters, digits, "_", ".", "@" or "-"',
    password: v.password.length >= 8 ? undefined : 'at least 8 characters',
  };
  const err = (k: string) => fields[k] ?? (touched ? local[k] : undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched(true);
    if (Object.values(local).some(Boolean)) return;
    try {
      await endpoints.createUser(v);
      notify(`User "${v.login}" created`);
      onDone();
    } catch (e2) {
      if (e2 instanceof ApiError) setFields(e2.fields);
      setError(e2);
    }
  };
  const text = (k: 'login' | 'name' | 'email' | 'password', label: string, type: 'text' | 'password' = 'text') => (
    <Field label={label} error={err(k)}>
      {(p) => <input {...p} type={type as 'text'} name={k} autoComplete={type === 'password' ? 'new-password' : 'off'} value={v[k]} onInput={(e) => { setV({ ...v, [k]: e.currentTarget.value }); setFields({ ...fields, [k]: undefined as unknown as string }); }} />}
    </Field>
  );
  return (
    <form onSubmit={submit} noValidate>
      {text('login', 'Login')}
      {text('name', 'Name')}
      {text('email', 'Email')}
      {text('password', 'Password', 'password')}
      <div class="field checkbox"><label><input type="checkbox" name="admin" checked={v.admin} onChange={(e) => setV({ ...v, admin: e.currentTarget.checked })} /> Admin (sees every project, runners and queues)</label></div>
      <ErrorBox error={error} title="The user was not created" />
      <div class="actions"><button type="button" onClick={onCancel}>Cancel</button><button type="submit" class="primary">Create user</button></div>
    </form>
  );
}

export function UsersPage() {
  const list = useAsync(() => endpoints.users(), []);
  const [creating, setCreating] = useState(false);
  return (
    <section aria-labelledby="users-title">
      <div class="page-head">
        <h1 id="users-title">Users</h1>
        <button type="button" class="primary" onClick={() => setCreating(true)}>New user</button>
      </div>
      <ErrorBox error={list.error} title="Could not load users" />
      {!list.data && !list.error && <Loading what="Loading users" />}
      {list.data && (
        <div class="table-wrap">
          <table class="stack">
            <thead><tr><th scope="col">Login</th><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Since</th></tr></thead>
            <tbody>
              {list.data.map((u) => (
                <tr key={u.id} data-user={u.username}>
                  <td data-label="Login"><strong>{u.username}</strong></td>
                  <td data-label="Name">{u.name || <span class="muted">—</span>}</td>
                  <td data-label="Email">{u.email || <span class="muted">none</span>}</td>
                  <td data-label="Role">{u.admin ? 'admin' : 'user'}</td>
                  <td data-label="Since"><Time iso={u.created} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={creating} title="New user" onClose={() => setCreating(false)}>
        {creating && <NewUserForm onCancel={() => setCreating(false)} onDone={() => { setCreating(false); void list.reload(); }} />}
      </Dialog>
    </section>
  );
}
