/**
 * A real OpenSSH server on a free loopback port, running as the current user, for tests of
 * repositories cloned over ssh://. Keys are made with ssh-keygen in a temp folder: a host key
 * and a user key (optionally with a passphrase) whose public half is the only authorized key.
 * git over ssh then works as `ssh://USER@127.0.0.1:PORT/absolute/path/repo.git`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { exitOf, freePort, onCleanup, runOk, stopChild, tempDir, trackChild, waitFor } from './util.js';

export const SSHD = '/usr/sbin/sshd';

export interface TestSshd {
  port: number;
  user: string;
  /** The user key's private half (OpenSSH format) and its passphrase ('' for none). */
  privateKey: string;
  passphrase: string;
  /** The host's public key, "ssh-ed25519 AAAA…" (no comment). */
  hostPublicKey: string;
  /** ssh://user@127.0.0.1:port + absolute repository path. */
  urlFor(repoPath: string): string;
  logs(): string;
  stop(): Promise<void>;
}

/** Resolves true once the port answers with an SSH banner. */
function sshBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      conn.destroy();
      resolve(ok);
    };
    conn.setTimeout(1000, () => done(false));
    conn.once('error', () => done(false));
    conn.once('data', (chunk) => done(chunk.toString().startsWith('SSH-2.0-')));
  });
}

export async function startSshd(options: { passphrase?: string } = {}): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: install openssh-server (infra/bootstrap.sh --test does)`);
  // sshd refuses to start without its privilege-separation folder; Debian creates it only when the service runs.
  if (!existsSync('/run/sshd') && process.getuid?.() === 0) mkdirSync('/run/sshd', { mode: 0o755 });
  const dir = tempDir('forge-sshd-');
  const passphrase = options.passphrase ?? '';
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'forge-test-host', '-f', join(dir, 'host_key')]);
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'forge-test-user', '-f', join(dir, 'user_key')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user_key.pub')), { mode: 0o600 });
  const port = await freePort();
  const user = userInfo().username;
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    `AllowUsers ${user}`,
    'LogLevel VERBOSE',
    '',
  ].join('\n'));

  let log = '';
  const child: ChildProcess = trackChild(spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'pipe', 'pipe'] }));
  child.stdout!.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  onCleanup(() => stopChild(child, 'SIGTERM', 5000));
  const exited = exitOf(child).then(({ code }) => {
    throw new Error(`sshd exited with ${code} at start:\n${log}`);
  });
  exited.catch(() => {});
  await Promise.race([waitFor(() => sshBanner(port), 10_000, { what: `sshd on port ${port}` }), exited]);

  const hostPublicKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    port, user, passphrase, hostPublicKey,
    privateKey: readFileSync(join(dir, 'user_key'), 'utf8'),
    urlFor: (repoPath) => `ssh://${user}@127.0.0.1:${port}${repoPath}`,
    logs: () => log,
    stop: async () => {
      await stopChild(child, 'SIGTERM', 5000);
    },
  };
}
