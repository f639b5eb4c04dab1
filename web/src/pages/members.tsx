import { useState } from 'preact/hooks';
import { api, get } from '../api';
import { PROJECT_ROLES, type ProjectMember, type ProjectRole, type User } from '../types';
import { ErrorBox, Loading, notify, useAsync } from '../ui';

const ROLE_HELP: Record<ProjectRole, string> = {
  owner: 'everything, including members and the project itself',
  manager: 'edits templates, keys, repositories, inventories, environments and runners; runs tasks',
  task_runner: 'runs and stops tasks',
  guest: 'reads only',
};

/** The project's members with their roles; owners change roles, add and remove members. */
export function MembersPanel({ projectId }: { projectId: number }) {
  const base = `/api/project/${projectId}`;
  const data = useAsync(async () => {
    const [members, mine, users] = await Promise.all([
      get<ProjectMember[]>(`${base}/users`), get<{ role: ProjectRole }>(`${base}/role`), get<User[]>('/api/users'),
    ]);
    return { members, role: mine.role, users };
  }, [projectId]);
  const [adding, setAdding] = useState({ user_id: '', role: 'task_runner' as ProjectRole });

  if (data.error) return <ErrorBox error={data.error} title="Could not load the members" />;
  if (!data.data) return <Loading what="Loading the members" />;
  const { members, role, users } = data.data;
  const owner = role === 'owner';
  const act = async (what: string, call: () => Promise<unknown>) => {
    try {
      await call();
      notify(what);
      await data.reload();
    } catch (err) {
      notify(`${what} failed: ${(err as Error).message}`, 'error');
    }
  };
  const others = users.filter((u) => !members.some((m) => m.id === u.id));

  return (
    <div class="panel narrow" aria-labelledby="members-title">
      <h3 id="members-title">Members</h3>
      <p class="muted small">Your role: <strong>{role}</strong> ({ROLE_HELP[role]}).</p>
      <table class="table">
        <thead><tr><th>User</th><th>Role</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          {members.map((m) => (
            <tr key={m.id}>
              <td>{m.name || m.username} <span class="muted small">{m.username}</span></td>
              <td>
                {owner ? (
                  <select aria-label={`Role of ${m.username}`} value={m.role}
                    onChange={(e) => void act(`${m.username} is now ${e.currentTarget.value}`, () => api('PUT', `${base}/users/${m.id}`, { role: e.currentTarget.value }))}>
                    {PROJECT_ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                  </select>
                ) : m.role}
              </td>
              <td>{owner && <button type="button" class="small" onClick={() => void act(`${m.username} removed`, () => api('DELETE', `${base}/users/${m.id}`))}>Remove</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {owner && others.length > 0 && (
        <form class="inline-form" onSubmit={(e) => {
          e.preventDefault();
          if (!adding.user_id) return;
          void act('Member added', () => api('POST', `${base}/users`, { user_id: Number(adding.user_id), role: adding.role }));
        }}>
          <select aria-label="User to add" value={adding.user_id} onChange={(e) => setAdding({ ...adding, user_id: e.currentTarget.value })}>
            <option value="">Add a user…</option>
            {others.map((u) => <option key={u.id} value={String(u.id)}>{u.name || u.username} ({u.username})</option>)}
          </select>
          <select aria-label="Role of the new member" value={adding.role} onChange={(e) => setAdding({ ...adding, role: e.currentTarget.value as ProjectRole })}>
            {PROJECT_ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
          <button type="submit" class="small primary" disabled={!adding.user_id}>Add</button>
        </form>
      )}
    </div>
  );
}
