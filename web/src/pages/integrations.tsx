/** A project's integrations (inbound webhooks): the editor, each one's URLs (aliases), matchers, extracted values and deliveries. */
import { useState } from 'preact/hooks';
import { api, get } from '../api';
import { ResourceSection, type ResourceSpec } from '../resource';
import type { AccessKey, Template } from '../types';
import { CopyButton, Dialog, ErrorBox, formatTime, Loading, useAsync } from '../ui';

export interface Integration { id: number; project_id: number; name: string; template_id: number; auth_method: string; auth_secret_id: number | null; auth_header: string }
interface Alias { id: number; url: string }
interface Matcher { id: number; name: string; match_type: string; method: string; key: string; value: string }
interface ExtractValue { id: number; name: string; value_source: string; key: string; variable: string; variable_type: string }
interface Delivery { id: string; time: string; status: string; reason: string; task_id: number | null; http_status: number; event: string }

const AUTH: Array<[string, string]> = [['none', 'None'], ['github', 'GitHub signature (X-Hub-Signature-256)'], ['bitbucket', 'Bitbucket signature (X-Hub-Signature)'], ['hmac', 'HMAC-SHA256 in a header'], ['token', 'Token in a header'], ['basic', 'Basic auth']];

function integrationSpec(pid: number, templates: Template[], keys: AccessKey[]): ResourceSpec<Integration> {
  return {
    api: `/api/project/${pid}/integrations`, title: 'Integrations', singular: 'Integration',
    empty: 'An integration gives a template a URL that GitHub, GitLab, Bitbucket or any system can call to start it.',
    fields: [
      { key: 'name', label: 'Name', kind: 'text', validate: (x) => (String(x ?? '').trim() ? undefined : 'give it a name') },
      { key: 'template_id', label: 'Template to run', kind: 'select', options: [['', 'Choose a template'], ...templates.map((t): [string, string] => [String(t.id), t.name])], validate: (x) => (x ? undefined : 'choose a template') },
      { key: 'auth_method', label: 'Authentication', kind: 'select', options: AUTH },
      { key: 'auth_header', label: 'Header', kind: 'text', placeholder: 'X-Gitlab-Token', visible: (v) => v.auth_method === 'token' || v.auth_method === 'hmac' },
      {
        key: 'auth_secret_id', label: 'Secret (a login/password key: its password)', kind: 'select', visible: (v) => v.auth_method !== 'none',
        options: [['', 'Choose a key'], ...keys.filter((k) => k.type === 'login_password').map((k): [string, string] => [String(k.id), k.name])],
        validate: (x, v) => (v.auth_method !== 'none' && !x ? 'choose the key that holds the secret' : undefined),
      },
    ],
    initial: (i) => ({
      name: i?.name ?? '', template_id: i ? String(i.template_id) : '', auth_method: i?.auth_method ?? 'github', auth_header: i?.auth_header ?? '',
      auth_secret_id: i?.auth_secret_id ? String(i.auth_secret_id) : '',
    }),
    toBody: (v) => ({
      name: String(v.name).trim(), template_id: Number(v.template_id), auth_method: v.auth_method, auth_header: String(v.auth_header ?? '').trim(),
      auth_secret_id: v.auth_method !== 'none' && v.auth_secret_id ? Number(v.auth_secret_id) : null,
    }),
    columns: [
      { label: 'Name', render: (i) => i.name },
      { label: 'Runs', render: (i) => templates.find((t) => t.id === i.template_id)?.name ?? `#${i.template_id}` },
      { label: 'Authentication', render: (i) => AUTH.find(([a]) => a === i.auth_method)?.[1] ?? i.auth_method },
    ],
  };
}

function IntegrationDetails({ pid, integration }: { pid: number; integration: Integration }) {
  const base = `/api/project/${pid}/integrations/${integration.id}`;
  const data = useAsync(async () => {
    const [aliases, matchers, values, deliveries] = await Promise.all([
      get<Alias[]>(`${base}/aliases`), get<Matcher[]>(`${base}/matchers`), get<ExtractValue[]>(`${base}/values`), get<Delivery[]>(`${base}/deliveries`),
    ]);
    return { aliases, matchers, values, deliveries };
  }, [base]);
  const [error, setError] = useState<unknown>();
  const addAlias = async () => {
    try {
      await api('POST', `${base}/aliases`);
      await data.reload();
    } catch (err) {
      setError(err);
    }
  };
  if (data.error) return <ErrorBox error={data.error} />;
  if (!data.data) return <Loading />;
  const d = data.data;
  return (
    <div class="integration-details">
      <ErrorBox error={error} />
      <h3>URLs</h3>
      {d.aliases.length === 0 && <p class="muted">No URL yet.</p>}
      <ul>{d.aliases.map((a) => <li key={a.id}><code class="alias-url">{a.url}</code> <CopyButton text={a.url} /></li>)}</ul>
      <button type="button" class="small" onClick={() => void addAlias()}>Add a URL</button>
      <h3>Matchers</h3>
      {d.matchers.length === 0 ? <p class="muted">None: every authenticated call starts the template.</p> : (
        <ul>{d.matchers.map((m) => <li key={m.id}>{m.match_type} <code>{m.key}</code> {m.method} <code>{m.value}</code></li>)}</ul>
      )}
      <h3>Extracted values</h3>
      {d.values.length === 0 ? <p class="muted">None.</p> : (
        <ul>{d.values.map((x) => <li key={x.id}>{x.value_source} <code>{x.key}</code> → {x.variable_type === 'environment' ? 'environment variable' : 'task variable'} <code>{x.variable}</code></li>)}</ul>
      )}
      <h3>Deliveries</h3>
      {d.deliveries.length === 0 ? <p class="muted">No calls yet.</p> : (
        <table class="deliveries">
          <thead><tr><th>Time</th><th>Event</th><th>Result</th><th>Task</th></tr></thead>
          <tbody>
            {d.deliveries.map((x) => (
              <tr key={x.id} data-status={x.status}>
                <td>{formatTime(x.time)}</td><td>{x.event || '—'}</td>
                <td>{x.status === 'accepted' ? 'accepted' : <span class="error-text">rejected ({x.http_status}): {x.reason}</span>}</td>
                <td>{x.task_id ? <a href={`/project/${pid}/tasks/${x.task_id}`}>#{x.task_id}</a> : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <button type="button" class="small" onClick={() => void data.reload()}>Refresh</button>
    </div>
  );
}

export function IntegrationsSection({ pid }: { pid: number }) {
  const lookups = useAsync(async () => {
    const [templates, keys] = await Promise.all([get<Template[]>(`/api/project/${pid}/templates`), get<AccessKey[]>(`/api/project/${pid}/keys`)]);
    return { templates, keys };
  }, [pid]);
  const [open, setOpen] = useState<Integration | null>(null);
  if (lookups.error) return <ErrorBox error={lookups.error} />;
  if (!lookups.data) return <Loading />;
  const spec = integrationSpec(pid, lookups.data.templates, lookups.data.keys);
  return (
    <>
      <ResourceSection spec={{ ...spec, rowActions: (i) => <button type="button" class="small" onClick={() => setOpen(i)} aria-label={`Details of ${i.name}`}>URLs &amp; deliveries</button> }} />
      <Dialog open={Boolean(open)} title={open ? `Integration ${open.name}` : ''} onClose={() => setOpen(null)} wide>
        {open && <IntegrationDetails pid={pid} integration={open} />}
      </Dialog>
    </>
  );
}
