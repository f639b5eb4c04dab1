/**
 * What a clone is given depends on how git reaches the repository (workers/executor/credentials.ts):
 * only a clone over SSH runs ssh, so only it gets GIT_SSH_COMMAND, the repository key written to
 * its secrets folder, and (in the sandbox) the known hosts and ssh config. A clone over HTTP(S),
 * git:// or a local path never has an SSH key on disk, even when its repository key is one.
 */
import test from 'ava';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gitAuthEnv, SecretFiles, usesSsh } from '../workers/executor/credentials.js';
import { cleanup, tempDir } from './helpers/index.js';

test.after.always(cleanup);

test('usesSsh follows git: ssh:// URLs and the scp-like host:path run ssh; paths, file://, http(s):// and git:// do not', (t) => {
  for (const url of ['ssh://git@example.com/team/repo.git', 'ssh://example.com:2222/repo', 'git+ssh://example.com/repo', 'SSH://example.com/repo',
    'git@example.com:team/repo.git', 'example.com:repo.git', 'example.com:/srv/repo.git', 'user@[::1]:repo']) {
    t.true(usesSsh(url), url);
  }
  for (const url of ['https://example.com/team/repo.git', 'http://example.com:8080/repo', 'git://example.com/repo', 'file:///srv/repo.git',
    '/srv/git/repo.git', './repos/odd:name', 'repos/odd:name', 'repo']) {
    t.false(usesSsh(url), url);
  }
});

test('a repository key that is an SSH key is written, and ssh set up, only for a clone over SSH', (t) => {
  // Written as given (no passphrase to remove): its content does not matter here.
  const key = { type: 'ssh' as const, login: 'git', private_key: '-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n' };
  const paths = { sshConfig: '', knownHosts: '/forge/known_hosts' };

  const overHttps = new SecretFiles(join(tempDir('forge-clone-env-'), 'secrets'), '/forge/secrets');
  const httpsEnv = gitAuthEnv(key, overHttps, 'https://example.com/team/repo.git', paths);
  t.false('GIT_SSH_COMMAND' in httpsEnv, 'no ssh for an https clone');
  t.deepEqual(overHttps.mounts, [], 'no secrets folder made');
  t.false(existsSync(overHttps.dir));

  const overSsh = new SecretFiles(join(tempDir('forge-clone-env-'), 'secrets'), '/forge/secrets');
  const sshEnv = gitAuthEnv(key, overSsh, 'git@example.com:team/repo.git', paths);
  t.regex(sshEnv.GIT_SSH_COMMAND ?? '', /'-i' '\/forge\/secrets\/repo_key'/);
  t.regex(sshEnv.GIT_SSH_COMMAND ?? '', /'UserKnownHostsFile=\/forge\/known_hosts'/);
  t.deepEqual(readdirSync(overSsh.dir), ['repo_key']);
  t.is(statSync(join(overSsh.dir, 'repo_key')).mode & 0o777, 0o600);
  overSsh.remove();
});
