/**
 * A repository behind a real sshd on loopback, cloned with a key from the key store: the key's
 * secret never comes back from the API nor shows in task output, the host key is learned on
 * first contact (StrictHostKeyChecking=accept-new) and a changed host key is refused.
 *
 * Without ssh_config_path Forge pins host keys in its own known_hosts under tmp_path (each test
 * Forge has its own), so the account's real ~/.ssh is never touched.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanup, type Forge, makeBareRepo, outputText, runOk, runTask, setupTemplate, startForge, startSshd, tempDir, type TestSshd,
  type BareRepo,
} from './helpers/index.js';

let forge: Forge;
let sshd: TestSshd;
let repo: BareRepo;
let knownHosts: string;
let projectId: number;
let keyId: number;
const PASSPHRASE = 'correct-horse-battery';

test.before(async () => {
  sshd = await startSshd({ passphrase: PASSPHRASE });
  repo = await makeBareRepo({ 'run.sh': 'echo "cloned over ssh"\n' });
  forge = await startForge();
  knownHosts = join(forge.dirs.tasks, 'known_hosts');
  projectId = (await forge.api.json('POST', '/api/projects', { name: 'ssh' })).id;
});
test.after.always(cleanup);

/** Every distinctive part of the private key: its base64 body lines. */
const keyParts = () => sshd.privateKey.split('\n').filter((l) => l && !l.startsWith('-----'));

function assertNoSecret(t: import('ava').ExecutionContext, text: string, where: string): void {
  for (const part of keyParts()) t.false(text.includes(part), `${where} contains part of the private key`);
  t.false(text.includes(PASSPHRASE), `${where} contains the passphrase`);
}

test.serial('an ssh key is stored write-only: no answer of the key API returns its secret', async (t) => {
  const created = await forge.api.post(`/api/project/${projectId}/keys`, {
    name: 'deploy key', type: 'ssh', ssh: { login: sshd.user, private_key: sshd.privateKey, passphrase: PASSPHRASE },
  });
  t.is(created.status, 201, created.text);
  keyId = created.body.id;
  t.is(created.body.type, 'ssh');
  t.false('secret' in created.body);
  assertNoSecret(t, created.text, 'the POST answer');
  const one = await forge.api.get(`/api/project/${projectId}/keys/${keyId}`);
  t.is(one.status, 200);
  t.is(one.body.name, 'deploy key');
  assertNoSecret(t, one.text, 'GET /keys/:id');
  const list = await forge.api.get(`/api/project/${projectId}/keys`);
  t.is(list.status, 200);
  t.deepEqual(list.body.map((k: { id: number }) => k.id), [keyId]);
  assertNoSecret(t, list.text, 'GET /keys');
  // An update without new key material keeps the stored secret (checked by the clone below).
  const renamed = await forge.api.put(`/api/project/${projectId}/keys/${keyId}`, { name: 'deploy key', type: 'ssh' });
  t.is(renamed.status, 204, renamed.text);
});

test.serial('a changed host key is refused (StrictHostKeyChecking) and the clone fails cleanly', async (t) => {
  const other = tempDir('forge-other-host-');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(other, 'key')]);
  const wrongKey = readFileSync(join(other, 'key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${wrongKey}\n`);
  const setup = await setupTemplate(forge.api, { projectId, gitUrl: sshd.urlFor(repo.path), sshKeyId: keyId });
  const task = await runTask(forge.api, setup);
  const text = await outputText(forge.api, projectId, task.id);
  t.is(task.status, 'error', text);
  t.regex(task.error, /cannot clone the repository/);
  t.regex(text, /host key|HOST IDENTIFICATION HAS CHANGED/i);
  t.false(text.includes('cloned over ssh'));
  assertNoSecret(t, text, 'the task output');
  t.is(readFileSync(knownHosts, 'utf8'), `[127.0.0.1]:${sshd.port} ${wrongKey}\n`, 'the known host entry is left as it was');
});

test.serial('a repository that needs an ssh key clones through the key store, and the host key is learned on first contact', async (t) => {
  rmSync(knownHosts, { force: true });
  const setup = await setupTemplate(forge.api, { projectId, gitUrl: sshd.urlFor(repo.path), sshKeyId: keyId });
  const task = await runTask(forge.api, setup);
  const text = await outputText(forge.api, projectId, task.id);
  t.is(task.status, 'success', `${text}\n--- sshd log ---\n${sshd.logs()}`);
  t.is(task.commit_hash, repo.commit);
  t.true(text.includes('cloned over ssh'));
  assertNoSecret(t, text, 'the task output');
  const raw = await forge.api.get(`/api/project/${projectId}/tasks/${task.id}/raw_output`);
  assertNoSecret(t, raw.text, 'raw_output');
  // accept-new wrote the server's real host key.
  t.true(existsSync(knownHosts), 'known_hosts was written');
  t.true(readFileSync(knownHosts, 'utf8').includes(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}`));
  t.regex(sshd.logs(), /Accepted publickey for \S+/);
  // The decrypted key file lived only for the task.
  t.deepEqual(readdirSync(forge.dirs.tmpdir).filter((name) => name.startsWith('forge-secrets-')), []);
});

test.serial('without the key the same repository cannot be cloned', async (t) => {
  const setup = await setupTemplate(forge.api, { projectId, gitUrl: sshd.urlFor(repo.path) });
  const task = await runTask(forge.api, setup);
  const text = await outputText(forge.api, projectId, task.id);
  t.is(task.status, 'error', text);
  t.regex(text, /Permission denied|cannot clone/);
  t.false(text.includes('cloned over ssh'));
});
