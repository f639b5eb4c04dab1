import { join } from 'node:path';
import type { JobPayload } from '../../protocol/wire.js';
import type { SecretFiles } from './credentials.js';
import { galaxySteps } from './galaxy.js';

export interface Step { command: string; args: string[]; env?: Record<string, string> }

/** The binary each app runs, and so the capability a runner reports when it has it. */
export const APP_BINARIES: Record<JobPayload['app'], string> = {
  bash: 'bash', python: 'python3', ansible: 'ansible-playbook', terraform: 'terraform', tofu: 'tofu', powershell: 'pwsh',
};

function requirePlaybook(payload: JobPayload): string {
  if (!payload.playbook) throw new Error(`a ${payload.app} template needs "playbook": the script or playbook path in the repository`);
  return payload.playbook;
}

function ansibleInventory(payload: JobPayload, repoDir: string, files: SecretFiles): string[] {
  const inv = payload.inventory;
  if (!inv || !inv.inventory) return [];
  if (inv.type === 'file') return ['-i', join(repoDir, inv.inventory)];
  return ['-i', files.write(inv.type === 'static-yaml' ? 'inventory.yml' : 'inventory.ini', inv.inventory)];
}

function ansibleSteps(payload: JobPayload, repoDir: string, files: SecretFiles): Step[] {
  const args = [...ansibleInventory(payload, repoDir, files)];
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
  const galaxy = galaxySteps(repoDir);
  return [...galaxy.steps, { command: 'ansible-playbook', args: [...args, ...payload.arguments, requirePlaybook(payload)], env: { ANSIBLE_FORCE_COLOR: '1', PYTHONUNBUFFERED: '1', ...galaxy.env } }];
}

function terraformSteps(payload: JobPayload, binary: 'terraform' | 'tofu'): Step[] {
  const env: Record<string, string> = { TF_IN_AUTOMATION: '1', TF_INPUT: '0' };
  for (const [name, value] of Object.entries(payload.extra_vars)) env[`TF_VAR_${name}`] = typeof value === 'string' ? value : JSON.stringify(value);
  const chdir = payload.playbook ? [`-chdir=${payload.playbook}`] : [];
  const steps: Step[] = [{ command: binary, args: [...chdir, 'init', '-input=false'], env }];
  if (payload.task.dry_run || !payload.auto_approve) steps.push({ command: binary, args: [...chdir, 'plan', '-input=false', ...payload.arguments], env });
  else steps.push({ command: binary, args: [...chdir, 'apply', '-input=false', '-auto-approve', ...payload.arguments], env });
  return steps;
}

/** The commands one task runs, in order; the first that fails ends the task. */
export function stepsFor(payload: JobPayload, repoDir: string, files: SecretFiles): Step[] {
  const scriptEnv = { FORGE_EXTRA_VARS: JSON.stringify(payload.extra_vars), PYTHONUNBUFFERED: '1' };
  switch (payload.app) {
    case 'ansible':
      return ansibleSteps(payload, repoDir, files);
    case 'terraform':
    case 'tofu':
      return terraformSteps(payload, payload.app);
    case 'bash':
      return [{ command: 'bash', args: [requirePlaybook(payload), ...payload.arguments], env: scriptEnv }];
    case 'python':
      return [{ command: 'python3', args: [requirePlaybook(payload), ...payload.arguments], env: scriptEnv }];
    case 'powershell':
      return [{ command: 'pwsh', args: ['-NonInteractive', '-NoProfile', '-File', requirePlaybook(payload), ...payload.arguments], env: scriptEnv }];
  }
}
