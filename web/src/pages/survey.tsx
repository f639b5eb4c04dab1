/** The survey a template asks when it runs: one input per survey variable, typed, with its description. */
import type { SurveyVar, Template } from '../types';
import { Field } from '../ui';

/** Starting answers: each variable's default. */
export const surveyDefaults = (template: Template | null): Record<string, string> =>
  Object.fromEntries((template?.survey_vars ?? []).map((v) => [v.name, v.default_value ?? '']));

/** Local checks (the server checks again); keys are `environment.<name>`, as the API names them. */
export function surveyErrors(template: Template, answers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of template.survey_vars ?? []) {
    const value = answers[v.name] ?? '';
    if (v.required && !value) out[`environment.${v.name}`] = 'required';
    else if (v.type === 'int' && value && !/^-?\d+$/.test(value.trim())) out[`environment.${v.name}`] = 'a whole number';
  }
  return out;
}

export function SurveyFields({ template, answers, onChange, errors }: {
  template: Template; answers: Record<string, string>; onChange: (answers: Record<string, string>) => void; errors: Record<string, string | undefined>;
}) {
  const vars = template.survey_vars ?? [];
  if (vars.length === 0) return null;
  const input = (v: SurveyVar, p: { id: string }) => {
    const value = answers[v.name] ?? '';
    const set = (x: string) => onChange({ ...answers, [v.name]: x });
    if (v.type === 'enum') {
      return (
        <select {...p} name={`survey-${v.name}`} value={value} onChange={(e) => set(e.currentTarget.value)}>
          {!v.required && <option value="">—</option>}
          {v.required && !value && <option value="">Choose…</option>}
          {v.values.map((c) => <option key={c.value} value={c.value}>{c.name || c.value}</option>)}
        </select>
      );
    }
    if (v.type === 'text') return <textarea {...p} name={`survey-${v.name}`} rows={3} value={value} onInput={(e) => set(e.currentTarget.value)} />;
    if (v.type === 'secret') return <input {...p} type="password" name={`survey-${v.name}`} value={value} autoComplete="off" onInput={(e) => set(e.currentTarget.value)} />;
    if (v.type === 'int') return <input {...p} type="number" inputMode="numeric" name={`survey-${v.name}`} value={value} onInput={(e) => set(e.currentTarget.value)} />;
    return <input {...p} type="text" name={`survey-${v.name}`} value={value} onInput={(e) => set(e.currentTarget.value)} />;
  };
  return (
    <fieldset class="survey">
      <legend>Survey</legend>
      {vars.map((v) => (
        <Field key={v.name} label={`${v.title || v.name}${v.required ? ' *' : ''}`} hint={v.description || undefined} error={errors[`environment.${v.name}`]}>
          {(p) => input(v, p)}
        </Field>
      ))}
    </fieldset>
  );
}
