import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Step } from './apps.js';

/** The requirement files Forge installs before a playbook, as Semaphore does, and what each may hold. */
const REQUIREMENTS = [
  { file: 'roles/requirements.yml', roles: true, collections: false },
  { file: 'collections/requirements.yml', roles: false, collections: true },
  { file: 'requirements.yml', roles: true, collections: true },
];

/**
 * Ansible Galaxy requirements: installed with ansible-galaxy into the task's own folder before the
 * playbook runs. Installs are cached per runner under `<tmp_path>/.galaxy-cache/<sha256 of the
 * requirement files>`: the first task with given requirements installs into a staging folder and
 * renames it into place (atomic, so parallel tasks never see half a cache); later tasks only copy.
 * Answers the steps to run first and the environment the playbook needs to find what they installed.
 */
export function galaxySteps(repoDir: string): { steps: Step[]; env: Record<string, string> } {
  const present = REQUIREMENTS.map((r) => ({ ...r, path: join(repoDir, r.file) })).filter((r) => existsSync(r.path));
  if (present.length === 0) return { steps: [], env: {} };
  const hash = createHash('sha256');
  for (const r of present) hash.update(`${r.file}\0${readFileSync(r.path)}\0`);
  const digest = hash.digest('hex');
  // repoDir is <tmp_path>/<task folder>/repository: the cache lives beside the task folders.
  const taskDir = dirname(repoDir);
  const cacheRoot = join(dirname(taskDir), '.galaxy-cache');
  const cached = join(cacheRoot, digest);
  const installed = join(taskDir, 'galaxy');
  const steps: Step[] = [];
  if (!existsSync(cached)) {
    const staging = join(cacheRoot, `${digest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    for (const r of present) {
      if (r.roles) steps.push({ command: 'ansible-galaxy', args: ['role', 'install', '-r', r.file, '-p', join(staging, 'roles')] });
      // A root requirements.yml in the old list form names roles only; collection install refuses it.
      if (r.collections && (r.file !== 'requirements.yml' || /^collections\s*:/m.test(readFileSync(r.path, 'utf8')))) {
        steps.push({ command: 'ansible-galaxy', args: ['collection', 'install', '-r', r.file, '-p', join(staging, 'collections')] });
      }
    }
    steps.push({ command: 'bash', args: ['-c', 'mkdir -p "$2" && { mv -T "$1" "$2/$3" 2>/dev/null || rm -rf "$1"; }', 'publish-galaxy-cache', staging, cacheRoot, digest] });
  }
  steps.push({ command: 'cp', args: ['-a', `${cached}/.`, installed] });
  return {
    steps,
    env: {
      ANSIBLE_ROLES_PATH: [join(installed, 'roles'), join(repoDir, 'roles'), '~/.ansible/roles', '/usr/share/ansible/roles', '/etc/ansible/roles'].join(':'),
      ANSIBLE_COLLECTIONS_PATH: [join(installed, 'collections'), '~/.ansible/collections', '/usr/share/ansible/collections'].join(':'),
    },
  };
}
