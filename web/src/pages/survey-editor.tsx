/**
 * Edits a template's survey variables (Semaphore's `survey_vars`): add and remove variables, each
 * with name, title, type (string, int, secret, enum with values, text), required, default and
 * description. Enum values are one per line, `label = value` or just `value`.
 */
import type { SurveyType, SurveyVar } from '../types';
import { Field } from '../ui';

const TYPES: Array<[SurveyType, string]> = [['', 'String'], ['int', 'Integer'], ['secret', 'Secret'], ['enum', 'Enum (a list of values)'], ['text', 'Text (several lines)']];
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const blankSurveyVar = (): SurveyVar => ({ name: '', title: '', description: '', type: '', target: '', required: false, default_value: '', values: [] });

/** Enum values as the editor shows them, and back. */
export const valuesText = (values: SurveyVar['values']) => values.map((v) => (v.name && v.name !== v.value ? `${v.name} = ${v.value}` : v.value)).join('\n');
export function parseValues(text: string): SurveyVar['values'] {
  return text.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
    const at = line.indexOf(' = ');
    return at < 0 ? { name: line, value: line } : { name: line.slice(0, at).trim(), value: line.slice(at + 3).trim() };
  });
}

/** Problems per variable and field (`<index>.<field>`), as the server would name them; empty when all is well. */
export function surveyVarErrors(vars: SurveyVar[]): Record<string, string> {
  const out: Record<string, string> = {};
  vars.forEach((v, i) => {
    if (!NAME_RE.test(v.name)) out[`${i}.name`] = 'a variable name: letters, digits, "_", not starting with a digit';
    else if (vars.findIndex((o) => o.name === v.name) !== i) out[`${i}.name`] = 'another variable has this name';
    if (v.type === 'enum' && v.values.length === 0) out[`${i}.values`] = 'an enum needs at least one value';
    if (v.type === 'int' && v.default_value && !/^-?\d+$/.test(v.default_value.trim())) out[`${i}.default_value`] = 'a whole number';
    if (v.type === 'enum' && v.default_value && !v.values.some((x) => x.value === v.default_value)) out[`${i}.default_value`] = 'one of the values';
  });
  return out;
}

export function SurveyEditor({ vars, onChange, errors, showErrors }: {
  vars: SurveyVar[]; onChange: (vars: SurveyVar[]) => void; errors: Record<string, string>; showErrors: boolean;
}) {
  const set = (i: number, patch: Partial<SurveyVar>) => onChange(vars.map((v, j) => (j === i ? { ...v, ...patch } : v)));
  const err = (i: number, field: string) => (showErrors ? errors[`${i}.${field}`] : undefined);
  return (
    <fieldset class="survey-editor" data-testid="survey-editor">
      <legend>Survey variables</legend>
      <p class="hint">Asked in the Run dialog; answers reach Ansible as extra variables, Terraform as <code>TF_VAR_*</code>, scripts as environment.</p>
      {vars.map((v, i) => (
        <div class="survey-var" key={i} data-testid="survey-var">
          <div class="grid2">
            <Field label="Name" error={err(i, 'name')}>{(p) => <input {...p} name={`survey-name-${i}`} class="mono" value={v.name} onInput={(e) => set(i, { name: e.currentTarget.value.trim() })} />}</Field>
            <Field label="Title">{(p) => <input {...p} name={`survey-title-${i}`} value={v.title} onInput={(e) => set(i, { title: e.currentTarget.value })} />}</Field>
            <Field label="Type">
              {(p) => (
                <select {...p} name={`survey-type-${i}`} value={v.type} onChange={(e) => { const type = e.currentTarget.value as SurveyType; set(i, type === 'secret' ? { type, default_value: '' } : { type }); }}>
                  {TYPES.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
                </select>
              )}
            </Field>
            {v.type === 'secret'
              ? <p class="hint">A secret has no default: it is asked at each run (or kept in an environment's secrets), never stored with the template.</p>
              : (
                <Field label="Default value" error={err(i, 'default_value')}>
                  {(p) => <input {...p} name={`survey-default-${i}`} type="text" value={v.default_value} onInput={(e) => set(i, { default_value: e.currentTarget.value })} />}
                </Field>
              )}
          </div>
          {v.type === 'enum' && (
            <Field label="Values, one per line (label = value, or just value)" error={err(i, 'values')}>
              {(p) => <textarea {...p} name={`survey-values-${i}`} rows={3} class="mono" value={valuesText(v.values)} onChange={(e) => set(i, { values: parseValues(e.currentTarget.value) })} />}
            </Field>
          )}
          <Field label="Description">{(p) => <input {...p} name={`survey-description-${i}`} value={v.description} onInput={(e) => set(i, { description: e.currentTarget.value })} />}</Field>
          <div class="survey-var-actions">
            <label class="inline"><input type="checkbox" name={`survey-required-${i}`} checked={v.required} onChange={(e) => set(i, { required: e.currentTarget.checked })} /> Required</label>
            <button type="button" class="small danger" onClick={() => onChange(vars.filter((_, j) => j !== i))} aria-label={`Remove survey variable ${v.name || i + 1}`}>Remove</button>
          </div>
        </div>
      ))}
      <button type="button" class="small" onClick={() => onChange([...vars, blankSurveyVar()])}>Add survey variable</button>
    </fieldset>
  );
}
