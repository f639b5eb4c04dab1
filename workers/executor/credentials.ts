import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, chownSync, constants, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyMaterial } from '../../protocol/wire.js';
import type { Mount, TaskUser } from './sandbox.js';

/** tmpfs where the machine has one, so secrets never reach a disk. */
function secretsBase(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/** Looked up once per process: twice per task it was a system call for the same answer. */
let base: string | undefined;
const secretsBaseOnce = () => (base ??= secretsBase());

/** The folder holding a task's secrets: named after its work folder, so each task has its own. */
export function secretsDirFor(workDir: string, part: string): string {
  return join(secretsBaseOnce(), `forge-secrets-${createHash('sha256').update(workDir).digest('hex').slice(0, 16)}${part ? `-${part}` : ''}`);
}

/**
 * A private folder (0700, owned by the task's user) for one task's key files, vault password and
 * extra vars, on tmpfs where possible. Files are written 0600; paths are answered as the task
 * sees them (inside the sandbox the folder is mounted read-only at `visibleAt`). The folder is
 * made on the first write (most tasks have no secret files: no folder, no mount) and removed when
 * the task ends, whatever the outcome.
 */
export class SecretFiles {
  private made = false;

  constructor(readonly dir: string, private readonly visibleAt: string, private readonly owner?: TaskUser) {}

  private own(path: string): void {
    if (this.owner) chownSync(path, this.owner.uid, this.owner.gid);
  }

  private make(): void {
    if (this.made) return;
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { mode: 0o700 }); // fails if someone else created it in between
    this.own(this.dir);
    this.made = true;
  }

  /** The folder as sandbox mounts: none while nothing was written. */
  get mounts(): Mount[] {
    return this.made ? [{ host: this.dir, inside: this.visibleAt, kind: 'dir' }] : [];
  }

  write(name: string, content: string, mode = 0o600): string {
    this.make();
    const path = join(this.dir, name);
    writeFileSync(path, content.endsWith('\n') || name.endsWith('.json') ? content : content + '\n', { mode });
    this.own(path);
    return join(this.visibleAt, name);
  }

  /** Writes an SSH private key; a passphrase is removed from this private copy so ssh never prompts. */
  sshKey(name: string, key: KeyMaterial): string {
    const visible = this.write(name, key.private_key ?? '');
    if (key.passphrase) {
      const result = spawnSync('ssh-keygen', ['-p', '-q', '-P', key.passphrase, '-N', '', '-f', join(this.dir, name)], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error('the SSH key\'s passphrase is wrong, or ssh-keygen is missing');
    }
    return visible;
  }

  remove(): void {
    if (this.made) rmSync(this.dir, { recursive: true, force: true });
    this.made = false;
  }
}

/** Quotes one word for the shell that git runs GIT_SSH_COMMAND and credential helpers through. */
const shellQuote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** Protocols a clone may use: never ext:: or fd::, which run commands or hang on a descriptor. */
export const GIT_ALLOW_PROTOCOL = 'file:git:http:https:ssh';

/**
 * Whether git reaches this repository URL over SSH, by git's own rules: an ssh:// (git+ssh://,
 * ssh+git://) URL, or the scp-like `[user@]host:path`, whose colon comes before any slash. Paths,
 * file://, http(s):// and git:// never start ssh.
 */
export function usesSsh(url: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (scheme) return /^(ssh|git\+ssh|ssh\+git)$/i.test(scheme[1]!);
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  return colon > 0 && (slash < 0 || colon < slash);
}

/** scheme://host[:port] of an http(s) repository URL, to scope the credential helper to it. */
function httpOrigin(url: string): string | undefined {
  if (!/^https?:\/\//i.test(url)) return undefined; // a path or scp-like URL: no parse, no exception per task
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

export interface GitAuthPaths {
  sshConfig: string;
  knownHosts: string;
  /** A local repository owned by another user, that git may read (it runs as the task's user). */
  localRepository?: string;
  /** Its global git config made beforehand (localRepositoryConfig), as the clone sees it. */
  localRepositoryConfig?: string;
}

/**
 * The repository's path and its `.git`: git checks a bare repository by its path, and one with a
 * working tree by its `.git` when it serves a clone of it (upload-pack works there).
 */
const safeDirectoryConfig = (repository: string) =>
  `[safe]\n${[repository, `${repository}/.git`].map((dir) => `\tdirectory = "${dir.replace(/["\\]/g, '\\$&')}"\n`).join('')}`;

