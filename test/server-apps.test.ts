/**
 * The real tools behind the ansible and terraform apps: ansible-playbook against a static
 * localhost inventory with extra variables from the environment, and a terraform configuration
 * with only the builtin terraform_data resource (init works offline).
 */
import test from 'ava';
import { cleanup, type Forge, makeBareRepo, outputText, runTask, setupTemplate, startForge } from './helpers/index.js';

// Both tools colour their output (ANSIBLE_FORCE_COLOR is set by the executor).
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');

let forge: Forge;
test.before(async () => {
  forge = await startForge();
});
test.after.always(cleanup);

test('an ansible playbook runs against a static localhost inventory and sees the environment\'s extra vars', async (t) => {
  const repo = await makeBareRepo({
    'site.yml': [
      '- hosts: all',
      '  gather_facts: false',
      '  tasks:',
      '    - name: show the extra vars',
      '      ansible.builtin.debug:',
      '        msg: "greeting={{ greeting }} number={{ number + 1 }}"',
      // The task may write only inside its own checkout (its sandbox): write there and read it back.
      '    - name: write a file',
      '      ansible.builtin.copy:',
      '        dest: "{{ playbook_dir }}/{{ out_file }}"',
      '        content: "{{ greeting }} from {{ inventory_hostname }}\\n"',
      '    - name: read it back',
      '      ansible.builtin.slurp:',
      '        src: "{{ playbook_dir }}/{{ out_file }}"',
      '      register: written',
      '    - name: show it',
      '      ansible.builtin.debug:',
      '        msg: "file says {{ written.content | b64decode | trim }}"',
      '',
    ].join('\n'),
  });
  const setup = await setupTemplate(forge.api, {
    gitUrl: repo.path, app: 'ansible', playbook: 'site.yml',
    inventory: 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n',
    extraVars: { greeting: 'hello-from-forge', number: 41, out_file: 'written-by-ansible.txt' },
  });
  const task = await runTask(forge.api, setup, {}, 60_000);
  const text = plain(await outputText(forge.api, setup.projectId, task.id));
  t.is(task.status, 'success', text);
  t.is(task.exit_code, 0);
  t.true(text.includes('greeting=hello-from-forge number=42'), text);
  t.regex(text, /PLAY RECAP[\s\S]*localhost\s*:\s*ok=4\s+changed=1\s+unreachable=0\s+failed=0/);
  t.true(text.includes('file says hello-from-forge from localhost'), text);
});

test('a terraform configuration with terraform_data applies, with extra vars as TF_VAR_*', async (t) => {
  const repo = await makeBareRepo({
    'infra/main.tf': [
      'variable "greeting" {',
      '  type = string',
      '}',
      'resource "terraform_data" "example" {',
      '  input = "${var.greeting}-applied"',
      '}',
      'output "echo" {',
      '  value = terraform_data.example.output',
      '}',
      '',
    ].join('\n'),
  });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, app: 'terraform', playbook: 'infra', extraVars: { greeting: 'hello-tf' } });
  const task = await runTask(forge.api, setup, {}, 60_000);
  const text = plain(await outputText(forge.api, setup.projectId, task.id));
  t.is(task.status, 'success', text);
  t.is(task.exit_code, 0);
  t.true(text.includes('$ terraform -chdir=infra init -input=false'), text);
  t.regex(text, /Terraform has been successfully initialized/);
  t.true(text.includes('$ terraform -chdir=infra apply -input=false -auto-approve'), text);
  t.regex(text, /Apply complete! Resources: 1 added, 0 changed, 0 destroyed/);
  t.regex(text, /echo = "hello-tf-applied"/);
});
