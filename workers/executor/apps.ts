import { realpathSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { JobPayload } from '../../protocol/wire.js';
import type { SecretFiles } from './credentials.js';
import { galaxySteps } from './galaxy.js';
import type { Mount } from './sandbox.js';

export interface Step {
  command: string; args: string[]; env?: Record<string, string>;
  /** More host paths the step (only) sees in the sandbox. */
  mounts?: Mount[];
  /** Runs on this machine, outside the sandbox, after the step succeeded. */
  after?: () => void;
  /** Runs only once someone confirmed the plan the steps before it made (terraform apply of a saved plan). */
  confirmFirst?: boolean;
}

/** The binary each app runs, and so the capability a runner reports when it has it. */
export const APP_BINARIES: Record<JobPayload['app'], string> = {
  bash: 'bash', python: 'python3', ansible: 'ansible-playbook', terraform: 'terraform', tofu: 'tofu', powershell: 'pwsh',
};

/** The checkout as the task sees it, and where it is on this machine (to resolve paths in it); `taskDir`: the task's own folder as it sees it. */
export interface Checkout { dir: string; hostDir: string; taskDir: string }

/**
 * Resolves a path a template names (symlinks included) and answers it relative to the checkout,
 * or throws naming the field when it leads outside the checkout or does not exist.
 */
export function resolveInCheckout(checkout: Checkout, path: string, field: string): string {
  // libc's realpath: Node's own lstats every component of the path from JavaScript (twice per task).
  const root = realpathSync.native(checkout.hostDir);
  const inside = (target: string) => target === root || target.startsWith(root + sep);
  const outside = new Error(`${field} "${path}" points outside the repository checkout`);
  if (isAbsolute(path)) throw new Error(`${field} "${path}" is an absolute path: it must name a path inside the repository`);
  if (!inside(resolve(root, path))) throw outside;
  let target: string;
  try {
    target = realpathSync.native(resolve(root, path));
  } catch {
    throw new Error(`${field} "${path}" does not exist in the repository`);
  }
  if (!inside(target)) throw outside;
  return relative(root, target) || '.';
}

function requirePlaybook(payload: JobPayload, checkout: Checkout): string {
  if (!payload.playbook) throw new Error(`a ${payload.app} template needs "playbook": the script or playbook path in the repository`);
  return resolveInCheckout(checkout, payload.playbook, 'playbook');
}

function ansibleInventory(payload: JobPayload, checkout: Checkout, files: SecretFiles): string[] {
  const inv = payload.inventory;
  if (!inv || !inv.inventory || inv.type === 'terraform-workspace') return [];
  if (inv.type === 'file') return ['-i', join(checkout.dir, resolveInCheckout(checkout, inv.inventory, 'inventory'))];
  return ['-i', files.write(inv.type === 'static-yaml' ? 'inventory.yml' : 'inventory.ini', inv.inventory)];
}

function ansibleSteps(payload: JobPayload, checkout: Checkout, files: SecretFiles): Step[] {
  const args = [...ansibleInventory(payload, checkout, files)];
  if (Object.keys(payload.extra_vars).length > 0) args.push('--extra-vars', `@${files.write('extra_vars.json', JSON.stringify(payload.extra_vars))}`);
  if (payload.task.limit) args.push('--limit', payload.task.limit);
  if (payload.task.tags) args.push('--tags', payload.task.tags);
  if (payload.task.skip_tags) args.push('--skip-tags', payload.task.skip_tags);
  if (payload.task.dry_run) args.push('--check');
  if (payload.task.diff) args.push('--diff');
  if (payload.task.debug) args.push('-vvvv');
  if (payload.vault_password) args.push('--vault-password-file', files.write('vault_password', payload.vault_password));
  const ssh = payload.inventory?.ssh;
  if (ssh?.type === 'ssh' && ssh.private_key) {
    args.push('--private-key', files.sshKey('inventory_key', ssh));
    if (ssh.login) args.push('--user', ssh.login);
  } else if (ssh?.type === 'login_password') {
    if (ssh.login) args.push('--user', ssh.login);
    if (ssh.password) args.push('--connection-password-file', files.write('connection_password', ssh.password));
  }
  const become = payload.inventory?.become;
  if (become?.type === 'login_password' && become.password) {
    args.push('--become-password-file', files.write('become_password', become.password));
    if (become.login) args.push('--become-user', become.login);
  }
  const galaxy = galaxySteps(payload.repository.git_url, checkout);
  return [...galaxy.steps, { command: 'ansible-playbook', args: [...args, ...payload.arguments, requirePlaybook(payload, checkout)], env: { ANSIBLE_FORCE_COLOR: '1', PYTHONUNBUFFERED: '1', ...galaxy.env } }];
}

function terraformSteps(payload: JobPayload, checkout: Checkout, binary: 'terraform' | 'tofu'): Step[] {
  const env: Record<string, string> = { TF_IN_AUTOMATION: '1', TF_INPUT: '0' };
  for (const [name, value] of Object.entries(payload.extra_vars)) env[`TF_VAR_${name}`] = typeof value === 'string' ? value : JSON.stringify(value);
  // For terraform, "playbook" is the working directory.
  const chdir = payload.playbook ? [`-chdir=${resolveInCheckout(checkout, payload.playbook, 'playbook')}`] : [];
  const steps: Step[] = [{ command: binary, args: [...chdir, 'init', '-input=false'], env }];
  // A terraform-workspace inventory names the workspace the task plans and applies in.
  const workspace = payload.inventory?.type === 'terraform-workspace' ? payload.inventory.inventory.trim() : '';
  if (workspace) steps.push({ command: binary, args: [...chdir, 'workspace', 'select', '-or-create', workspace], env });
  const destroy = payload.destroy ? ['-destroy'] : [];
  if (payload.task.dry_run) {
    steps.push({ command: binary, args: [...chdir, 'plan', '-input=false', ...destroy, ...payload.arguments], env });
  } else if (payload.auto_approve) {
    steps.push({ command: binary, args: [...chdir, 'apply', '-input=false', '-auto-approve', ...destroy, ...payload.arguments], env });
  } else {
    // Plan into the task's own folder, wait for confirm or reject, then apply exactly that plan.
    const planFile = join(checkout.taskDir, 'forge.tfplan');
    steps.push({ command: binary, args: [...chdir, 'plan', '-input=false', `-out=${planFile}`, ...destroy, ...payload.arguments], env });
    steps.push({ command: binary, args: [...chdir, 'apply', '-input=false', planFile], env, confirmFirst: true });
  }
  return steps;
}

/** The commands one task runs, in order; the first that fails ends the task. */
export function stepsFor(payload: JobPayload, checkout: Checkout, files: SecretFiles): Step[] {
  const scriptEnv = { FORGE_EXTRA_VARS: JSON.stringify(payload.extra_vars), PYTHONUNBUFFERED: '1' };
  switch (payload.app) {
    case 'ansible':
      return ansibleSteps(payload, checkout, files);
    case 'terraform':
    case 'tofu':
      return terraformSteps(payload, checkout, payload.app);
    case 'bash':
      return [{ command: 'bash', args: [requirePlaybook(payload, checkout), ...payload.arguments], env: scriptEnv }];
    case 'python':
      return [{ command: 'python3', args: [requirePlaybook(payload, checkout), ...payload.arguments], env: scriptEnv }];
    case 'powershell':
      return [{ command: 'pwsh', args: ['-NonInteractive', '-NoProfile', '-File', requirePlaybook(payload, checkout), ...payload.arguments], env: scriptEnv }];
  }
}
