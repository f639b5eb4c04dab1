import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, get, getUser, serverInfo, webHost } from '../api';
import { useLiveEvents, useThrottled } from '../events';
import type { Project, Runner } from '../types';
import { CodeBlock, ConfirmDialog, CopyButton, Dialog, Dot, Empty, ErrorBox, Field, Loading, notify, Switch, Tabs, TimeAgo, useAsync, useNow } from '../ui';
import { TAG_RE, validateUrl } from '../validate';

const runnerPath = (r: Pick<Runner, 'id' | 'project_id'>) => (r.project_id ? `/api/project/${r.project_id}/runners/${r.id}` : `/api/runners/${r.id}`);

interface NewRunner { name: string; tags: string; max_parallel_tasks: string; webhook: string; active: boolean }

function validateRunner(v: NewRunner): Record<string, string> {
  const e: Record<string, string> = {};
  if (!v.name.trim()) e.name = 'give the runner a name';
  else if (v.name.trim().length > 200) e.name = 'at most 200 characters';
  const bad = splitTags(v.tags).find((t) => !TAG_RE.test(t));
  if (bad) e.tags = `"${bad}": a tag is 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit`;
  const n = Number(v.max_parallel_tasks);
  if (v.max_parallel_tasks.trim() === '' || !Number.isInteger(n) || n < 0 || n > 1000) e.max_parallel_tasks = 'a whole number from 0 (no limit) to 1000';
  const url = validateUrl(v.webhook);
  if (url) e.webhook = url;
  return e;
}

const splitTags = (s: string) => s.split(/[,\s]+/).map((t) => t.trim()).filter(Boolean);

/** The ready-made ways to start the new runner, each a copyable block. */
export function launchInstructions(token: string, runner: Runner, host = webHost()) {
  const file = '/etc/forge/runner.json';
  const key = '/etc/forge/runner.key';
  const parallel = runner.max_parallel_tasks > 0 ? runner.max_parallel_tasks : 1;
  const config = JSON.stringify({
    web_host: host, tmp_path: '/tmp/forge',
    runner: { token, private_key_file: key, name: runner.name, max_parallel_tasks: parallel, tags: runner.tags },
  }, null, 2);
  const tags = runner.tags.join(',');
  const local = /\/\/(localhost|127\.0\.0\.1|\[::1\])[:/]/.test(host + '/');
  return {
    config: `sudo mkdir -p /etc/forge
sudo tee ${file} >/dev/null <<'EOF'
${config}
EOF
sudo chmod 600 ${file}
forge runner start --config ${file}`,
    setup: `# Answers the setup questions from stdin, one per line:
# server address, "y" (have a token), token, token file (empty: keep it in the config),
# private key file, name, tags, max parallel tasks
forge runner setup --config ${file} <<'EOF'
${host}
y
${token}

${key}
${runner.name}
${tags}
${parallel}
EOF
forge runner start --config ${file}

# or, with every answer as a flag:
forge runner setup --config ${file} --non-interactive \\
  --web-host ${host} --token ${token}${tags ? ` --tags ${tags}` : ''} --max-parallel-tasks ${parallel}`,
    env: `export FORGE_WEB_HOST=${host}
export FORGE_RUNNER_TOKEN=${token}
export FORGE_RUNNER_PRIVATE_KEY_FILE=$HOME/.forge/runner.key
${tags ? `export FORGE_RUNNER_TAGS=${tags}\n` : ''}export FORGE_RUNNER_MAX_PARALLEL_TASKS=${parallel}
forge runner start`,
    container: `${local ? '# The server address is local to this machine: --network host lets the container reach it.\n' : ''}docker run -d --name forge-runner-${runner.id} --restart unless-stopped${local ? ' --network host' : ''} \\
  -e FORGE_WEB_HOST=${host} \\
  -e FORGE_RUNNER_TOKEN=${token} \\
  -e FORGE_RUNNER_PRIVATE_KEY_FILE=/var/lib/forge/runner.key \\
${tags ? `  -e FORGE_RUNNER_TAGS=${tags} \\\n` : ''}  -e FORGE_RUNNER_MAX_PARALLEL_TASKS=${parallel} \\
  -v forge-runner-${runner.id}:/var/lib/forge \\
  forge:latest forge runner start`,
  };
}

