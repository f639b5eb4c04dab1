import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

export type SandboxMode = 'bwrap' | 'none';
export interface TaskUser { name: string; uid: number; gid: number }

/** How tasks are isolated, decided once at start (see prepareSandbox). */
export interface SandboxSettings {
  mode: SandboxMode;
  /** Set when Forge runs as root: every task process runs as this unprivileged user. */
  user?: TaskUser;
  /** Paths of the server or runner itself that a task must never see (data_dir, config, key and token files). */
  hidden: string[];
  /** The home directory the system gives the task's user (~user): the task's own HOME is shown there too. */
  home?: string;
}

/** Where a task's own folders appear inside the sandbox, whatever their place on the host. */
export const INSIDE = { task: '/forge/task', secrets: '/forge/secrets', knownHosts: '/forge/known_hosts', sshConfig: '/forge/ssh_config', origin: '/forge/origin', gitConfig: '/forge/gitconfig' } as const;

/** One host path made visible inside the sandbox; `kind` when the caller knows it (else it is looked up). */
export interface Mount { host: string; inside: string; writable?: boolean; kind?: 'file' | 'dir' }

/** Top-level folders a task never sees: homes, temp and runtime folders (sockets), mounts. */
const PRIVATE_TOP = new Set(['tmp', 'home', 'root', 'run', 'mnt', 'media', 'srv', 'proc', 'dev', 'boot', 'lost+found', 'forge']);
/** Hiding the process's own folders is skipped where the system's programs live. */
const SYSTEM_TOP = new Set(['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'etc']);

let systemView: string[] | undefined;
/** Whether the machine has a /var/tmp (given a private one), looked at once. */
let varTmp: boolean | undefined;

/** The read-only view of the machine: every top-level folder but the private ones, symlinks kept. */
function systemArgs(): string[] {
  if (systemView) return systemView;
  const args: string[] = [];
  for (const name of readdirSync('/').sort()) {
    if (PRIVATE_TOP.has(name)) continue;
    const path = `/${name}`;
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) args.push('--symlink', readlinkSync(path), path);
    else if (stat.isDirectory()) args.push('--ro-bind', path, path);
  }
  // resolv.conf may point into /run (systemd-resolved): keep name resolution working.
  try {
    const resolv = realpathSync('/etc/resolv.conf');
    if (PRIVATE_TOP.has(resolv.split('/')[1]!)) args.push(...dirsFor(dirname(resolv)), '--ro-bind', resolv, resolv);
  } catch {
    // no resolv.conf
  }
  systemView = args;
  return args;
}

/**
 * --dir for a path and its parents below a private top-level folder, each searchable by the task's
 * user; those in `made` (and added to it) are left out, so that one command line makes each once.
 */
function dirsFor(path: string, made = new Set<string>()): string[] {
  const args: string[] = [];
  const parts = path.split('/').filter(Boolean);
  const mounted = parts[0] === 'tmp' || parts[0] === 'dev' || parts[0] === 'proc';
  let current = '';
  parts.forEach((part, i) => {
    current += `/${part}`;
    if ((i > 0 || !mounted) && !made.has(current)) {
      made.add(current);
      args.push('--perms', '0755', '--dir', current);
    }
  });
  return args;
}

/**
 * The folders on this process's PATH that live in otherwise private places (/tmp, /srv, /mnt…):
 * shown read-only so tasks find the same tools. Home folders stay private: tools there (pyenv,
 * nvm shims) depend on the rest of that home, so tasks use the system's instead.
 */
function pathDirArgs(path: string): string[] {
  const args: string[] = [];
  for (const dir of new Set(path.split(delimiter))) {
    const parts = dir.split('/').filter(Boolean);
    if (!dir.startsWith('/') || parts.length < 2 || !PRIVATE_TOP.has(parts[0]!) || ['proc', 'dev', 'root', 'home'].includes(parts[0]!)) continue;
    try {
      if (!statSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    args.push(...dirsFor(dir), '--ro-bind', dir, dir);
  }
  return args;
}

/**
 * Hidden paths resolved before (realpath looks at every component of a path): each is checked
 * again with one stat per use, and resolved afresh once it is gone; one that did not exist is
 * looked for again every time, so a file made later is hidden too.
 */
const hiddenFound = new Map<string, { real: string; dir: boolean }>();

function resolveHidden(path: string): { real: string; dir: boolean } | undefined {
  const known = hiddenFound.get(path);
  if (known && existsSync(known.real)) return known;
  hiddenFound.delete(path);
  try {
    const real = realpathSync(path);
    const found = { real, dir: statSync(real).isDirectory() };
    hiddenFound.set(path, found);
    return found;
  } catch {
    return undefined; // does not exist: nothing to hide
  }
}

/** The host paths to cover: those that exist and would otherwise be visible in the read-only view. */
function hiddenArgs(paths: string[]): string[] {
  const real = new Map<string, boolean>();
  for (const path of paths) {
    const found = resolveHidden(path);
    if (found && found.real !== '/' && !PRIVATE_TOP.has(found.real.split('/')[1]!)) real.set(found.real, found.dir);
  }
  const sorted = [...real.keys()].sort();
  const args: string[] = [];
  const covered: string[] = [];
  for (const path of sorted) {
    if (covered.some((dir) => path.startsWith(`${dir}/`))) continue;
    if (real.get(path)) {
      args.push('--tmpfs', path);
      covered.push(path);
    } else args.push('--ro-bind', '/dev/null', path);
  }
  return args;
}

/**
 * The bwrap command line for one task process: new PID, mount, IPC and UTS namespaces, the
 * machine read-only minus private and Forge's own paths, a private /tmp, only `mounts` of the
 * task's own folders, the network shared. The sandbox's init dies with bwrap, and bwrap with
 * Forge, taking every process of the task along. As root, bwrap sets up the mounts and the task
 * runs as the unprivileged task user; otherwise bwrap uses a user namespace.
 */
export function bwrapArgs(settings: SandboxSettings, mounts: Mount[], cwd: string, command: string, args: string[], infoFd?: number): string[] {
  const out = ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--new-session'];
  if (infoFd !== undefined) out.push('--info-fd', String(infoFd));
  if (!settings.user && process.getuid?.() !== 0) out.push('--unshare-user', '--disable-userns');
  out.push(...systemArgs(), ...hiddenArgs(settings.hidden));
  out.push('--perms', '1777', '--tmpfs', '/tmp', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/dev/shm', '--proc', '/proc');
  if ((varTmp ??= existsSync('/var/tmp'))) out.push('--perms', '1777', '--tmpfs', '/var/tmp');
  out.push(...pathDirArgs(process.env.PATH ?? ''));
  const made = new Set<string>();
  out.push(...dirsFor('/forge', made));
  for (const mount of mounts) {
    const top = `/${mount.inside.split('/')[1]}`;
    if (PRIVATE_TOP.has(top.slice(1)) || !existsSync(top)) {
      if ((mount.kind ?? (statSync(mount.host).isDirectory() ? 'dir' : 'file')) === 'dir') out.push(...dirsFor(mount.inside, made));
      else out.push(...dirsFor(dirname(mount.inside), made));
    } else if (!existsSync(mount.inside)) continue; // inside the read-only system view: no place to mount it
    out.push(mount.writable ? '--bind' : '--ro-bind', mount.host, mount.inside);
  }
  out.push('--remount-ro', '/', '--chdir', cwd);
  const user = settings.user;
  if (!user) return [...out, '--', command, ...args];
  // setpriv drops to the task user with no capabilities left and no way to gain any (no_new_privs).
  return [
    ...out, '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_SETPCAP', '--',
    'setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--',
    command, ...args,
  ];
}

/**
 * Commands found before, by PATH: every task process asked again (a system call or two per PATH
 * folder, ~4 % of a runner's CPU in the throughput bench). Only finds are kept, so a command
 * installed later is found then; one removed later fails in bwrap's exec, which says so.
 */
const found = new Set<string>();

/** True if `command` is an executable on `path` (the sandbox shows the same system folders). */
export function onPath(command: string, path = process.env.PATH ?? ''): boolean {
  const key = `${path}\0${command}`;
  if (found.has(key)) return true;
  if (!lookUp(command, path)) return false;
  if (found.size >= 1000) found.clear(); // a task's environment may set PATH: bounded all the same
  found.add(key);
  return true;
}

function lookUp(command: string, path: string): boolean {
  const candidates = command.includes('/') ? [command] : path.split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/** The home directory the system gives a user (for ~user), if any. */
function homeOf(name: string): string | undefined {
  const entry = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  const home = entry.status === 0 ? entry.stdout.split(':')[5] : undefined;
  return home && home.startsWith('/') && home !== '/' ? home : undefined;
}

function lookupUser(name: string): TaskUser | undefined {
  const id = (flag: string) => spawnSync('id', [flag, name], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The user name a task sees in USER. */
export function taskUserName(settings: SandboxSettings): string {
  return settings.user?.name ?? userInfo().username;
}

export interface SandboxOptions {
  /** The `sandbox` setting. */
  mode: SandboxMode;
  /** The `task_user` setting: the account tasks run as when Forge runs as root ('' keeps root). */
  taskUser: string;
  hidden: string[];
  /** Where tasks get their work folders: without the sandbox, the task user must reach it itself. */
  tmpPath: string;
}

/**
 * Checks at start that tasks can be isolated as configured, and answers how. Throws, naming the
 * setting, when the sandbox cannot start here (bwrap missing, namespaces not allowed) or the task
 * user does not exist, so a server or runner never runs tasks less isolated than it says.
 */
export function prepareSandbox(options: SandboxOptions): SandboxSettings {
  let user: TaskUser | undefined;
  if (process.getuid?.() === 0 && options.taskUser) {
    user = lookupUser(options.taskUser);
    if (!user) throw new Error(`task_user: the user "${options.taskUser}" does not exist. Create it (useradd --system --no-create-home --shell /usr/sbin/nologin ${options.taskUser}, or run infra/bootstrap.sh), or set task_user to "" to run tasks as root`);
  }
  const settings: SandboxSettings = { mode: options.mode, user, hidden: options.hidden, home: homeOf(user?.name ?? userInfo().username) };
  if (options.mode === 'none') {
    if (user && spawnSync('test', ['-w', options.tmpPath, '-a', '-x', options.tmpPath], { uid: user.uid, gid: user.gid }).status !== 0) {
      throw new Error(`tmp_path: the task user "${user.name}" cannot write ${options.tmpPath}; without the sandbox tasks reach their folder as that user: make tmp_path and its parents accessible to it, or set task_user to ""`);
    }
    return settings;
  }
  const probe = spawnSync('bwrap', bwrapArgs(settings, [], '/', 'true', []), { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  if (probe.status !== 0) {
    const why = probe.error ? (probe.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'bwrap is not installed' : probe.error.message : probe.stderr.trim() || `bwrap exited with ${probe.status ?? probe.signal}`;
    throw new Error(`sandbox: tasks cannot be isolated here (${why}). The setting "sandbox" (FORGE_SANDBOX) is "bwrap" by default: install bubblewrap (apt-get install bubblewrap; infra/bootstrap.sh does) on a machine or container that allows namespaces, or set sandbox to "none" to run tasks without isolation, knowingly`);
  }
  return settings;
}

/** The paths a server or runner keeps from its tasks, beside those it names itself. */
export function processPaths(): string[] {
  const paths = [process.cwd()];
  if (process.env.HOME) paths.push(process.env.HOME);
  return paths.filter((path) => {
    const parts = path.split('/').filter(Boolean);
    return parts.length >= 2 && !SYSTEM_TOP.has(parts[0]!);
  });
}
