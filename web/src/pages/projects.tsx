import { useState } from 'preact/hooks';
import { api, endpoints, get } from '../api';
import { useLiveEvents, useThrottled } from '../events';
import { ResourceForm, ResourceSection, type ResourceSpec, type Values } from '../resource';
import { navigate } from '../router';
import type { AccessKey, Environment, HostConfig, Inventory, LastTask as LastTaskRow, Project, Repository, Template } from '../types';
import { ConfirmDialog, Dialog, Empty, ErrorBox, Loading, notify, StatusBadge, Time, TimeAgo, useAsync, useNow } from '../ui';
import { TaskHistory } from './history';
import { MembersPanel } from './members';
import { RunnersPage } from './runners';
import { IntegrationsSection } from './integrations';
import { NotificationsSection } from './notifications';
import { SchedulesSection } from './schedules';
import { RunDialog, templateSpec } from './templates';
import { WorkflowsSection } from './workflows';
import { validateGitUrl, validateJsonObject, validateName } from '../validate';

const projectSpec: ResourceSpec<Project> = {
  api: '/api/projects', title: 'Projects', singular: 'Project', empty: null,
  fields: [
    { key: 'name', label: 'Name', kind: 'text', validate: (x) => validateName(String(x ?? '')) },
    {
      key: 'max_parallel_tasks', label: 'Max parallel tasks', kind: 'number', hint: '0 means no limit.',
      validate: (x) => (/^\d+$/.test(String(x)) && Number(x) <= 1000 ? undefined : 'a whole number from 0 to 1000'),
    },
  ],
  initial: (p) => ({ name: p?.name ?? '', max_parallel_tasks: String(p?.max_parallel_tasks ?? 0) }),
  toBody: (v) => ({ name: String(v.name).trim(), max_parallel_tasks: Number(v.max_parallel_tasks) }),
  columns: [],
};

export function ProjectsPage() {
  const list = useAsync(() => get<Project[]>('/api/projects'), []);
  const [creating, setCreating] = useState(false);
  return (
    <section aria-labelledby="projects-title">
      <div class="page-head">
        <h1 id="projects-title">Projects</h1>
        <button type="button" class="primary" onClick={() => setCreating(true)}>New project</button>
      </div>
      <ErrorBox error={list.error} title="Could not load projects" />
      {!list.data && !list.error && <Loading what="Loading projects" />}
      {list.data && list.data.length === 0 && (
        <Empty title="No projects yet — create one.">A project holds the repositories, keys, inventories, environments and templates your tasks run from.</Empty>
      )}
      {list.data && list.data.length > 0 && (
        <ul class="project-list">
          {list.data.map((p) => (
            <li key={p.id}>
              <a href={`/project/${p.id}/templates`} class="card project-card">
                <strong>{p.name}</strong>
                <span class="muted small">created <Time iso={p.created} />{p.max_parallel_tasks ? ` · up to ${p.max_parallel_tasks} tasks at once` : ''}</span>
              </a>
            </li>
          ))}
        </ul>
      )}
      <Dialog open={creating} title="New project" onClose={() => setCreating(false)}>
        {creating && <ResourceForm spec={projectSpec} onCancel={() => setCreating(false)} onDone={(p) => navigate(`/project/${p.id}/templates`)} />}
      </Dialog>
    </section>
  );
}

export interface Lookups { keys: AccessKey[]; repositories: Repository[]; inventories: Inventory[]; environments: Environment[] }

const SECTIONS: Array<[string, string]> = [
  ['templates', 'Templates'], ['workflows', 'Workflows'], ['tasks', 'Task history'], ['repositories', 'Repositories'], ['inventory', 'Inventories'],
  ['environment', 'Environments'], ['keys', 'Key store'], ['runners', 'Runners'],
  ['schedules', 'Schedules'], ['integrations', 'Integrations'], ['notifications', 'Notifications'], ['settings', 'Settings'],
];

const KEY_TYPES: Array<[string, string]> = [['none', 'None'], ['ssh', 'SSH key'], ['login_password', 'Login and password']];

