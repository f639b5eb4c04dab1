import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Checkout, Step } from './apps.js';

/** The requirement files Forge installs before a playbook, as Semaphore does, and what each may hold. */
const REQUIREMENTS = [
  { file: 'roles/requirements.yml', roles: true, collections: false },
  { file: 'collections/requirements.yml', roles: false, collections: true },
  { file: 'requirements.yml', roles: true, collections: true },
];

/** Where a cached install is seen inside the sandbox (mounted read-only, for the copy step only). */
const CACHE_INSIDE = '/forge/galaxy-cache';

/**
 * Ansible Galaxy requirements: installed with ansible-galaxy into the task's own folder before the
 * playbook runs. Installs are cached per runner under `<tmp_path>/.galaxy-cache/<sha256>` of the
 * repository URL and the requirement files (the URL keeps one repository's local sources from
 * answering for another's). A task never writes the cache: after its install steps succeed, the
 * executor copies the task's install into a staging folder and renames it into place (atomic, so
 * parallel tasks never see half a cache); later tasks get that one entry mounted read-only and copy it.
 * Answers the steps to run first and the environment the playbook needs to find what they installed.
 */
export function galaxySteps(gitUrl: string, checkout: Checkout): { steps: Step[]; env: Record<string, string> } {
  const present = REQUIREMENTS.map((r) => ({ ...r, path: join(checkout.hostDir, r.file) })).filter((r) => existsSync(r.path));
  if (present.length === 0) return { steps: [], env: {} };
  const hash = createHash('sha256').update(`${gitUrl}\0`);
  for (const r of present) hash.update(`${r.file}\0${readFileSync(r.path)}\0`);
  const digest = hash.digest('hex');
  // The checkout is <task folder>/repository (on this machine: <tmp_path>/<task folder>/repository).
  const sandboxed = checkout.dir !== checkout.hostDir;
  const installed = join(dirname(checkout.dir), 'galaxy');
  const installedOnHost = join(dirname(checkout.hostDir), 'galaxy');
  const cacheRoot = join(dirname(dirname(checkout.hostDir)), '.galaxy-cache');
  const cached = join(cacheRoot, digest);
  const steps: Step[] = [];
  if (existsSync(cached)) {
    const source = sandboxed ? CACHE_INSIDE : cached;
    steps.push({ command: 'cp', args: ['-a', `${source}/.`, installed], mounts: [{ host: cached, inside: CACHE_INSIDE }] });
  } else {
    for (const r of present) {
      if (r.roles) steps.push({ command: 'ansible-galaxy', args: ['role', 'install', '-r', r.file, '-p', join(installed, 'roles')] });
      // A root requirements.yml in the old list form names roles only; collection install refuses it.
      if (r.collections && (r.file !== 'requirements.yml' || /^collections\s*:/m.test(readFileSync(r.path, 'utf8')))) {
        steps.push({ command: 'ansible-galaxy', args: ['collection', 'install', '-r', r.file, '-p', join(installed, 'collections')] });
      }
    }
    const last = steps[steps.length - 1];
    if (last) last.after = () => publish(installedOnHost, cacheRoot, digest);
  }
  return {
    steps,
    env: {
      ANSIBLE_ROLES_PATH: [join(installed, 'roles'), join(checkout.dir, 'roles'), '~/.ansible/roles', '/usr/share/ansible/roles', '/etc/ansible/roles'].join(':'),
      ANSIBLE_COLLECTIONS_PATH: [join(installed, 'collections'), '~/.ansible/collections', '/usr/share/ansible/collections'].join(':'),
    },
  };
}

/** Copies a finished install into the cache under its digest, atomically; a lost race leaves the winner's. */
function publish(installedOnHost: string, cacheRoot: string, digest: string): void {
  if (!existsSync(installedOnHost)) return;
  mkdirSync(cacheRoot, { recursive: true, mode: 0o755 });
  const staging = join(cacheRoot, `${digest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    cpSync(installedOnHost, staging, { recursive: true, verbatimSymlinks: true });
    renameSync(staging, join(cacheRoot, digest));
  } catch {
    rmSync(staging, { recursive: true, force: true });
  }
}
