import { z } from 'zod';
import { tagName } from '../../protocol/validation.js';

/** The API's input schemas. The records themselves are in records.ts (no zod there, so the web UI can share them). */
export * from '../../protocol/records.js';
import { APPS, INVENTORY_TYPES, PROJECT_ROLES, SURVEY_TYPES } from '../../protocol/records.js';

/*
 * Like Semaphore's server, input schemas take what Forge uses and ignore the rest (the API layer
 * lists ignored fields in a debug log): objects are not strict, `id` and `project_id` in a body
 * are accepted (the API checks them against the path), and a null where a field is optional
 * counts as absent.
 */

const id = z.number({ error: 'expected a numeric id' }).int().positive();
const optionalId = z.number().int().positive().nullable().optional();
const name = z.string().trim().min(1, 'must not be empty').max(200);

export const loginInput = z.object({ auth: z.string().min(1, 'must not be empty'), password: z.string().min(1, 'must not be empty') });

const username = z.string().trim().regex(/^[a-z0-9_.@-]{1,64}$/i, 'use 1-64 letters, digits, "_", ".", "@" or "-"');
const password = z.string().min(8, 'must be at least 8 characters').max(1024);

/** Semaphore calls the login `username`; `login` (Forge's earlier name) is still accepted. */
const usernameAlias = (body: unknown) => {
  if (body && typeof body === 'object' && !Array.isArray(body) && !('username' in body) && 'login' in body) {
    const { login, ...rest } = body as Record<string, unknown>;
    return { ...rest, username: login };
  }
  return body;
};

export const userInput = z.preprocess(usernameAlias, z.object({
  username,
  name: z.string().trim().max(200).default(''),
  email: z.string().trim().email().or(z.literal('')).default(''),
  password,
  admin: z.boolean().default(false),
  alert: z.boolean().default(false),
  external: z.boolean().default(false),
}));

export const userUpdateInput = z.preprocess(usernameAlias, z.object({
  username: username.optional(),
  name: z.string().trim().max(200).optional(),
  email: z.string().trim().email().or(z.literal('')).optional(),
  admin: z.boolean().optional(),
  alert: z.boolean().optional(),
}));

export const passwordInput = z.object({
  password,
  /** The UI sends it when users change their own password; when present it must be right. */
  current_password: z.string().max(1024).optional(),
});

export const tokenInput = z.object({ name: z.string().trim().max(200).default('') });

export const optionInput = z.object({
  key: z.string().regex(/^[A-Za-z][\w.-]{0,63}$/, 'an option key is 1-64 letters, digits, ".", "_" or "-", e.g. nav.unpinnedItems'),
  value: z.string().max(8192),
});

export const projectRole = z.enum(PROJECT_ROLES, { error: `must be one of ${PROJECT_ROLES.join(', ')}` });
export const projectMemberInput = z.object({ user_id: z.number().int().positive(), role: projectRole.default('owner') });
export const projectRoleInput = z.object({ role: projectRole });

export const projectInput = z.object({
  name,
  max_parallel_tasks: z.number().int().min(0).max(1000).default(0),
  alert: z.boolean().default(false),
  alert_chat: z.string().max(1024).nullable().default(null),
  type: z.string().max(64).default(''),
});

const keyFields = z
  .object({
    name,
    type: z.enum(['none', 'ssh', 'login_password']),
    project_id: z.number().int().optional(),
    ssh: z.object({ login: z.string().default(''), private_key: z.string().default(''), passphrase: z.string().default('') }).optional(),
    login_password: z.object({ login: z.string().default(''), password: z.string().default('') }).optional(),
    /** Semaphore: on update, replace the stored secret only when this is true. Forge also keeps what is not sent. */
    override_secret: z.boolean().optional(),
  });

export const keyInput = keyFields.superRefine((value, ctx) => {
  if (value.type === 'ssh' && !value.ssh?.private_key?.includes('PRIVATE KEY'))
    ctx.addIssue({ code: 'custom', path: ['ssh', 'private_key'], message: 'an ssh key needs a PEM/OpenSSH private key' });
  if (value.type === 'login_password' && !value.login_password)
    ctx.addIssue({ code: 'custom', path: ['login_password'], message: 'a login_password key needs {login, password}' });
});

/**
 * An update may leave the secret out (or send empty fields): secrets are write-only, so what is
 * not sent is kept. A new private key must still look like one.
 */
export const keyUpdateInput = keyFields.superRefine((value, ctx) => {
  if (value.type === 'ssh' && value.ssh?.private_key && !value.ssh.private_key.includes('PRIVATE KEY'))
    ctx.addIssue({ code: 'custom', path: ['ssh', 'private_key'], message: 'an ssh key needs a PEM/OpenSSH private key' });
});

export const repositoryInput = z
  .object({
    name,
    project_id: z.number().int().optional(),
    git_url: z.string().trim().min(1, 'must not be empty').refine((url) => !/\s/.test(url), 'must not contain spaces'),
    git_branch: z.string().trim().max(255).default(''),
    ssh_key_id: optionalId,
  });