function keySpec(pid: number, onChanged: () => void): ResourceSpec<AccessKey> {
  const secretHint = (editing: boolean) => (editing ? 'Stored and never shown. Leave empty to keep it; type to replace it.' : undefined);
  return {
    api: `/api/project/${pid}/keys`, title: 'Key store', singular: 'Key', onChanged,
    empty: 'Add an SSH key or a login and password that repositories and inventories use to connect. Public repositories need none.',
    fields: [
      { key: 'name', label: 'Name', kind: 'text', validate: (x) => validateName(String(x ?? '')) },
      { key: 'type', label: 'Type', kind: 'select', options: KEY_TYPES },
      { key: 'ssh_login', label: 'Login (optional)', kind: 'text', visible: (v) => v.type === 'ssh', autoComplete: 'off' },
      {
        key: 'ssh_private_key', label: 'Private key', kind: 'custom', visible: (v) => v.type === 'ssh',
        validate: (x, _v, editing) => {
          const s = String(x ?? '');
          if (!s && editing) return undefined;
          return s.includes('PRIVATE KEY') ? undefined : 'paste a PEM or OpenSSH private key (-----BEGIN … PRIVATE KEY-----)';
        },
        render: (value, set, editing, error) => (
          <div class={`field${error ? ' invalid' : ''}`}>
            <label for="f-ssh_private_key">Private key</label>
            <textarea id="f-ssh_private_key" name="ssh_private_key" class="mono secret" rows={6} value={String(value ?? '')} onInput={(e) => set(e.currentTarget.value)}
              placeholder={editing ? '•••••• stored — leave empty to keep' : '-----BEGIN OPENSSH PRIVATE KEY-----'} autoComplete="off" spellcheck={false}
              aria-invalid={Boolean(error)} aria-describedby="f-ssh_private_key-hint f-ssh_private_key-err" />
            <div class="hint" id="f-ssh_private_key-hint">{secretHint(editing) ?? 'Stored encrypted; never shown again.'}</div>
            {error && <div class="field-error" id="f-ssh_private_key-err">{error}</div>}
          </div>
        ),
      },
      { key: 'ssh_passphrase', label: 'Passphrase (optional)', kind: 'password', visible: (v) => v.type === 'ssh', autoComplete: 'new-password' },
      { key: 'lp_login', label: 'Login', kind: 'text', visible: (v) => v.type === 'login_password', autoComplete: 'off' },
      { key: 'lp_password', label: 'Password', kind: 'password', visible: (v) => v.type === 'login_password', autoComplete: 'new-password', hint: 'Stored encrypted and never shown. When editing, leave empty to keep it.' },
    ],
    initial: (k) => ({ name: k?.name ?? '', type: k?.type ?? 'none', ssh_login: '', ssh_private_key: '', ssh_passphrase: '', lp_login: '', lp_password: '' }),
    toBody: (v) => {
      const body: Record<string, unknown> = { name: String(v.name).trim(), type: v.type };
      if (v.type === 'ssh' && (v.ssh_private_key || v.ssh_login || v.ssh_passphrase)) body.ssh = { login: v.ssh_login, private_key: v.ssh_private_key, passphrase: v.ssh_passphrase };
      if (v.type === 'login_password' && (v.lp_login || v.lp_password)) body.login_password = { login: v.lp_login, password: v.lp_password };
      return body;
    },
    mapField: (f) => ({ 'ssh.private_key': 'ssh_private_key', 'ssh.login': 'ssh_login', login_password: 'lp_password' }[f] ?? f.split('.')[0]!),
    columns: [
      { label: 'Name', render: (k) => k.name },
      { label: 'Type', render: (k) => KEY_TYPES.find(([t]) => t === k.type)?.[1] ?? k.type },
    ],
  };
}

const keyOptions = (keys: AccessKey[], none = 'None'): Array<[string, string]> => [['', none], ...keys.map((k): [string, string] => [String(k.id), k.name])];
const idOrNull = (x: unknown) => (x ? Number(x) : null);