/** Config files for the clone of a local repository, by path: written once per process. */
const localConfigs = new Set<string>();

/**
 * safe.directory counts only in protected (e.g. global) configuration, and the local transport
 * drops GIT_CONFIG_COUNT for upload-pack: the clone of a local repository owned by another user
 * (git runs as the task's user) gets a global config file naming it. The file is the same for
 * every task of that repository and holds no secret: for sandboxed tasks, which never see
 * tmp_path, it is written once per process there and shown read-only. (Without the sandbox the
 * task user may write tmp_path: the clone writes its own in its secrets folder, gitAuthEnv.)
 */
export function localRepositoryConfig(tmpPath: string, repository: string): string {
  const path = join(tmpPath, `.gitconfig-${createHash('sha256').update(repository).digest('hex').slice(0, 16)}`);
  if (localConfigs.has(path) && existsSync(path)) return path;
  writeFileSync(path, safeDirectoryConfig(repository), { mode: 0o644 });
  localConfigs.add(path);
  return path;
}

/** ssh as the clone runs it: never prompting, with the task's key, host keys by the ssh config or pinned on first use. */
function sshCommand(auth: KeyMaterial, files: SecretFiles, paths: GitAuthPaths): string[] {
  const sshOptions = ['-o', 'BatchMode=yes'];
  if (paths.sshConfig) sshOptions.push('-F', paths.sshConfig);
  else sshOptions.push('-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${paths.knownHosts}`, '-o', 'HashKnownHosts=no');
  return auth.type === 'ssh' && auth.private_key
    ? ['ssh', '-i', files.sshKey('repo_key', auth), '-o', 'IdentitiesOnly=yes', ...sshOptions]
    : ['ssh', ...sshOptions];
}

/**
 * Environment for the clone only, so git authenticates with the task's key without secrets on a
 * command line or in the environment. A login/password goes to a credential helper in the clone's
 * secrets folder, asked only for the repository's own host. Host keys: with an ssh config the
 * user's file decides; otherwise hosts are trusted on first use and pinned in Forge's known_hosts.
 */
export function gitAuthEnv(auth: KeyMaterial, files: SecretFiles, gitUrl: string, paths: GitAuthPaths): Record<string, string> {
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: '0', GIT_ALLOW_PROTOCOL };
  // Only a clone over SSH runs ssh: the key file is written for it alone.
  if (usesSsh(gitUrl)) env.GIT_SSH_COMMAND = sshCommand(auth, files, paths).map(shellQuote).join(' ');
  const config: Array<[string, string]> = [['credential.helper', '']];
  // No global config but the one a local repository needs (see localRepositoryConfig).
  env.GIT_CONFIG_GLOBAL = paths.localRepositoryConfig
    ?? (paths.localRepository ? files.write('gitconfig', safeDirectoryConfig(paths.localRepository)) : '/dev/null');
  const origin = httpOrigin(gitUrl);
  if (auth.type === 'login_password' && auth.password && origin) {
    if (/[\n\0]/.test(`${auth.login ?? ''}${auth.password}`)) throw new Error('the repository key\'s login or password contains a line break');
    const answer = files.write('git_credentials', `username=${auth.login ?? ''}\npassword=${auth.password}\n`);
    const helper = files.write('git_credential_helper', `#!/bin/sh\n[ "$1" = get ] && cat ${shellQuote(answer)}\nexit 0\n`, 0o700);
    config.push([`credential.${origin}.helper`, `!${shellQuote(helper)}`]);
  }
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([key, value], i) => Object.assign(env, { [`GIT_CONFIG_KEY_${i}`]: key, [`GIT_CONFIG_VALUE_${i}`]: value }));
  return env;
}