export const inventoryInput = z
  .object({
    name,
    project_id: z.number().int().optional(),
    type: z.enum(INVENTORY_TYPES).default('static'),
    inventory: z.string().max(1024 * 1024).default(''),
    ssh_key_id: optionalId,
    become_key_id: optionalId,
    repository_id: optionalId,
  });

const jsonObjectText = z
  .string()
  .nullable()
  .default('{}')
  .transform((text) => text ?? '{}')
  .refine((text) => {
    try {
      const parsed = JSON.parse(text || '{}');
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
    } catch {
      return false;
    }
  }, 'must be a JSON object, e.g. {"key": "value"}');

export const environmentInput = z
  .object({
    name,
    project_id: z.number().int().optional(),
    json: jsonObjectText,
    env: jsonObjectText,
    password: z.string().max(4096).nullable().optional(),
    secrets: z
      .array(
        z.object({
          id: z.number().int().optional(),
          name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a secret name is a variable name: letters, digits, "_"'),
          secret: z.string().max(65536).optional(),
          type: z.enum(['env', 'var']).default('env'),
          operation: z.enum(['create', 'update', 'delete']).optional(),
        }),
      )
      .nullable()
      .default([])
      .transform((list) => list ?? []),
  });

const argumentsText = z
  .union([z.array(z.string()).transform((args) => JSON.stringify(args)), z.string(), z.null()])
  .refine((text) => {
    if (text === null || text === '') return true;
    try {
      const parsed = JSON.parse(text);
      return Array.isArray(parsed) && parsed.every((item) => typeof item === 'string');
    } catch {
      return false;
    }
  }, 'must be a JSON array of strings, e.g. ["-v"]');

const templateVault = z.object({
  id: z.number().int().optional(),
  name: z.string().max(200).default(''),
  type: z.enum(['password', 'script']).default('password'),
  vault_key_id: optionalId.default(null),
  script: z.string().max(1024).default(''),
});

const variableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name: letters, digits, "_", not starting with a digit');

export const surveyVarInput = z
  .object({
    name: variableName,
    title: z.string().max(200).default(''),
    description: z.string().max(4096).default(''),
    type: z.enum(SURVEY_TYPES, { error: `type must be one of "", int, enum, secret, text` }).default(''),
    target: z.enum(['', 'env']).default(''),
    required: z.boolean().default(false),
    default_value: z.string().max(65536).nullable().default('').transform((v) => v ?? ''),
    values: z.array(z.object({ name: z.string().max(200).default(''), value: z.string().max(4096) })).max(200).nullable().default([]).transform((list) => list ?? []),
  })
  .superRefine((v, ctx) => {
    if (v.type === 'enum' && v.values.length === 0) ctx.addIssue({ code: 'custom', path: ['values'], message: 'an enum survey variable needs values: [{name, value}]' });
    // A template is readable by every member: a secret kept there would be stored and shown in clear.
    if (v.type === 'secret' && v.default_value) ctx.addIssue({ code: 'custom', path: ['default_value'], message: 'a secret survey variable cannot have a default (templates are stored and shown in clear): leave it empty so it is asked at each run, or put the value in an environment\'s secrets' });
    if (v.type === 'int' && v.default_value && !/^-?\d+$/.test(v.default_value)) ctx.addIssue({ code: 'custom', path: ['default_value'], message: 'an int survey variable needs a whole-number default' });
  });

/** Semaphore's name for one survey variable's schema. */
export const surveyVar = surveyVarInput;

const hostList = z.union([z.string().max(4096), z.array(z.string().max(1024)).max(200).transform((items) => items.join(','))]).optional();
const runFlags = { debug: z.boolean().optional(), dry_run: z.boolean().optional(), diff: z.boolean().optional() };

/** Task defaults: flat, or in Semaphore's TaskPrams shape (`params: {limit: [...], tags: [...], ...}`); stored flat. */
export const taskParamsInput = z
  .object({
    limit: hostList, tags: hostList, skip_tags: hostList, ...runFlags, environment: z.string().max(65536).optional(),
    params: z.object({ limit: hostList, tags: hostList, skip_tags: hostList, ...runFlags }).strip().optional(),
  })
  .strip()
  .transform(({ params, ...flat }) => Object.fromEntries(Object.entries({ ...params, ...flat }).filter(([, value]) => value !== undefined)));