function AddRunnerDialog({ open, onClose, projectId, onCreated }: { open: boolean; onClose: () => void; projectId: number | null; onCreated: () => void }) {
  const blank: NewRunner = { name: '', tags: '', max_parallel_tasks: '1', webhook: '', active: true };
  const [v, setV] = useState<NewRunner>(blank);
  const [touched, setTouched] = useState<Record<string, boolean>>({});
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<(Runner & { token: string }) | null>(null);
  useEffect(() => {
    if (open) {
      setV(blank);
      setTouched({});
      setServerErrors({});
      setError(undefined);
      setCreated(null);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);

  const errors = { ...validateRunner(v), ...serverErrors };
  const show = (k: keyof NewRunner) => (touched[k] ? errors[k] : undefined);
  const set = (k: keyof NewRunner, value: string | boolean) => {
    setV({ ...v, [k]: value });
    setTouched({ ...touched, [k]: true });
    if (serverErrors[k]) setServerErrors({ ...serverErrors, [k]: '' });
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched({ name: true, tags: true, max_parallel_tasks: true, webhook: true });
    if (Object.values(validateRunner(v)).some(Boolean)) return;
    setBusy(true);
    setError(undefined);
    try {
      const body = { name: v.name.trim(), tags: splitTags(v.tags), max_parallel_tasks: Number(v.max_parallel_tasks), webhook: v.webhook.trim(), active: v.active };
      const runner = await api<Runner & { token: string }>('POST', projectId ? `/api/project/${projectId}/runners` : '/api/runners', body);
      setCreated(runner);
      onCreated();
    } catch (err) {
      if (err instanceof ApiError) setServerErrors(err.fields);
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    const how = launchInstructions(created.token, created);
    return (
      <Dialog open={open} title={`Runner "${created.name}" added`} onClose={onClose} wide>
        <div class="token-once">
          <p><strong>Copy the runner token now.</strong> It is shown only this once; Forge keeps only its hash.</p>
          <div class="token-row">
            <code data-testid="runner-token" class="token">{created.token}</code>
            <CopyButton text={created.token} label="Copy runner token" />
          </div>
        </div>
        <p>Start the runner on the machine that should run tasks, in one of these ways. On first contact it creates its key pair and sends the public key to Forge.</p>
        <Tabs label="Ways to start the runner" tabs={[
          { id: 'config', title: 'Config file', body: <CodeBlock code={how.config} label="config file commands" /> },
          { id: 'setup', title: 'Setup (stdin)', body: <CodeBlock code={how.setup} label="setup commands" /> },
          { id: 'env', title: 'Environment variables', body: <CodeBlock code={how.env} label="environment variable commands" /> },
          { id: 'container', title: 'Container', body: <CodeBlock code={how.container} label="container command" /> },
        ]} />
        {serverInfo() && !serverInfo()!.use_remote_runner && (
          <p class="warn-text">This server runs tasks in its own worker: set <code>FORGE_USE_REMOTE_RUNNER=true</code> and restart it so runners receive tasks.</p>
        )}
        <div class="actions"><button type="button" class="primary" onClick={onClose}>Done</button></div>
      </Dialog>
    );
  }

  return (
    <Dialog open={open} title={projectId ? 'Add a project runner' : 'Add a runner'} onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <Field label="Name" error={show('name')}>
          {(p) => <input {...p} name="name" value={v.name} onInput={(e) => set('name', e.currentTarget.value)} autoFocus placeholder="e.g. build-host-1" />}
        </Field>
        <Field label="Tags" error={show('tags')} hint="Comma-separated. Templates that require a tag run only on runners that have it.">
          {(p) => <input {...p} name="tags" value={v.tags} onInput={(e) => set('tags', e.currentTarget.value)} placeholder="e.g. linux, docker" />}
        </Field>
        <Field label="Max parallel tasks" error={show('max_parallel_tasks')} hint="0 means no limit from the server.">
          {(p) => <input {...p} name="max_parallel_tasks" type="number" min={0} max={1000} inputMode="numeric" value={v.max_parallel_tasks} onInput={(e) => set('max_parallel_tasks', e.currentTarget.value)} />}
        </Field>
        <Field label="Webhook" error={show('webhook')} hint="Optional URL called when a task starts and finishes.">
          {(p) => <input {...p} name="webhook" type="url" value={v.webhook} onInput={(e) => set('webhook', e.currentTarget.value)} placeholder="https://…" />}
        </Field>
        <div class="field checkbox">
          <label><input type="checkbox" name="active" checked={v.active} onChange={(e) => set('active', e.currentTarget.checked)} /> Enabled (takes tasks as soon as it starts)</label>
        </div>
        <ErrorBox error={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={busy}>{busy ? 'Adding…' : 'Add runner'}</button>
        </div>
      </form>
    </Dialog>
  );
}

export function RunnersPage({ projectId }: { projectId: number | null }) {
  const admin = getUser()?.admin;
  // Admins see every runner on the global page (project runners too, with their project).
  const listPath = projectId ? `/api/project/${projectId}/runners` : '/api/runners-all';
  const runners = useAsync(() => get<Runner[]>(listPath), [listPath]);
  const projects = useAsync(() => (projectId ? Promise.resolve([] as Project[]) : get<Project[]>('/api/projects')), [projectId]);
  const [adding, setAdding] = useState(false);
  const [deleting, setDeleting] = useState<Runner | null>(null);
  const now = useNow(1000);
  const refresh = useThrottled(() => void runners.reload(), 300);

  useLiveEvents((e) => {
    if (e.type === 'runner') refresh();
  });
  // Going offline is silence, not an event: re-read the list every few seconds.
  useEffect(() => {
    const t = setInterval(() => void runners.reload(), 5000);
    return () => clearInterval(t);
  }, [runners.reload]);

  const projectName = (id: number | null) => (id === null ? 'all projects' : projects.data?.find((p) => p.id === id)?.name ?? `project ${id}`);

  const toggle = async (r: Runner, enabled: boolean) => {
    runners.setData(runners.data!.map((x) => (x.id === r.id ? { ...x, active: enabled, status: enabled ? x.status : 'disabled' } : x)));
    try {
      await api('POST', `${runnerPath(r)}/active`, { active: enabled });
      notify(`Runner "${r.name}" ${enabled ? 'enabled' : 'disabled'}`);
    } catch (err) {
      notify(`Could not ${enabled ? 'enable' : 'disable'} "${r.name}": ${(err as Error).message}`, 'error');
    }
    await runners.reload();
  };

  const list = runners.data;
  const counts = list ? { online: list.filter((r) => r.status === 'online').length, offline: list.filter((r) => r.status === 'offline').length, disabled: list.filter((r) => r.status === 'disabled').length } : null;

  return (
    <section aria-labelledby="runners-title">
      <div class="page-head">
        {projectId ? <h2 id="runners-title">Project runners</h2> : <h1 id="runners-title">Runners</h1>}
        {(projectId || admin) && <button type="button" class="primary" onClick={() => setAdding(true)}>Add runner</button>}
      </div>
      {counts && list!.length > 0 && (
        <p class="summary-line" data-testid="runner-counts">
          <Dot status="online" /> {counts.online} online · <Dot status="offline" /> {counts.offline} offline · <Dot status="disabled" /> {counts.disabled} disabled
        </p>
      )}
      {serverInfo() && !serverInfo()!.use_remote_runner && <p class="notice">Remote runners are off on this server: tasks run in its own worker. Set <code>FORGE_USE_REMOTE_RUNNER=true</code> to send them to runners.</p>}
      <ErrorBox error={runners.error} title="Could not load runners" />
      {!list && !runners.error && <Loading what="Loading runners" />}
      {list && list.length === 0 && (
        <Empty title="No runners yet — add one.">
          Press <strong>Add runner</strong>, then start it on another machine with the token and the commands shown.
          {projectId ? ' Project runners take only this project\'s tasks.' : ' Or register one from its machine with forge runner register.'}
        </Empty>
      )}
      {list && list.length > 0 && (
        <div class="table-wrap">
          <table class="runners">
            <thead>
              <tr>
                <th scope="col">Status</th><th scope="col">Name</th><th scope="col">Tags</th>{!projectId && <th scope="col">Project</th>}
                <th scope="col">Tasks</th><th scope="col">Version</th><th scope="col">Capabilities</th><th scope="col">Last seen</th>
                <th scope="col">Enabled</th><th scope="col"><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => (
                <tr key={r.id} data-runner={r.name} data-status={r.status}>
                  <td><span class={`status status-${r.status}`}><Dot status={r.status} /> {r.status}{r.draining ? ' (draining)' : ''}</span></td>
                  <td class="name">{r.name}{!r.public_key && <span class="muted small" title="It has not connected yet"> · never connected</span>}</td>
                  <td>{r.tags.length ? r.tags.map((t) => <span key={t} class="tag">{t}</span>) : <span class="muted">none</span>}</td>
                  {!projectId && <td>{r.project_id ? <a href={`/project/${r.project_id}/runners`}>{projectName(r.project_id)}</a> : <span class="muted">global</span>}</td>}
                  <td class="num" title="active tasks / max parallel tasks">{r.active_tasks} / {r.max_parallel_tasks || '∞'}</td>
                  <td>{r.version || <span class="muted">—</span>}</td>
                  <td class="caps">
                    {r.capabilities.includes('no-sandbox') && <><span class="badge no-sandbox" title="sandbox: none — its tasks run without isolation">no sandbox</span>{' '}</>}
                    {r.capabilities.filter((c) => c !== 'no-sandbox').join(', ') || <span class="muted">—</span>}
                  </td>
                  <td><TimeAgo iso={r.touched} now={now} /></td>
                  <td><Switch checked={r.active} label={`Enabled: ${r.name}`} onChange={(v) => void toggle(r, v)} /></td>
                  <td><button type="button" class="danger small" onClick={() => setDeleting(r)} aria-label={`Delete runner ${r.name}`}>Delete</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <AddRunnerDialog open={adding} onClose={() => setAdding(false)} projectId={projectId} onCreated={() => void runners.reload()} />
      <ConfirmDialog
        open={deleting !== null} title="Delete runner" confirmLabel="Delete runner" onClose={() => setDeleting(null)}
        message={deleting && <p>Delete <strong>{deleting.name}</strong>? Its token stops working at once{deleting.status === 'online' ? ', so the running runner process is turned away on its next request' : ''}. {deleting.active_tasks > 0 ? `Its ${deleting.active_tasks} running task(s) will fail as "runner lost".` : ''}</p>}
        onConfirm={async () => {
          await api('DELETE', runnerPath(deleting!));
          notify(`Runner "${deleting!.name}" deleted`);
          await runners.reload();
        }}
      />
    </section>
  );
}
