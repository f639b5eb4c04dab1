import { simpleGit } from 'simple-git';

export interface CheckoutResult { commit_hash: string; commit_message: string }

const looksLikeCommit = (ref: string) => /^[0-9a-f]{7,40}$/i.test(ref);

/**
 * Clones `url` into `dir` at a branch, tag or commit. Branches and tags are cloned shallow; a
 * commit is fetched shallow where the server allows it, else the full history is cloned.
 */
/**
 * simple-git guards GIT_* variables and git options that run commands. Forge sets GIT_SSH_COMMAND
 * and GIT_CONFIG_* itself (the task's key file, an auth header); ambient GIT_* variables are the
 * machine owner's (e.g. GIT_SSL_CAINFO). Both are allowed by name; nothing comes from the task.
 */
/**
 * Ambient variables simple-git refuses to pass to git (EDITOR=vi is set by npm/npx, PAGER and
 * VISUAL by many shells). Clone, checkout and log never open an editor, pager or password prompt,
 * so they are left out of git's environment instead of failing every clone.
 */
const NOT_FOR_GIT = new Set(['editor', 'visual', 'pager', 'prefix', 'ssh_askpass', 'git_askpass', 'git_editor', 'git_sequence_editor', 'git_pager']);

function gitFor(baseDir: string, env: Record<string, string>) {
  const merged: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...env })) {
    if (value !== undefined && !NOT_FOR_GIT.has(key.toLowerCase())) merged[key] = value;
  }
  const allowEnvironment = Object.keys(merged).filter((key) => key.toUpperCase().startsWith('GIT_'));
  // GIT_CONFIG_COUNT/KEY/VALUE carry the http.extraHeader of a login_password key (credentials.ts);
  // simple-git still vets the config keys they set.
  const unsafe = { allowUnsafeSshCommand: true, allowUnsafeConfigEnvCount: 'GIT_CONFIG_COUNT' in merged };
  return simpleGit({ baseDir, unsafe, allowEnvironment }).env(merged);
}

export async function checkout(url: string, ref: string, dir: string, env: Record<string, string>, say: (line: string) => void): Promise<CheckoutResult> {
  const git = gitFor(process.cwd(), env);
  if (ref && looksLikeCommit(ref)) {
    say(`Cloning ${url} at commit ${ref}`);
    await git.clone(url, dir, ['--no-checkout']);
    const repo = gitFor(dir, env);
    await repo.checkout(ref);
  } else {
    say(`Cloning ${url}${ref ? ` at ${ref}` : ''}`);
    await git.clone(url, dir, ['--depth', '1', ...(ref ? ['--branch', ref] : []), '--single-branch']);
  }
  const head = await gitFor(dir, env).log({ maxCount: 1 });
  const commit = { commit_hash: head.latest?.hash ?? '', commit_message: head.latest?.message ?? '' };
  say(`Checked out ${commit.commit_hash.slice(0, 12)} ${commit.commit_message}`);
  return commit;
}