function repositorySpec(pid: number, l: Lookups, onChanged: () => void): ResourceSpec<Repository> {
  return {
    api: `/api/project/${pid}/repositories`, title: 'Repositories', singular: 'Repository', onChanged,
    empty: 'Add the git repository your playbooks or scripts live in (any URL git can clone: https://, ssh://, file:// or a path).',
    fields: [
      { key: 'name', label: 'Name', kind: 'text', validate: (x) => validateName(String(x ?? '')) },
      { key: 'git_url', label: 'Git URL', kind: 'text', mono: true, placeholder: 'https://github.com/org/repo.git', validate: (x) => validateGitUrl(String(x ?? '')) },
      { key: 'git_branch', label: 'Branch', kind: 'text', placeholder: 'main', hint: 'Empty: the repository\'s default branch.' },
      { key: 'ssh_key_id', label: 'Access key', kind: 'select', options: keyOptions(l.keys, 'None (public repository)') },
    ],
    initial: (r) => ({ name: r?.name ?? '', git_url: r?.git_url ?? '', git_branch: r?.git_branch ?? '', ssh_key_id: r?.ssh_key_id ? String(r.ssh_key_id) : '' }),
    toBody: (v) => ({ name: String(v.name).trim(), git_url: String(v.git_url).trim(), git_branch: String(v.git_branch).trim(), ssh_key_id: idOrNull(v.ssh_key_id) }),
    columns: [
      { label: 'Name', render: (r) => r.name },
      { label: 'URL', render: (r) => <code class="url">{r.git_url}</code> },
      { label: 'Branch', render: (r) => r.git_branch || <span class="muted">default</span> },
      { label: 'Key', render: (r) => l.keys.find((k) => k.id === r.ssh_key_id)?.name ?? <span class="muted">none</span> },
    ],
  };
}

function hostConfigSpec(pid: number, l: Lookups, onChanged: () => void): ResourceSpec<HostConfig> {
  const sshKeys = l.keys.filter((k) => k.type === 'ssh');
  return {
    api: `/api/project/${pid}/host_configs`, title: 'Host configs', singular: 'Host config', onChanged,
    empty: 'Map an SSH host or a git URL prefix to an SSH key: repositories without a key of their own then clone with it.',
    fields: [
      { key: 'type', label: 'Match', kind: 'select', options: [['host', 'SSH host name'], ['url', 'Git URL prefix']] },
      {
        key: 'host', label: 'Host or URL prefix', kind: 'text', mono: true, placeholder: 'github.com',
        validate: (x) => (!String(x ?? '').trim() ? 'enter a host name or a URL prefix' : /\s/.test(String(x).trim()) ? 'must not contain spaces' : undefined),
      },
      {
        key: 'ssh_key_id', label: 'SSH key', kind: 'select', options: [['', 'Choose an SSH key'], ...sshKeys.map((k): [string, string] => [String(k.id), k.name])],
        validate: (x) => (x ? undefined : 'choose an SSH key (add one to the key store first)'),
      },
    ],
    initial: (h) => ({ type: h?.type ?? 'host', host: h?.host ?? '', ssh_key_id: h ? String(h.ssh_key_id) : '' }),
    toBody: (v) => ({ type: v.type, host: String(v.host).trim(), ssh_key_id: Number(v.ssh_key_id) }),
    columns: [
      { label: 'Match', render: (h) => (h.type === 'url' ? 'Git URL prefix' : 'SSH host') },
      { label: 'Host or URL prefix', render: (h) => <code class="url">{h.host}</code> },
      { label: 'SSH key', render: (h) => l.keys.find((k) => k.id === h.ssh_key_id)?.name ?? `#${h.ssh_key_id}` },
    ],
  };
}

function inventorySpec(pid: number, l: Lookups, onChanged: () => void): ResourceSpec<Inventory> {
  return {
    api: `/api/project/${pid}/inventory`, title: 'Inventories', singular: 'Inventory', onChanged,
    empty: 'Ansible templates need an inventory: the hosts to run on. Other apps can do without.',
    fields: [
      { key: 'name', label: 'Name', kind: 'text', validate: (x) => validateName(String(x ?? '')) },
      { key: 'type', label: 'Type', kind: 'select', options: [['static', 'Static (INI)'], ['static-yaml', 'Static (YAML)'], ['file', 'File in the repository']] },
      { key: 'inventory', label: 'Inventory', kind: 'textarea', mono: true, hint: 'For "File": the path in the repository.', validate: (x) => (String(x ?? '').length > 1024 * 1024 ? 'at most 1 MiB' : undefined) },
      { key: 'ssh_key_id', label: 'SSH key for the hosts', kind: 'select', options: keyOptions(l.keys) },
      { key: 'become_key_id', label: 'Become (sudo) key', kind: 'select', options: keyOptions(l.keys) },
    ],
    initial: (i) => ({ name: i?.name ?? '', type: i?.type ?? 'static', inventory: i?.inventory ?? '', ssh_key_id: i?.ssh_key_id ? String(i.ssh_key_id) : '', become_key_id: i?.become_key_id ? String(i.become_key_id) : '' }),
    toBody: (v) => ({ name: String(v.name).trim(), type: v.type, inventory: v.inventory, ssh_key_id: idOrNull(v.ssh_key_id), become_key_id: idOrNull(v.become_key_id) }),
    columns: [
      { label: 'Name', render: (i) => i.name },
      { label: 'Type', render: (i) => i.type },
      { label: 'Hosts', render: (i) => <span class="muted small">{i.inventory.split('\n').filter(Boolean).length} line(s)</span> },
    ],
  };
}

