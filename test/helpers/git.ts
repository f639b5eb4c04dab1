/**
 * Real git repositories for tasks to clone: a bare repository in a temp folder, filled from a map
 * of file paths to contents. Its path works as `git_url` for a local clone, and as the path part of
 * an ssh:// URL when served by the test sshd.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runOk, tempDir } from './util.js';

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Forge Test', GIT_AUTHOR_EMAIL: 'test@forge.invalid',
  GIT_COMMITTER_NAME: 'Forge Test', GIT_COMMITTER_EMAIL: 'test@forge.invalid',
  GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null',
};

export interface BareRepo {
  /** Absolute path of the bare repository (usable as git_url). */
  path: string;
  /** A repository with a working tree holding the same commits (also usable as git_url). */
  worktree: string;
  branch: string;
  /** Hash of the newest commit on `branch`. */
  commit: string;
  /** Commits more files (added or replaced) on top and pushes them; returns the new commit hash. */
  commitFiles(files: Record<string, string | Buffer>, message?: string): Promise<string>;
}

const git = (args: string[], cwd: string) => runOk('git', args, { cwd, env: gitEnv });

/**
 * Creates a bare repository holding `files` in one commit on `branch` (default "main", also the
 * repository's HEAD). Files ending in .sh are made executable.
 */
export async function makeBareRepo(files: Record<string, string | Buffer>, options: { branch?: string; message?: string } = {}): Promise<BareRepo> {
  const root = tempDir('forge-git-');
  const branch = options.branch ?? 'main';
  const path = join(root, 'repo.git');
  const work = join(root, 'work');
  await git(['init', '-q', '--bare', '-b', branch, path], root);
  await git(['init', '-q', '-b', branch, work], root);
  const repo: BareRepo = {
    path, worktree: work, branch, commit: '',
    async commitFiles(more, message = 'update') {
      for (const [name, content] of Object.entries(more)) {
        const file = join(work, name);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, content);
        if (name.endsWith('.sh')) chmodSync(file, 0o755);
      }
      await git(['add', '-A'], work);
      await git(['commit', '-q', '--allow-empty', '-m', message], work);
      await git(['push', '-q', path, `HEAD:refs/heads/${branch}`], work);
      repo.commit = (await git(['rev-parse', 'HEAD'], work)).trim();
      return repo.commit;
    },
  };
  await repo.commitFiles(files, options.message ?? 'initial');
  return repo;
}
