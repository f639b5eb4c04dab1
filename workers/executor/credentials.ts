import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyMaterial } from '../../protocol/wire.js';

/**
 * A private folder (0700) for one task's key files, vault password and extra vars. Files are
 * written 0600 and the folder is removed when the task ends, whatever the outcome.
 */
export class SecretFiles {
  readonly dir: string;

  constructor(base = tmpdir()) {
    this.dir = mkdtempSync(join(base, 'forge-secrets-'));
  }

  write(name: string, content: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, content.endsWith('\n') || name.endsWith('.json') ? content : content + '\n', { mode: 0o600 });
    return path;
  }

  /** Writes an SSH private key; a passphrase is removed from this private copy so ssh never prompts. */
  sshKey(name: string, key: KeyMaterial): string {
    const path = this.write(name, key.private_key ?? '');
    if (key.passphrase) {
      const result = spawnSync('ssh-keygen', ['-p', '-q', '-P', key.passphrase, '-N', '', '-f', path], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error('the SSH key\'s passphrase is wrong, or ssh-keygen is missing');
    }
    return path;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Quotes one word for the shell that git runs GIT_SSH_COMMAND through. */
const shellQuote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * Environment for git so it authenticates with the task's key, without secrets on any command
 * line. Host keys: with an ssh_config_path the user's file decides; otherwise hosts are trusted
 * on first use and pinned in Forge's own known_hosts (not the account's ~/.ssh).
 */
export function gitAuthEnv(auth: KeyMaterial, files: SecretFiles, sshConfigPath: string, knownHostsFile: string): Record<string, string> {
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: '0' };
  const sshOptions = ['-o', 'BatchMode=yes'];
  if (sshConfigPath) sshOptions.push('-F', sshConfigPath);
  else sshOptions.push('-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'HashKnownHosts=no');
  const command = auth.type === 'ssh' && auth.private_key
    ? ['ssh', '-i', files.sshKey('repo_key', auth), '-o', 'IdentitiesOnly=yes', ...sshOptions]
    : ['ssh', ...sshOptions];
  env.GIT_SSH_COMMAND = command.map(shellQuote).join(' ');
  if (auth.type === 'login_password' && auth.password) {
    const basic = Buffer.from(`${auth.login ?? ''}:${auth.password}`).toString('base64');
    Object.assign(env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` });
  }
  return env;
}