interface SecretRow { id?: number; name: string; type: 'env' | 'var'; value: string; remove?: boolean }

function SecretsEditor({ value, set, editing }: { value: SecretRow[]; set: (rows: SecretRow[]) => void; editing: boolean }) {
  const update = (i: number, patch: Partial<SecretRow>) => set(value.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <fieldset class="secrets">
      <legend>Secrets</legend>
      <p class="hint">Passed to the task as environment variables (env) or extra variables (var). Values are write-only: stored encrypted and never shown again.</p>
      {value.length === 0 && <p class="muted small">No secrets.</p>}
      {value.map((row, i) => {
        const nameError = row.name && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(row.name) ? 'letters, digits and "_", not starting with a digit' : !row.name ? 'must not be empty' : undefined;
        return (
          <div key={i} class={`secret-row${row.remove ? ' removed' : ''}`}>
            <div class={`field${nameError ? ' invalid' : ''}`}>
              <label for={`secret-name-${i}`}>Name</label>
              <input id={`secret-name-${i}`} value={row.name} disabled={Boolean(row.id) || row.remove} onInput={(e) => update(i, { name: e.currentTarget.value })} aria-invalid={Boolean(nameError)} class="mono" />
              {nameError && !row.remove && <div class="field-error">{nameError}</div>}
            </div>
            <div class="field">
              <label for={`secret-type-${i}`}>As</label>
              <select id={`secret-type-${i}`} value={row.type} disabled={row.remove} onChange={(e) => update(i, { type: e.currentTarget.value as 'env' | 'var' })}>
                <option value="env">env</option><option value="var">var</option>
              </select>
            </div>
            <div class="field grow">
              <label for={`secret-value-${i}`}>Value</label>
              <input id={`secret-value-${i}`} type="password" autoComplete="new-password" value={row.value} disabled={row.remove} placeholder={row.id ? '•••••• stored — type to replace' : ''} onInput={(e) => update(i, { value: e.currentTarget.value })} />
            </div>
            <button type="button" class="small" onClick={() => (row.id ? update(i, { remove: !row.remove }) : set(value.filter((_, j) => j !== i)))} aria-label={`${row.remove ? 'Keep' : 'Remove'} secret ${row.name || i + 1}`}>
              {row.remove ? 'Keep' : 'Remove'}
            </button>
          </div>
        );
      })}
      <button type="button" class="small" onClick={() => set([...value, { name: '', type: 'env', value: '' }])}>Add secret</button>
      {editing && null}
    </fieldset>
  );
}

