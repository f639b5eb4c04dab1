import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, endpoints } from '../api';
import type { ResourceSpec } from '../resource';
import { navigate } from '../router';
import { APPS, type Placement, type Task, type Template } from '../types';
import { Dialog, ErrorBox, Field, notify, useAsync } from '../ui';
import { TAG_RE, validateArgs, validateJsonObject, validateName } from '../validate';
import type { Lookups } from './projects';
import { SurveyFields, surveyDefaults, surveyErrors } from './survey';
import { SurveyEditor, surveyVarErrors } from './survey-editor';
import type { SurveyVar } from '../types';

const APP_LABELS: Record<string, string> = { ansible: 'Ansible playbook', terraform: 'Terraform', tofu: 'OpenTofu', bash: 'Bash script', powershell: 'PowerShell script', python: 'Python script' };
const isTerraform = (app: unknown) => app === 'terraform' || app === 'tofu';

export function playbookLabel(app: unknown): string {
  if (app === 'ansible') return 'Playbook file';
  if (isTerraform(app)) return 'Working directory';
  return 'Script file';
}

export function templateSpec(pid: number, l: Lookups, onChanged: () => void): ResourceSpec<Template> {
  const opt = <T extends { id: number; name: string }>(list: T[], none: string): Array<[string, string]> => [['', none], ...list.map((x): [string, string] => [String(x.id), x.name])];
  return {
    api: `/api/project/${pid}/templates`, title: 'Templates', singular: 'Template', onChanged,
    empty: 'A template says what to run: an app (Ansible, Terraform, Bash…), a file in a repository, and optionally an inventory and environment. Create one, then press Run.',
    fields: [
      { key: 'name', label: 'Name', kind: 'text', validate: (x) => validateName(String(x ?? '')) },
      { key: 'description', label: 'Description', kind: 'textarea' },
      { key: 'app', label: 'App', kind: 'select', options: APPS.map((a): [string, string] => [a, APP_LABELS[a] ?? a]) },
      { key: 'repository_id', label: 'Repository', kind: 'select', options: [['', 'Choose a repository'], ...opt(l.repositories, '').slice(1)], validate: (x) => (x ? undefined : 'choose the repository to clone') },
      { key: 'git_branch', label: 'Branch', kind: 'text', placeholder: 'the repository\'s branch', hint: 'Empty: the branch set on the repository.' },
      {
        key: 'playbook', label: 'Playbook / script file', kind: 'text', mono: true, placeholder: 'e.g. deploy.sh or site.yml',
        hint: 'Path in the repository. For Terraform/OpenTofu, the directory to run in (empty: the repository root).',
        validate: (x, v) => (!isTerraform(v.app) && !String(x ?? '').trim() ? `a ${String(v.app)} template needs the file to run` : undefined),
      },
      { key: 'arguments', label: 'Arguments (JSON array)', kind: 'text', mono: true, placeholder: '["--verbose"]', validate: (x) => validateArgs(String(x ?? '')) },
      { key: 'allow_override_args_in_task', label: 'Let each run change the arguments', kind: 'checkbox' },
      { key: 'inventory_id', label: 'Inventory', kind: 'select', options: opt(l.inventories, 'None'), visible: (v) => v.app === 'ansible' },
      { key: 'environment_id', label: 'Environment', kind: 'select', options: opt(l.environments, 'None') },
      { key: 'vault_key_id', label: 'Vault password key', kind: 'select', options: opt(l.keys, 'None'), visible: (v) => v.app === 'ansible' },
      {
        key: 'runner_tag', label: 'Required runner tag', kind: 'text', placeholder: 'any runner',
        hint: 'Tasks of this template run only on runners with this tag. Empty: any runner of this project or a global one.',
        validate: (x) => (String(x ?? '') && !TAG_RE.test(String(x)) ? '1-63 letters, digits, ".", "_" or "-", starting with a letter or digit' : undefined),
      },
      {
        key: 'auto_approve', label: 'Apply without a plan review (Terraform/OpenTofu)', kind: 'checkbox', visible: (v) => isTerraform(v.app),
        hint: 'Unticked: each run plans, waits for Confirm or Reject on the task page, then applies exactly that plan.',
      },
      {
        key: 'survey_vars', label: 'Survey variables', kind: 'custom',
        validate: (x) => (Object.keys(surveyVarErrors(x as SurveyVar[])).length ? 'fix the survey variables marked below' : undefined),
        render: (x, set, _editing, error) => (
          <>
            <SurveyEditor vars={x as SurveyVar[]} onChange={set} errors={surveyVarErrors(x as SurveyVar[])} showErrors={Boolean(error)} />
            {error && <div class="field-error" role="alert">{error}</div>}
          </>
        ),
      },
    ],
    initial: (t) => ({
      name: t?.name ?? '', description: t?.description ?? '', app: t?.app ?? 'bash', repository_id: t ? String(t.repository_id) : l.repositories.length === 1 ? String(l.repositories[0]!.id) : '',
      git_branch: t?.git_branch ?? '', playbook: t?.playbook ?? '', arguments: t?.arguments && t.arguments !== '[]' ? t.arguments : '',
      allow_override_args_in_task: t?.allow_override_args_in_task ?? false, inventory_id: t?.inventory_id ? String(t.inventory_id) : '',
      environment_id: t?.environment_id ? String(t.environment_id) : '', vault_key_id: t?.vault_key_id ? String(t.vault_key_id) : '',
      runner_tag: t?.runner_tag ?? '', auto_approve: t?.auto_approve ?? true, survey_vars: t?.survey_vars ?? [],
    }),
    toBody: (v) => ({
      name: String(v.name).trim(), description: String(v.description ?? ''), app: v.app, repository_id: Number(v.repository_id),
      git_branch: String(v.git_branch ?? '').trim(), playbook: String(v.playbook ?? '').trim(), arguments: String(v.arguments ?? '').trim() || null,
      allow_override_args_in_task: Boolean(v.allow_override_args_in_task),
      inventory_id: v.app === 'ansible' && v.inventory_id ? Number(v.inventory_id) : null,
      environment_id: v.environment_id ? Number(v.environment_id) : null,
      vault_key_id: v.app === 'ansible' && v.vault_key_id ? Number(v.vault_key_id) : null,
      runner_tag: String(v.runner_tag ?? '').trim(), auto_approve: Boolean(v.auto_approve),
      survey_vars: (v.survey_vars as SurveyVar[]).map((x) => ({ ...x, values: x.type === 'enum' ? x.values : [] })),
    }),
    columns: [
      { label: 'Name', render: (t) => <a href={`/project/${pid}/templates/${t.id}`}>{t.name}</a> },
      { label: 'App', render: (t) => APP_LABELS[t.app] ?? t.app },
      { label: 'Runs', render: (t) => <code>{t.playbook || '.'}</code> },
      { label: 'Repository', render: (t) => l.repositories.find((r) => r.id === t.repository_id)?.name ?? `#${t.repository_id}` },
      { label: 'Runner tag', render: (t) => (t.runner_tag ? <span class="tag">{t.runner_tag}</span> : <span class="muted">any</span>) },
    ],
  };
}

