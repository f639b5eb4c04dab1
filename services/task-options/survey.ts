import { ValidationError } from '../../protocol/validation.js';
import type { App, SurveyVar } from '../common/model.js';

/** What a task gets beyond its record: kept encrypted beside it (see extras.ts), since some of it is secret. */
export interface TaskExtras {
  env: Record<string, string>;
  secret_env: Record<string, string>;
  /** Extra variables that are secret: passed like the others, masked in output. */
  secret_vars: Record<string, string>;
}

export const emptyExtras = (): TaskExtras => ({ env: {}, secret_env: {}, secret_vars: {} });

const SCRIPT_APPS: App[] = ['bash', 'python', 'powershell'];

function parseObject(text: string): Record<string, unknown> {
  if (!text) return {};
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new ValidationError('environment: must be a JSON object of variables, e.g. {"version": "1.2"}');
}

function typed(v: SurveyVar, raw: unknown): string | number {
  const field = `environment.${v.name}`;
  const text = typeof raw === 'string' ? raw : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : undefined;
  if (text === undefined) throw new ValidationError(`${field}: expected a text value`);
  if (v.type === 'int') {
    if (!/^-?\d+$/.test(text.trim())) throw new ValidationError(`${field}: "${v.title || v.name}" must be a whole number, got "${text}"`);
    return Number(text.trim());
  }
  if (v.type === 'enum' && !v.values.some((choice) => choice.value === text)) {
    throw new ValidationError(`${field}: "${v.title || v.name}" must be one of ${v.values.map((c) => JSON.stringify(c.value)).join(', ')}`);
  }
  return text;
}

/**
 * Checks the survey answers a task was started with (in its `environment` JSON, as Semaphore sends
 * them) against the template's survey_vars, fills defaults, and sorts them: secrets leave the task
 * record (they go into the encrypted extras), `target: env` answers become environment variables,
 * the rest stay extra variables (Ansible --extra-vars, Terraform TF_VAR_*). Script apps also get every
 * answer as an environment variable.
 */
export function resolveSurvey(app: App, surveyVars: SurveyVar[], environmentText: string): { environment: string; extras: TaskExtras } {
  const given = parseObject(environmentText);
  const extras = emptyExtras();
  const scripts = SCRIPT_APPS.includes(app);
  for (const v of surveyVars) {
    let raw = given[v.name];
    if (raw === undefined || raw === null || raw === '') raw = v.default_value || undefined;
    if (raw === undefined) {
      if (v.required) throw new ValidationError(`environment.${v.name}: "${v.title || v.name}" is required`);
      delete given[v.name];
      continue;
    }
    const value = typed(v, raw);
    if (v.type === 'secret') {
      delete given[v.name];
      if (v.target === 'env' || scripts) extras.secret_env[v.name] = String(value);
      else extras.secret_vars[v.name] = String(value);
    } else if (v.target === 'env') {
      delete given[v.name];
      extras.env[v.name] = String(value);
    } else {
      given[v.name] = value;
      if (scripts) extras.env[v.name] = String(value);
    }
  }
  return { environment: Object.keys(given).length > 0 ? JSON.stringify(given) : '', extras };
}
