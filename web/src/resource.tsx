/**
 * A generic list + create/edit/delete for one kind of project record. Fields validate as you
 * type (after first touch), the API's own messages are shown beside the fields they name, and
 * secret fields are write-only: they start empty and an empty one keeps the stored secret.
 */
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from './api';
import { ConfirmDialog, Dialog, Empty, ErrorBox, Field, Loading, notify, useAsync } from './ui';

export type Values = Record<string, unknown>;

export interface FieldSpec {
  key: string;
  label: string;
  kind: 'text' | 'textarea' | 'select' | 'number' | 'checkbox' | 'password' | 'custom';
  options?: Array<[string, string]>;
  hint?: ComponentChildren;
  placeholder?: string;
  mono?: boolean;
  visible?: (v: Values) => boolean;
  validate?: (value: unknown, v: Values, editing: boolean) => string | undefined;
  render?: (value: unknown, set: (value: unknown) => void, editing: boolean, error: string | undefined) => JSX.Element;
  autoComplete?: string;
}

export interface ResourceSpec<R extends { id: number; name: string }> {
  api: string;
  title: string;
  singular: string;
  headingLevel?: 2 | 3;
  empty: ComponentChildren;
  fields: FieldSpec[];
  initial: (record?: R) => Values;
  toBody: (values: Values, editing?: R) => unknown;
  columns: Array<{ label: string; render: (r: R) => ComponentChildren }>;
  /** API error field names (e.g. "ssh.private_key") to form keys. */
  mapField?: (field: string) => string;
  rowActions?: (r: R) => ComponentChildren;
  onChanged?: () => void;
}

function validateAll(fields: FieldSpec[], v: Values, editing: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    if (f.visible && !f.visible(v)) continue;
    const e = f.validate?.(v[f.key], v, editing);
    if (e) out[f.key] = e;
  }
  return out;
}

export function ResourceForm<R extends { id: number; name: string }>({ spec, editing, onDone, onCancel }: { spec: ResourceSpec<R>; editing?: R; onDone: (r: R) => void; onCancel: () => void }) {
  const [v, setV] = useState<Values>(() => spec.initial(editing));
  const [touched, setTouched] = useState<Record<string, boolean>>({});
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const local = validateAll(spec.fields, v, Boolean(editing));
  const errors: Record<string, string> = { ...local };
  for (const [k, msg] of Object.entries(serverErrors)) if (msg && !errors[k]) errors[k] = msg;

  const set = (key: string, value: unknown) => {
    setV((cur) => ({ ...cur, [key]: value }));
    setTouched((t) => ({ ...t, [key]: true }));
    setServerErrors((s) => (s[key] ? { ...s, [key]: '' } : s));
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched(Object.fromEntries(spec.fields.map((f) => [f.key, true])));
    if (Object.keys(local).length) {
      const first = spec.fields.find((f) => local[f.key]);
      document.getElementById(`f-${first?.key}`)?.focus();
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const body = spec.toBody(v, editing);
      // An update answers 204 (as Semaphore's API does): read the saved record back.
      const saved = editing
        ? (await api('PUT', `${spec.api}/${editing.id}`, body), await api<R>('GET', `${spec.api}/${editing.id}`))
        : await api<R>('POST', spec.api, body);
      notify(`${spec.singular} "${saved.name}" ${editing ? 'saved' : 'created'}`);
      onDone(saved);
    } catch (err) {
      if (err instanceof ApiError) {
        const mapped: Record<string, string> = {};
        for (const [k, msg] of Object.entries(err.fields)) mapped[spec.mapField?.(k) ?? k.split('.')[0]!] = msg;
        setServerErrors(mapped);
        setTouched(Object.fromEntries(spec.fields.map((f) => [f.key, true])));
      }
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} noValidate class="resource-form">
      {spec.fields.filter((f) => !f.visible || f.visible(v)).map((f) => {
        const err = touched[f.key] ? errors[f.key] : undefined;
        if (f.kind === 'custom') return <div key={f.key}>{f.render!(v[f.key], (x) => set(f.key, x), Boolean(editing), err)}</div>;
        if (f.kind === 'checkbox') {
          return (
            <div key={f.key} class="field checkbox">
              <label><input id={`f-${f.key}`} type="checkbox" name={f.key} checked={Boolean(v[f.key])} onChange={(e) => set(f.key, e.currentTarget.checked)} /> {f.label}</label>
              {f.hint && <div class="hint">{f.hint}</div>}
            </div>
          );
        }
        return (
          <Field key={f.key} id={`f-${f.key}`} label={f.label} error={err} hint={f.hint}>
            {(p) => {
              const common = { ...p, name: f.key, placeholder: f.placeholder, class: f.mono ? 'mono' : undefined, autoComplete: f.autoComplete };
              const value = String(v[f.key] ?? '');
              if (f.kind === 'textarea') return <textarea {...common} rows={f.mono ? 8 : 3} value={value} onInput={(e) => set(f.key, e.currentTarget.value)} spellcheck={false} />;
              if (f.kind === 'select') {
                return (
                  <select {...common} value={value} onChange={(e) => set(f.key, e.currentTarget.value)}>
                    {f.options!.map(([val, label]) => <option key={val} value={val}>{label}</option>)}
                  </select>
                );
              }
              if (f.kind === 'password') return <input {...common} type="password" value={value} onInput={(e) => set(f.key, e.currentTarget.value)} />;
              if (f.kind === 'number') return <input {...common} type="number" inputMode="numeric" value={value} onInput={(e) => set(f.key, e.currentTarget.value)} />;
              return <input {...common} type="text" value={value} onInput={(e) => set(f.key, e.currentTarget.value)} />;
            }}
          </Field>
        );
      })}
      <ErrorBox error={error} title={`The ${spec.singular.toLowerCase()} was not saved`} />
      <div class="actions">
        <button type="button" onClick={onCancel}>Cancel</button>
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : editing ? 'Save' : `Create ${spec.singular.toLowerCase()}`}</button>
      </div>
    </form>
  );
}