function environmentSpec(pid: number, onChanged: () => void): ResourceSpec<Environment> {
  return {
    api: `/api/project/${pid}/environment`, title: 'Environments', singular: 'Environment', onChanged,
    empty: 'An environment holds extra variables, environment variables and secrets a template passes to its task.',
    fields: [
      { key: 'name', label: 'Name', kind: 'text', validate: (x) => validateName(String(x ?? '')) },
      { key: 'json', label: 'Extra variables (JSON)', kind: 'textarea', mono: true, placeholder: '{"key": "value"}', validate: (x) => validateJsonObject(String(x ?? '')) },
      { key: 'env', label: 'Environment variables (JSON)', kind: 'textarea', mono: true, placeholder: '{"HTTP_PROXY": "http://proxy:3128"}', validate: (x) => validateJsonObject(String(x ?? '')) },
      {
        key: 'password', label: 'Vault password', kind: 'custom',
        render: (value, set, editing) => {
          const v = value as { text: string; clear: boolean; set: boolean };
          return (
            <div class="field">
              <label for="f-password">Vault password</label>
              <input id="f-password" type="password" autoComplete="new-password" value={v.text} disabled={v.clear} onInput={(e) => set({ ...v, text: e.currentTarget.value })}
                placeholder={editing && v.set ? '•••••• stored — leave empty to keep' : 'optional'} aria-describedby="f-password-hint" />
              <div class="hint" id="f-password-hint">Write-only: stored encrypted and never shown.</div>
              {editing && v.set && <label class="inline"><input type="checkbox" checked={v.clear} onChange={(e) => set({ ...v, clear: e.currentTarget.checked, text: '' })} /> Remove the stored password</label>}
            </div>
          );
        },
      },
      {
        key: 'secrets', label: 'Secrets', kind: 'custom',
        validate: (x) => ((x as SecretRow[]).some((r) => !r.remove && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(r.name)) ? 'fix the secret names' : undefined),
        render: (value, set, editing, error) => <div><SecretsEditor value={value as SecretRow[]} set={set} editing={editing} />{error && <div class="field-error">{error}</div>}</div>,
      },
    ],
    initial: (e) => ({
      name: e?.name ?? '', json: e?.json && e.json !== '{}' ? e.json : '', env: e?.env && e.env !== '{}' ? e.env : '',
      password: { text: '', clear: false, set: Boolean(e?.password_set) },
      secrets: (e?.secrets ?? []).map((s): SecretRow => ({ id: s.id, name: s.name, type: s.type, value: '' })),
    }),
    toBody: (v: Values) => {
      const pw = v.password as { text: string; clear: boolean };
      const secrets = (v.secrets as SecretRow[]).flatMap((r): Array<Record<string, unknown>> => {
        if (r.remove) return [{ id: r.id, name: r.name, type: r.type, operation: 'delete' }];
        if (r.id) return [{ id: r.id, name: r.name, type: r.type, operation: 'update', ...(r.value ? { secret: r.value } : {}) }];
        return [{ name: r.name, type: r.type, secret: r.value, operation: 'create' }];
      });
      return {
        name: String(v.name).trim(), json: String(v.json || '{}'), env: String(v.env || '{}'), secrets,
        ...(pw.clear ? { password: '' } : pw.text ? { password: pw.text } : {}),
      };
    },
    mapField: (f) => (f.startsWith('secrets') ? 'secrets' : f.split('.')[0]!),
    columns: [
      { label: 'Name', render: (e) => e.name },
      { label: 'Variables', render: (e) => <span class="muted small">{Object.keys(JSON.parse(e.json || '{}')).length} extra · {Object.keys(JSON.parse(e.env || '{}')).length} env</span> },
      { label: 'Secrets', render: (e) => (e.secrets.length ? e.secrets.map((s) => <span key={s.id} class="tag">{s.name}</span>) : <span class="muted">none</span>) },
      { label: 'Vault password', render: (e) => (e.password_set ? 'set' : <span class="muted">none</span>) },
    ],
  };
}

function ProjectSettings({ project, onSaved }: { project: Project; onSaved: (saved: Project) => void }) {
  const [deleting, setDeleting] = useState(false);
  return (
    <section aria-labelledby="settings-title">
      <h2 id="settings-title">Settings</h2>
      <div class="panel narrow">
        <ResourceForm spec={{ ...projectSpec, api: '/api/project' }} editing={project} onDone={onSaved} onCancel={() => navigate(`/project/${project.id}/templates`)} />
      </div>
      <MembersPanel projectId={project.id} />
      <div class="panel narrow danger-zone">
        <h3>Delete this project</h3>
        <p>Deletes its templates, repositories, inventories, environments, keys and task history.</p>
        <button type="button" class="danger" onClick={() => setDeleting(true)}>Delete project</button>
      </div>
      <ConfirmDialog
        open={deleting} title="Delete project" confirmLabel="Delete project" onClose={() => setDeleting(false)}
        message={<p>Delete project <strong>{project.name}</strong> and everything in it? This cannot be undone.</p>}
        onConfirm={async () => {
          await api('DELETE', `/api/project/${project.id}`);
          notify(`Project "${project.name}" deleted`);
          navigate('/projects');
        }}
      />
    </section>
  );
}

/** The newest task of a template: status, when, and who started it. */
function LastTask({ pid, last, now }: { pid: number; last: LastTaskRow | undefined; now: number }) {
  if (!last) return <span class="muted">…</span>;
  const t = last.task;
  if (!t) return <span class="muted">never run</span>;
  return (
    <span class="last-task" data-last-status={t.status}>
      <a href={`/project/${pid}/tasks/${t.id}`} aria-label={`Task ${t.id}: ${t.status}`}><StatusBadge status={t.status} /></a>{' '}
      <TimeAgo iso={t.end ?? t.start ?? t.created} now={now} />{t.user_name && <span class="muted small"> by {t.user_name}</span>}
    </span>
  );
}