/** The extra-variables JSON with the survey answers (non-empty ones) merged in. */
function withSurvey(environment: string, answers: Record<string, string>): string {
  const given = Object.fromEntries(Object.entries(answers).filter(([, value]) => value !== ''));
  if (Object.keys(given).length === 0) return environment;
  return JSON.stringify({ ...(environment ? JSON.parse(environment) : {}), ...given });
}

export interface RunValues { git_branch: string; arguments: string; limit: string; tags: string; skip_tags: string; environment: string; message: string; dry_run: boolean; diff: boolean; debug: boolean }

/** The settings a past task ran with, to run again with them. */
export function runValuesOf(t: Task): Partial<RunValues> {
  return {
    git_branch: t.git_branch, arguments: t.arguments && t.arguments !== '[]' ? t.arguments : '', limit: t.limit, tags: t.tags, skip_tags: t.skip_tags,
    environment: t.environment && t.environment !== '{}' ? t.environment : '', message: t.message, dry_run: t.dry_run, diff: t.diff, debug: t.debug,
  };
}

/** Where the task would go if started now: the eligible runners' free slots, or why it would wait. */
function PlacementPreview({ p }: { p: { data?: Placement; error?: Error } }) {
  if (p.error) return <p class="notice" role="status">Could not tell where the task will run ({p.error.message}).</p>;
  if (!p.data) return <p class="placement muted" role="status">Checking where the task will run…</p>;
  const d = p.data;
  const slots = d.free_slots === null ? 'a free slot' : `${d.free_slots} free slot${d.free_slots === 1 ? '' : 's'}`;
  return (
    <div class={`placement ${d.will_wait ? 'will-wait' : 'starts-now'}`} role="status" data-testid="placement" data-will-wait={String(d.will_wait)}>
      <p>
        <strong>{d.will_wait ? 'It will wait' : 'It starts at once'}</strong>
        {d.will_wait ? `: ${d.reason}.` : d.mode === 'local' ? ` in the server's local worker (${slots} of ${d.local!.max}).` : ` on a runner with ${slots}.`}
        {d.waiting_ahead > 0 && ` ${d.waiting_ahead} task${d.waiting_ahead === 1 ? '' : 's'} already waiting in this queue.`}
      </p>
      {d.runners.length > 0 && (
        <ul class="placement-runners" aria-label="Runners that may take it">
          {d.runners.map((r) => (
            <li key={r.id}>
              <span class={`dot dot-${r.status}`} aria-hidden="true" /> {r.name}: {r.status !== 'online' ? r.status : r.draining ? 'draining' : r.free === null ? `${r.active} running, no limit` : `${r.free} of ${r.max} free`}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Runs a template with the overrides the API allows, then opens the new task. */
export function RunDialog({ template, onClose, initial }: { template: Template | null; onClose: () => void; initial?: Partial<RunValues> }) {
  const blank: RunValues = { git_branch: '', arguments: '', limit: '', tags: '', skip_tags: '', environment: '', message: '', dry_run: false, diff: false, debug: false };
  const [v, setV] = useState<RunValues>(blank);
  const [error, setError] = useState<unknown>();
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [survey, setSurvey] = useState<Record<string, string>>({});
  const placement = useAsync(() => (template ? endpoints.placement(template.project_id, template.id) : Promise.resolve(undefined)), [template?.project_id, template?.id]);
  useEffect(() => {
    if (template) {
      void placement.reload();
      setV({ ...blank, ...initial });
      setSurvey(surveyDefaults(template));
      setError(undefined);
      setServerErrors({});
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [template]);
  if (!template) return <Dialog open={false} title="Run" onClose={onClose}>{null}</Dialog>;

  const errors: Record<string, string | undefined> = { arguments: validateArgs(v.arguments), environment: validateJsonObject(v.environment), ...surveyErrors(template, survey), ...serverErrors };
  const set = <K extends keyof RunValues>(k: K, value: RunValues[K]) => {
    setV({ ...v, [k]: value });
    if (serverErrors[k]) setServerErrors({ ...serverErrors, [k]: '' });
  };
  const ansible = template.app === 'ansible';
  const terraform = isTerraform(template.app);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (Object.values(errors).some(Boolean)) return;
    setBusy(true);
    setError(undefined);
    try {
      const body: Record<string, unknown> = {
        template_id: template.id, git_branch: v.git_branch.trim(), limit: v.limit.trim(), tags: v.tags.trim(), skip_tags: v.skip_tags.trim(),
        // Survey answers travel in `environment`, as in Semaphore; the server checks them and keeps secrets out of the record.
        environment: withSurvey(v.environment.trim(), survey), message: v.message.trim(), dry_run: v.dry_run, diff: v.diff, debug: v.debug,
      };
      if (template.allow_override_args_in_task && v.arguments.trim()) body.arguments = v.arguments.trim();
      const task = await api<Task>('POST', `/api/project/${template.project_id}/tasks`, body);
      // The task is created "waiting" and a free runner takes it within milliseconds; say "queued"
      // only when it will really wait.
      const reason = task.waiting_reason && task.waiting_reason !== 'queued' ? task.waiting_reason : placement.data?.will_wait ? placement.data.reason : '';
      notify(task.status === 'waiting' && reason ? `Task #${task.id} queued: ${reason}` : `Task #${task.id} started`);
      onClose();
      navigate(`/project/${template.project_id}/tasks/${task.id}`);
    } catch (err) {
      if (err instanceof ApiError) setServerErrors(err.fields);
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const text = (k: keyof RunValues, label: string, hint?: string, placeholder?: string) => (
    <Field label={label} error={errors[k]} hint={hint}>
      {(p) => <input {...p} name={k} value={v[k] as string} placeholder={placeholder} onInput={(e) => set(k, e.currentTarget.value)} class={k === 'arguments' || k === 'environment' ? 'mono' : undefined} />}
    </Field>
  );

  return (
    <Dialog open title={`Run ${template.name}`} onClose={onClose} wide>
      <form onSubmit={submit} noValidate>
        <PlacementPreview p={placement} />
        <p class="muted">{initial ? 'The settings of the task you ran before; change any.' : 'Leave a field empty to use the template\'s setting.'}</p>
        <div class="grid2">
          {text('git_branch', 'Branch', undefined, template.git_branch || 'template / repository branch')}
          {text('message', 'Message', 'Shown in the task history.')}
        </div>
        {template.allow_override_args_in_task
          ? text('arguments', 'Extra arguments (JSON array)', `Added after the template's own arguments${template.arguments && template.arguments !== '[]' ? ` (${template.arguments})` : ''}.`, '["--verbose"]')
          : <p class="hint">This template does not let a run add arguments (see "Let each run change the arguments" in its settings).</p>}
        {ansible && (
          <div class="grid2">
            {text('limit', 'Limit (hosts)', undefined, 'web1,web2')}
            {text('tags', 'Tags', undefined, 'deploy')}
            {text('skip_tags', 'Skip tags')}
          </div>
        )}
        <SurveyFields template={template} answers={survey} errors={errors} onChange={(a) => { setSurvey(a); setServerErrors({}); }} />
        {text('environment', 'Extra variables (JSON)', 'Merged over the environment\'s variables for this run.', '{"version": "1.2.3"}')}
        <div class="checks">
          {(ansible || terraform) && <label><input type="checkbox" name="dry_run" checked={v.dry_run} onChange={(e) => set('dry_run', e.currentTarget.checked)} /> {terraform ? 'Plan only (no apply)' : 'Dry run (--check)'}</label>}
          {ansible && <label><input type="checkbox" name="diff" checked={v.diff} onChange={(e) => set('diff', e.currentTarget.checked)} /> Show diffs (--diff)</label>}
          <label><input type="checkbox" name="debug" checked={v.debug} onChange={(e) => set('debug', e.currentTarget.checked)} /> Debug output</label>
        </div>
        <ErrorBox error={error} title="The task was not started" />
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={busy}>{busy ? 'Starting…' : 'Run'}</button>
        </div>
      </form>
    </Dialog>
  );
}