/** Semaphore's template fields for surveys, build/deploy, alerts and per-run overrides, plus Forge's per-template timeout. */
const templateFeatureFields = {
  survey_vars: z.array(surveyVarInput).max(100).nullable().default([]).transform((list) => list ?? [])
    .refine((vars) => new Set(vars.map((v) => v.name)).size === vars.length, 'survey variable names must be unique'),
  type: z.enum(['', 'build', 'deploy']).default(''),
  start_version: z.string().trim().max(100).nullable().default('').transform((v) => v ?? ''),
  build_template_id: optionalId.default(null),
  autorun: z.boolean().default(false),
  view_id: optionalId.default(null),
  vaults: z.array(templateVault).max(50).nullable().default([]).transform((list) => list ?? []),
  suppress_success_alerts: z.boolean().default(false),
  suppress_error_alerts: z.boolean().default(false),
  allow_override_branch_in_task: z.boolean().default(false),
  allow_override_inventory_in_task: z.boolean().default(false),
  task_params: taskParamsInput.nullable().default({}).transform((p) => p ?? {}),
  limit: z.string().max(4096).default(''),
  working_directory: z.string().max(1024).nullable().default(null),
  environment_ids: z.array(z.number().int().positive()).max(100).nullable().default([]).transform((list) => list ?? []),
  executor_image: z.string().max(1024).default(''),
  max_task_duration_sec: z.number().int().min(0).max(30 * 24 * 3600).default(0),
};

export const templateInput = z
  .object({
    name,
    project_id: z.number().int().optional(),
    description: z.string().max(4096).default(''),
    app: z.enum(APPS, { error: `must be one of ${APPS.join(', ')}` }).default('ansible'),
    playbook: z.string().trim().max(1024).default(''),
    arguments: argumentsText.default(null),
    repository_id: id,
    inventory_id: optionalId,
    environment_id: optionalId,
    vault_key_id: optionalId,
    git_branch: z.string().trim().max(255).default(''),
    runner_tag: tagName.or(z.literal('')).default(''),
    allow_override_args_in_task: z.boolean().default(false),
    auto_approve: z.boolean().default(true),
    ...templateFeatureFields,
  });

/** Semaphore's `params` (ansible: debug, dry_run, diff, limit, tags, skip_tags; terraform: plan, destroy, auto_approve, upgrade). */
const taskParams = z.object({
  debug: z.boolean().optional(),
  dry_run: z.boolean().optional(),
  diff: z.boolean().optional(),
  limit: z.array(z.string().max(1024)).max(200).optional(),
  tags: z.array(z.string().max(1024)).max(200).optional(),
  skip_tags: z.array(z.string().max(1024)).max(200).optional(),
  skip_galaxy_install: z.boolean().optional(),
  plan: z.boolean().optional(),
  destroy: z.boolean().optional(),
  auto_approve: z.boolean().optional(),
  upgrade: z.boolean().optional(),
});

export const taskInput = z
  .object({
    template_id: id.optional(),
    template_name: z.string().max(200).optional(),
    project_id: z.number().int().optional(),
    inventory_id: optionalId,
    params: taskParams.nullable().optional(),
    debug: z.boolean().default(false),
    dry_run: z.boolean().default(false),
    diff: z.boolean().default(false),
    playbook: z.string().max(1024).default(''),
    environment: z.string().max(65536).default(''),
    limit: z.string().max(4096).default(''),
    tags: z.string().max(4096).default(''),
    skip_tags: z.string().max(4096).default(''),
    git_branch: z.string().max(255).default(''),
    message: z.string().max(4096).default(''),
    arguments: argumentsText.default(null),
    /** Terraform/OpenTofu (also as Semaphore's `params.auto_approve` / `params.destroy`): apply without confirmation; plan a destroy. */
    auto_approve: z.boolean().nullable().optional(),
    destroy: z.boolean().default(false),
    /** Deploy tasks: the build task whose version to deploy (default: the build template's last successful build). */
    build_task_id: z.number().int().positive().nullable().optional(),
  })
  .refine((t) => t.template_id !== undefined || t.template_name !== undefined, { path: ['template_id'], message: 'give template_id (or template_name)' });

export const stopInput = z.object({ force: z.boolean().default(false) });

export const viewInput = z.object({
  title: z.string().trim().min(1, 'must not be empty').max(200),
  position: z.number().int().min(0).default(0),
  hidden: z.boolean().default(false),
  type: z.enum(['', 'all']).default(''),
  sort_column: z.string().max(64).default(''),
  sort_reverse: z.boolean().default(false),
});

export const hostConfigInput = z.object({
  project_id: z.number().int().optional(),
  type: z.enum(['host', 'url'], { message: 'expected "host" (an ssh host name such as github.com) or "url" (a git URL prefix such as ssh://git@git.example.com/team/)' }),
  host: z.string().trim().min(1, 'must not be empty').max(500).refine((host) => !/\s/.test(host), 'must not contain spaces'),
  ssh_key_id: z.number({ message: 'expected the id of the ssh key that reaches this host' }).int().positive(),
});

export const runnerInput = z
  .object({
    name: name.default('runner'),
    tags: z.array(tagName).max(64).default([]),
    max_parallel_tasks: z.number().int().min(0).max(1000).default(0),
    webhook: z.string().url().or(z.literal('')).default(''),
    active: z.boolean().default(true),
    project_id: z.number().int().positive().nullable().optional(),
  });
export type RunnerInput = z.infer<typeof runnerInput>;

export const runnerActiveInput = z.object({ active: z.boolean() });