function TemplatesSection({ pid, lookups, onChanged }: { pid: number; lookups: Lookups; onChanged: () => void }) {
  const [running, setRunning] = useState<Template | null>(null);
  const last = useAsync(() => endpoints.lastTasks(pid), [pid]);
  const refresh = useThrottled(() => void last.reload(), 1000);
  useLiveEvents((e) => {
    if (e.type === 'task' && e.project_id === pid) refresh();
  });
  const now = useNow(5000);
  if (lookups.repositories.length === 0) {
    return (
      <section aria-label="Templates">
        <div class="page-head"><h2>Templates</h2></div>
        <Empty title="No templates yet.">
          A template needs a repository first: <a href={`/project/${pid}/repositories`}>add a repository</a>, then come back to create a template.
        </Empty>
      </section>
    );
  }
  const base = templateSpec(pid, lookups, onChanged);
  const spec = { ...base, columns: [...base.columns, { label: 'Last task', render: (t: Template) => <LastTask pid={pid} now={now} last={last.data?.find((l) => l.template_id === t.id)} /> }] };
  return (
    <>
      <ResourceSection spec={{ ...spec, rowActions: (t) => <button type="button" class="small primary" onClick={() => setRunning(t)} aria-label={`Run ${t.name}`}>Run</button> }} />
      <RunDialog template={running} onClose={() => setRunning(null)} />
    </>
  );
}

export function ProjectPage({ projectId, section }: { projectId: number; section: string }) {
  const project = useAsync(() => get<Project>(`/api/project/${projectId}`), [projectId]);
  const lookups = useAsync(async (): Promise<Lookups> => {
    const base = `/api/project/${projectId}`;
    const [keys, repositories, inventories, environments] = await Promise.all([
      get<AccessKey[]>(`${base}/keys`), get<Repository[]>(`${base}/repositories`), get<Inventory[]>(`${base}/inventory`), get<Environment[]>(`${base}/environment`),
    ]);
    return { keys, repositories, inventories, environments };
  }, [projectId]);
  const reloadLookups = () => void lookups.reload();

  if (project.error) return <ErrorBox error={project.error} title="Could not open the project" />;
  if (!project.data || !lookups.data) return <><ErrorBox error={lookups.error} /><Loading what="Loading the project" /></>;
  const p = project.data;
  const l = lookups.data;
  let body;
  switch (section) {
    case 'templates': body = <TemplatesSection pid={p.id} lookups={l} onChanged={reloadLookups} />; break;
    case 'workflows': body = <WorkflowsSection pid={p.id} />; break;
    case 'tasks': body = <TaskHistory projectId={p.id} />; break;
    case 'keys': body = <><ResourceSection spec={keySpec(p.id, reloadLookups)} /><ResourceSection spec={hostConfigSpec(p.id, l, reloadLookups)} /></>; break;
    case 'repositories': body = <ResourceSection spec={repositorySpec(p.id, l, reloadLookups)} />; break;
    case 'inventory': body = <ResourceSection spec={inventorySpec(p.id, l, reloadLookups)} />; break;
    case 'environment': body = <ResourceSection spec={environmentSpec(p.id, reloadLookups)} />; break;
    case 'runners': body = <RunnersPage projectId={p.id} />; break;
    case 'schedules': body = <SchedulesSection pid={p.id} />; break;
    case 'integrations': body = <IntegrationsSection pid={p.id} />; break;
    case 'notifications': body = <NotificationsSection pid={p.id} />; break;
    case 'settings': body = <ProjectSettings project={p} onSaved={project.update} />; break;
    default: body = <ErrorBox error={`There is no "${section}" page in a project.`} />;
  }
  return (
    <div class="project">
      <nav aria-label="Breadcrumb" class="crumbs"><a href="/projects">Projects</a> <span aria-hidden="true">/</span> <span>{p.name}</span></nav>
      <h1 class="project-title">{p.name}</h1>
      <nav aria-label="Project sections" class="subnav">
        <ul>
          {SECTIONS.map(([id, label]) => (
            <li key={id}><a href={`/project/${p.id}/${id}`} aria-current={section === id ? 'page' : undefined}>{label}</a></li>
          ))}
        </ul>
      </nav>
      <div key={section} class="section-body">{body}</div>
    </div>
  );
}
