/**
 * Ansible Galaxy requirements, offline: a collection built here with `ansible-galaxy collection build`
 * and a role packed as a tarball, both committed into the repository (a task sees nothing outside
 * its checkout), are installed into the task's own folder before the playbook, and a second task
 * with the same requirements uses the cache.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { cleanup, makeBareRepo, outputText, runOk, runTask, setupTemplate, startForge, tempDir } from './helpers/index.js';

test.after.always(cleanup);

async function buildCollection(): Promise<string> {
  const root = tempDir('forge-collection-');
  const source = join(root, 'acme', 'demo');
  mkdirSync(join(source, 'plugins', 'modules'), { recursive: true });
  writeFileSync(join(source, 'galaxy.yml'), 'namespace: acme\nname: demo\nversion: 1.0.0\nreadme: README.md\nauthors: [Forge Test]\n');
  writeFileSync(join(source, 'README.md'), 'test collection\n');
  writeFileSync(join(source, 'plugins', 'modules', 'hello.py'), [
    '#!/usr/bin/python', 'from ansible.module_utils.basic import AnsibleModule', 'def main():',
    '    m = AnsibleModule(argument_spec=dict(name=dict(type="str", default="world")))',
    '    m.exit_json(changed=False, greeting="hello " + m.params["name"] + " from acme.demo")',
    'if __name__ == "__main__":', '    main()', '',
  ].join('\n'));
  await runOk('ansible-galaxy', ['collection', 'build', source, '--output-path', root], { cwd: root });
  return join(root, 'acme-demo-1.0.0.tar.gz');
}

test('collections/requirements.yml and roles/requirements.yml are installed before the playbook, then served from the per-runner cache', async (t) => {
  const tarball = await buildCollection();
  const roleRoot = tempDir('forge-role-');
  mkdirSync(join(roleRoot, 'greeter', 'tasks'), { recursive: true });
  mkdirSync(join(roleRoot, 'greeter', 'meta'), { recursive: true });
  writeFileSync(join(roleRoot, 'greeter', 'tasks', 'main.yml'), '- ansible.builtin.debug:\n    msg: "role greeter says hi"\n');
  writeFileSync(join(roleRoot, 'greeter', 'meta', 'main.yml'), 'galaxy_info:\n  author: test\n  description: test role\n  license: MIT\n  min_ansible_version: "2.9"\n  platforms: []\ndependencies: []\n');
  await runOk('tar', ['czf', 'greeter.tar.gz', 'greeter'], { cwd: roleRoot });
  const repo = await makeBareRepo({
    'vendor/acme-demo-1.0.0.tar.gz': readFileSync(tarball),
    'vendor/greeter.tar.gz': readFileSync(join(roleRoot, 'greeter.tar.gz')),
    'collections/requirements.yml': 'collections:\n  - name: vendor/acme-demo-1.0.0.tar.gz\n    type: file\n',
    'roles/requirements.yml': '- src: vendor/greeter.tar.gz\n  name: greeter\n',
    'site.yml': [
      '- hosts: all', '  gather_facts: false', '  roles: [greeter]', '  tasks:',
      '    - acme.demo.hello: { name: forge }', '      register: out',
      '    - ansible.builtin.debug: { msg: "{{ out.greeting }}" }', '',
    ].join('\n'),
  });
  const forge = await startForge();
  const setup = await setupTemplate(forge.api, {
    gitUrl: repo.path, app: 'ansible', playbook: 'site.yml', inventory: 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n',
  });

  const first = await runTask(forge.api, setup, {}, 120_000);
  const firstText = await outputText(forge.api, setup.projectId, first.id);
  t.is(first.status, 'success', firstText);
  t.true(firstText.includes('role greeter says hi'), firstText);
  t.true(firstText.includes('hello forge from acme.demo'), firstText);
  t.regex(firstText, /\$ ansible-galaxy collection install -r collections\/requirements.yml/);
  t.regex(firstText, /\$ ansible-galaxy role install -r roles\/requirements.yml/);
  const cache = readdirSync(join(forge.dirs.tasks, '.galaxy-cache'));
  t.is(cache.length, 1, `one cache entry: ${cache.join(', ')}`);
  t.regex(cache[0]!, /^[0-9a-f]{64}$/);

  const second = await runTask(forge.api, setup, {}, 120_000);
  const secondText = await outputText(forge.api, setup.projectId, second.id);
  t.is(second.status, 'success', secondText);
  t.true(secondText.includes('hello forge from acme.demo'), secondText);
  t.false(secondText.includes('$ ansible-galaxy'), 'the second task installs nothing');
  // The cached entry is copied in: by its path on this machine, or where the sandbox mounts it read-only.
  t.true(secondText.includes(`$ cp -a ${join(forge.dirs.tasks, '.galaxy-cache', cache[0]!)}/.`) || secondText.includes('$ cp -a /forge/galaxy-cache/.'), secondText);
});
