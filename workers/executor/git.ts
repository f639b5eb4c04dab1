import { simpleGit } from 'simple-git';

export interface CheckoutResult { commit_hash: string; commit_message: string }

const looksLikeCommit = (ref: string) => /^[0-9a-f]{7,40}$/i.test(ref);

/**
 * Clones `url` into `dir` at a branch, tag or commit. Branches and tags are cloned shallow; a
 * commit is fetched shallow where the server allows it, else the full history is cloned.
 */
export async function checkout(url: string, ref: string, dir: string, env: Record<string, string>, say: (line: string) => void): Promise<CheckoutResult> {
  const git = simpleGit({ baseDir: process.cwd() }).env({ ...process.env, ...env });
  if (ref && looksLikeCommit(ref)) {
    say(`Cloning ${url} at commit ${ref}`);
    await git.clone(url, dir, ['--no-checkout']);
    const repo = simpleGit({ baseDir: dir }).env({ ...process.env, ...env });
    await repo.checkout(ref);
  } else {
    say(`Cloning ${url}${ref ? ` at ${ref}` : ''}`);
    await git.clone(url, dir, ['--depth', '1', ...(ref ? ['--branch', ref] : []), '--single-branch']);
  }
  const repo = simpleGit({ baseDir: dir });
  const head = await repo.log({ maxCount: 1 });
  const commit = { commit_hash: head.latest?.hash ?? '', commit_message: head.latest?.message ?? '' };
  say(`Checked out ${commit.commit_hash.slice(0, 12)} ${commit.commit_message}`);
  return commit;
}
