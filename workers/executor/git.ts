import { readFileSync } from 'node:fs';
import { readHead } from './git-head.js';
import { runProcess, type ProcessOptions, type ProcessOutcome } from './process.js';

export interface CheckoutResult { commit_hash: string; commit_message: string }

/**
 * No template folder: git would copy its sample hooks and info files into every checkout (18 of a
 * small checkout's 46 files), which the task never uses and the runner then has to remove.
 */
const NO_TEMPLATE = '--template=';

/**
 * The clone runs in the C locale, whatever the runner's LANG and LC_*: git's messages are then its
 * English ones on every runner, names are bytes to git either way, and the clone's processes
 * (setpriv, git, git-upload-pack) do not each load the locale's files: ~0.2 ms of the machine per
 * task with C.UTF-8 (the executor alone, 40 tasks at once, eight alternated runs). The app gets
 * the runner's locale.
 */
export const CLONE_LOCALE = { LC_ALL: 'C' } as const;

const looksLikeCommit = (ref: string) => /^[0-9a-f]{7,40}$/i.test(ref);

/**
 * The checkout runs where the task runs (in its sandbox, as its user) as one process tree that
 * stop and the duration limit end at any moment. Branches and tags are cloned shallow by one git
 * process; a commit needs the history and a checkout after the clone, so a shell runs both.
 * Forge reads the head from .git itself (git-head.ts); only when it cannot does HEAD_SCRIPT ask
 * git, writing it to a file.
 */
const COMMIT_SCRIPT = `set -e
git clone --no-checkout ${NO_TEMPLATE} -- "$1" "$2"
git -C "$2" checkout -q "$3" --
`;

function cloneCommand(target: CloneTarget): [string, string[]] {
  if (target.ref && looksLikeCommit(target.ref)) return ['sh', ['-c', COMMIT_SCRIPT, 'forge-clone', target.url, target.dir, target.ref]];
  return ['git', ['clone', '--depth', '1', ...(target.ref ? ['--branch', target.ref] : []), '--single-branch', NO_TEMPLATE, '--', target.url, target.dir]];
}

const HEAD_SCRIPT = 'git -C "$1" log -1 --format=%H%n%s > "$2"';

export interface CloneTarget {
  /** The URL as git sees it (a local repository is mounted into the sandbox). */
  url: string;
  ref: string;
  /** The checkout folder and the head file, as the clone process sees them. */
  dir: string;
  headFile: string;
  /** The same on the host, read once the clone is done. */
  dirOnHost: string;
  headFileOnHost: string;
}

export interface CheckoutOutcome extends ProcessOutcome { commit?: CheckoutResult; error?: string }

/** Clones `target.url` at a branch, tag or commit; says why when it cannot. */
export async function checkout(target: CloneTarget, given: ProcessOptions): Promise<CheckoutOutcome> {
  // git's own English lines: the reason below is found by their `fatal:` / `error:` prefix.
  const options = { ...given, env: { ...given.env, ...CLONE_LOCALE } };
  const recent: string[] = [];
  const [command, args] = cloneCommand(target);
  const outcome = await runProcess(command, args, {
    ...options,
    onLine: (line) => {
      if (line.trim()) recent.push(line.trim());
      if (recent.length > 20) recent.shift();
      options.onLine(line);
    },
  });
  if (outcome.spawnError || outcome.ended !== 'exit') return outcome;
  if (outcome.exitCode !== 0) {
    const reason = recent.find((line) => /^(fatal|error):/i.test(line)) ?? recent.at(-1) ?? `git exited with code ${outcome.exitCode}`;
    return { ...outcome, error: reason };
  }
  const head = readHead(target.dirOnHost);
  if (head) return { ...outcome, commit: head };
  const asked = await runProcess('sh', ['-c', HEAD_SCRIPT, 'forge-head', target.dir, target.headFile], options);
  if (asked.spawnError || asked.ended !== 'exit') return asked;
  if (asked.exitCode !== 0) return { ...asked, error: `git log exited with code ${asked.exitCode}` };
  const [hash = '', ...message] = readFileSync(target.headFileOnHost, 'utf8').split('\n');
  return { ...outcome, commit: { commit_hash: hash.trim(), commit_message: message.join('\n').trim() } };
}
