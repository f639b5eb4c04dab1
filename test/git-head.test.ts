/**
 * The executor reads the checked-out commit and its subject from the clone's .git without a git
 * process (workers/executor/git-head.ts): it must answer what `git log -1 --format=%H%n%s`
 * answers, or nothing (then the executor asks git), never something else.
 */
import test from 'ava';
import { join } from 'node:path';
import { checkout } from '../workers/executor/git.js';
import { readHead } from '../workers/executor/git-head.js';
import { cleanup, makeBareRepo, runOk, tempDir } from './helpers/index.js';

test.after.always(cleanup);

const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
const git = (args: string[]) => runOk('git', args, { env });

async function gitSays(dir: string): Promise<{ commit_hash: string; commit_message: string }> {
  const [hash = '', subject = ''] = (await git(['-C', dir, 'log', '-1', '--format=%H%n%s'])).trim().split('\n');
  return { commit_hash: hash, commit_message: subject };
}

test('the head of a shallow clone (the executor\'s clone of a branch) is read without git, as git log says it', async (t) => {
  const repo = await makeBareRepo({ 'run.sh': 'true\n' }, { message: 'first line\nwrapped on a second line\n\nbody ünïcode' });
  await repo.commitFiles({ 'more.txt': 'x' }, 'Dépôt: a later commit\n\nwith a body');
  const dir = join(tempDir('forge-head-'), 'repository');
  await git(['clone', '-q', '--depth', '1', '--branch', 'main', '--single-branch', '--', repo.path, dir]);
  const head = readHead(dir);
  t.deepEqual(head, await gitSays(dir));
  t.is(head?.commit_hash, repo.commit);
  t.is(head?.commit_message, 'Dépôt: a later commit');
});

test('a multi-line first paragraph becomes one subject line, as %s makes it', async (t) => {
  const repo = await makeBareRepo({ 'a.txt': 'a' }, { message: 'first line\nwrapped on a second line\n\nbody' });
  const dir = join(tempDir('forge-head-'), 'repository');
  await git(['clone', '-q', '--depth', '1', '--', repo.path, dir]);
  t.deepEqual(readHead(dir), { commit_hash: repo.commit, commit_message: 'first line wrapped on a second line' });
});

test('a commit checked out by hash (detached HEAD, full clone) is read, or left to git; never answered wrong', async (t) => {
  const repo = await makeBareRepo({ 'a.txt': 'a' }, { message: 'one' });
  const first = repo.commit;
  for (let i = 0; i < 5; i++) await repo.commitFiles({ [`f${i}.txt`]: String(i) }, `commit ${i}`);
  const dir = join(tempDir('forge-head-'), 'repository');
  await git(['clone', '-q', '--no-checkout', '--', repo.path, dir]);
  await git(['-C', dir, 'checkout', '-q', first, '--']);
  const head = readHead(dir);
  // In a full pack a commit may be stored as a delta: then the answer is "ask git".
  if (head) t.deepEqual(head, await gitSays(dir));
  else t.pass();
  t.is((await gitSays(dir)).commit_hash, first);
});

test('a folder that is no clone answers nothing', (t) => {
  t.is(readHead(tempDir('forge-head-')), undefined);
});

test('the checkout answers the head either way: read from .git, or asked of git when it cannot be read', async (t) => {
  const repo = await makeBareRepo({ 'a.txt': 'a' }, { message: 'the subject\n\nbody' });
  const root = tempDir('forge-head-');
  const options = { cwd: root, env, onLine: () => {} };
  const read = await checkout({ url: repo.path, ref: 'main', dir: join(root, 'one'), headFile: join(root, '.head1'), dirOnHost: join(root, 'one'), headFileOnHost: join(root, '.head1') }, options);
  t.deepEqual(read.commit, { commit_hash: repo.commit, commit_message: 'the subject' });
  // dirOnHost names no clone: Forge cannot read the head itself, so git is asked.
  const asked = await checkout({ url: repo.path, ref: 'main', dir: join(root, 'two'), headFile: join(root, '.head2'), dirOnHost: join(root, 'elsewhere'), headFileOnHost: join(root, '.head2') }, options);
  t.deepEqual(asked.commit, { commit_hash: repo.commit, commit_message: 'the subject' });
});
