import type { Task } from '../common/model.js';
import type { JobPayload, KeyMaterial } from '../../protocol/wire.js';
import type { Stores } from '../store/stores.js';
import { completePayload } from '../task-options/index.js';
import { decodeExtras, loadExtras } from '../task-options/extras.js';
import { hostConfigFor } from './host-configs.js';

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  if (!text) return {};
  try {
    const value = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new Error(`${what} is not a JSON object`);
}

function parseArgs(text: string | null): string[] {
  if (!text) return [];
  const parsed = JSON.parse(text);
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

function secretsOf(material: KeyMaterial | null): string[] {
  if (!material) return [];
  return [material.password, material.private_key, material.passphrase].filter((s): s is string => Boolean(s));
}

/**
 * Everything a runner needs to execute a task, gathered at claim time so it reflects the records
 * as they are when the task starts, and decrypted only to be sealed for the claiming runner.
 */
export async function buildPayload(stores: Stores, task: Task, maxDurationSec: number, storedExtras?: string | null): Promise<JobPayload> {
  const pid = task.project_id;
  // The task's extras: as the claim's move read them (`storedExtras`), else read alongside the template.
  const [template, extras] = await Promise.all([
    stores.templates(pid).get(task.template_id),
    storedExtras === undefined ? loadExtras(stores, task.id) : decodeExtras(stores, storedExtras),
  ]);
  if (!template) throw new Error(`template ${task.template_id} was deleted`);
  // The records a claim waits for are read together (one round trip per level, not per record).
  const inventoryId = task.inventory_id ?? template.inventory_id;
  const [repository, inventory, environment, vault] = await Promise.all([
    stores.repositories(pid).get(template.repository_id),
    inventoryId ? stores.inventories(pid).get(inventoryId) : undefined,
    template.environment_id ? stores.environments(pid).get(template.environment_id) : undefined,
    template.vault_key_id ? stores.keyMaterial(pid, template.vault_key_id) : null,
  ]);
  if (!repository) throw new Error(`repository ${template.repository_id} was deleted`);
  if (task.inventory_id && !inventory) throw new Error(`inventory ${task.inventory_id} (chosen for this task) was deleted`);
  const [ownAuth, inventorySsh, become, keylessHostConfigs] = await Promise.all([
    stores.keyMaterial(pid, repository.ssh_key_id),
    inventory?.ssh_key_id ? stores.keyMaterial(pid, inventory.ssh_key_id) : null,
    inventory?.become_key_id ? stores.keyMaterial(pid, inventory.become_key_id) : null,
    // No key at all: the host configs are needed for sure, so they come in the same round trip.
    repository.ssh_key_id ? undefined : stores.hostConfigs(pid).list(),
  ]);
  // A repository without a key of its own (none, or a "none" key) uses the project's host config for its URL.
  const mapped = ownAuth.type === 'none' ? hostConfigFor(keylessHostConfigs ?? await stores.hostConfigs(pid).list(), repository.git_url) : undefined;
  const repoAuth = mapped ? await stores.keyMaterial(pid, mapped.ssh_key_id) : ownAuth;

  const extraVars = {
    ...parseJsonObject(environment?.json ?? '', 'the environment\'s extra variables'),
    ...parseJsonObject(task.environment, 'the task\'s environment override'),
  };
  const env = parseJsonObject(environment?.env ?? '', 'the environment\'s env variables');
  const secretEnv: Record<string, string> = {};
  for (const secret of environment?.secrets ?? []) {
    const value = stores.secrets.decrypt(secret.secret);
    if (secret.type === 'env') secretEnv[secret.name] = value;
    else extraVars[secret.name] = value;
  }
  const vaultPassword = vault?.password ?? (environment?.password ? stores.secrets.decrypt(environment.password) : '');
  const templateArgs = parseArgs(template.arguments);
  const taskArgs = template.allow_override_args_in_task ? parseArgs(task.arguments) : [];

  return completePayload(template, task, extras, {
    task: {
      id: task.id, attempt: task.attempt, project_id: pid, debug: task.debug, dry_run: task.dry_run, diff: task.diff,
      limit: task.limit, tags: task.tags, skip_tags: task.skip_tags, message: task.message,
    },
    app: template.app,
    playbook: task.playbook || template.playbook,
    arguments: [...templateArgs, ...taskArgs],
    auto_approve: task.auto_approve ?? template.auto_approve,
    destroy: Boolean(task.destroy),
    repository: { git_url: repository.git_url, git_branch: task.git_branch || template.git_branch || repository.git_branch, auth: repoAuth },
    inventory: inventory ? { type: inventory.type, inventory: inventory.inventory, ssh: inventorySsh, become } : null,
    extra_vars: extraVars,
    env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])),
    secret_env: secretEnv,
    vault_password: vaultPassword,
    max_duration_sec: maxDurationSec,
    max_output_bytes: stores.outputCapBytes,
    mask: [
      ...secretsOf(repoAuth), ...secretsOf(inventorySsh), ...secretsOf(become),
      ...Object.values(secretEnv), ...(vaultPassword ? [vaultPassword] : []),
      ...(environment?.secrets ?? []).filter((s) => s.type === 'var').map((s) => String(extraVars[s.name] ?? '')),
    ].filter((value) => value.length >= 3),
  });
}
