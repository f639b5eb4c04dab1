import { z } from 'zod';
import { tagName } from '../../protocol/validation.js';

/** The API's input schemas. The records themselves are in records.ts (no zod there, so the web UI can share them). */
export * from '../../protocol/records.js';
import { APPS } from '../../protocol/records.js';

const id = z.number({ error: 'expected a numeric id' }).int().positive();
const optionalId = z.number().int().positive().nullable().optional();
const name = z.string().trim().min(1, 'must not be empty').max(200);

export const loginInput = z.object({ auth: z.string().min(1, 'must not be empty'), password: z.string().min(1, 'must not be empty') });

export const userInput = z.object({
  login: z.string().trim().regex(/^[a-z0-9_.@-]{1,64}$/i, 'use 1-64 letters, digits, "_", ".", "@" or "-"'),
  name: z.string().trim().max(200).default(''),
  email: z.string().trim().email().or(z.literal('')).default(''),
  password: z.string().min(8, 'must be at least 8 characters').max(1024),
  admin: z.boolean().default(false),
});

export const projectInput = z.object({ name, max_parallel_tasks: z.number().int().min(0).max(1000).default(0) }).strict();

const keyFields = z
  .object({
    name,
    type: z.enum(['none', 'ssh', 'login_password']),
    project_id: z.number().int().optional(),
    ssh: z.object({ login: z.string().default(''), private_key: z.string().default(''), passphrase: z.string().default('') }).optional(),
    login_password: z.object({ login: z.string().default(''), password: z.string().default('') }).optional(),
  })
  .strict();

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
  })
  .strict();

export const inventoryInput = z
  .object({
    name,
    project_id: z.number().int().optional(),
    type: z.enum(['static', 'static-yaml', 'file']).default('static'),
    inventory: z.string().max(1024 * 1024).default(''),
    ssh_key_id: optionalId,
    become_key_id: optionalId,
  })
  .strict();

const jsonObjectText = z
  .string()
  .default('{}')
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
    password: z.string().max(4096).optional(),
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
      .default([]),
  })
  .strict();

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
  })
  .strict();

export const taskInput = z
  .object({
    template_id: id,
    project_id: z.number().int().optional(),
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
  })
  .strict();

export const runnerInput = z
  .object({
    name: name.default('runner'),
    tags: z.array(tagName).max(64).default([]),
    max_parallel_tasks: z.number().int().min(0).max(1000).default(0),
    webhook: z.string().url().or(z.literal('')).default(''),
    enabled: z.boolean().default(true),
    project_id: z.number().int().positive().nullable().optional(),
  })
  .strict();
export type RunnerInput = z.infer<typeof runnerInput>;