export function ResourceSection<R extends { id: number; name: string }>({ spec }: { spec: ResourceSpec<R> }) {
  const list = useAsync(() => api<R[]>('GET', spec.api), [spec.api]);
  const [editing, setEditing] = useState<R | 'new' | null>(null);
  const [deleting, setDeleting] = useState<R | null>(null);
  useEffect(() => setEditing(null), [spec.api]);
  const H = spec.headingLevel === 3 ? 'h3' : 'h2';
  const done = (saved: R) => {
    setEditing(null);
    // The saved record goes into the list at once, so an Edit clicked before the reload answers
    // opens what was just saved, not the record as it was before (and cannot save it back).
    const rows = list.data ?? [];
    list.update(rows.some((r) => r.id === saved.id) ? rows.map((r) => (r.id === saved.id ? saved : r)) : [...rows, saved]);
    spec.onChanged?.();
  };
  return (
    <section aria-label={spec.title}>
      <div class="page-head">
        <H>{spec.title}</H>
        <button type="button" class="primary" onClick={() => setEditing('new')}>New {spec.singular.toLowerCase()}</button>
      </div>
      <ErrorBox error={list.error} title={`Could not load ${spec.title.toLowerCase()}`} />
      {!list.data && !list.error && <Loading />}
      {list.data && list.data.length === 0 && <Empty title={`No ${spec.title.toLowerCase()} yet.`}>{spec.empty}</Empty>}
      {list.data && list.data.length > 0 && (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>{spec.columns.map((c) => <th key={c.label} scope="col">{c.label}</th>)}<th scope="col"><span class="sr-only">Actions</span></th></tr>
            </thead>
            <tbody>
              {list.data.map((r) => (
                <tr key={r.id} data-name={r.name}>
                  {spec.columns.map((c) => <td key={c.label} data-label={c.label}>{c.render(r)}</td>)}
                  <td class="row-actions">
                    {spec.rowActions?.(r)}
                    <button type="button" class="small" onClick={() => setEditing(r)} aria-label={`Edit ${r.name}`}>Edit</button>
                    <button type="button" class="small danger" onClick={() => setDeleting(r)} aria-label={`Delete ${r.name}`}>Delete</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={editing !== null} title={editing === 'new' ? `New ${spec.singular.toLowerCase()}` : `Edit ${spec.singular.toLowerCase()}`} onClose={() => setEditing(null)} wide>
        {editing !== null && <ResourceForm spec={spec} editing={editing === 'new' ? undefined : editing} onDone={done} onCancel={() => setEditing(null)} />}
      </Dialog>
      <ConfirmDialog
        open={deleting !== null} title={`Delete ${spec.singular.toLowerCase()}`} confirmLabel="Delete" onClose={() => setDeleting(null)}
        message={deleting && <p>Delete {spec.singular.toLowerCase()} <strong>{deleting.name}</strong>? This cannot be undone.</p>}
        onConfirm={async () => {
          await api('DELETE', `${spec.api}/${deleting!.id}`);
          notify(`${spec.singular} "${deleting!.name}" deleted`);
          await list.reload();
          spec.onChanged?.();
        }}
      />
    </section>
  );
}
