/**
 * Semaphore's per-task `inventory_id` on POST …/tasks: a task runs on the inventory it names (any
 * inventory of the project) instead of its template's, shows it in its record, and an inventory
 * of another project is refused naming the field.
 */
import test from 'ava';
import { cleanup, makeBareRepo, outputText, runTask, setupTemplate, startForge } from './helpers/index.js';

test.after.always(cleanup);

const LOCAL = 'ansible_connection=local ansible_python_interpreter=/usr/bin/python3';

test('a task runs on the inventory_id it is given, not its template\'s', async (t) => {
  const forge = await startForge();
  const api = forge.api;
  const repo = await makeBareRepo({
    'site.yml': ['- hosts: all', '  gather_facts: false', '  tasks:', '    - ansible.builtin.debug:', '        msg: "running on {{ inventory_hostname }}"', ''].join('\n'),
  });
  const setup = await setupTemplate(api, { gitUrl: repo.path, app: 'ansible', playbook: 'site.yml', inventory: `template-host ${LOCAL}\n` });
  const base = `/api/project/${setup.projectId}`;
  const other = await api.json('POST', `${base}/inventory`, { name: 'staging', type: 'static', inventory: `chosen-host ${LOCAL}\n` });

  const overridden = await runTask(api, setup, { inventory_id: other.id }, 120_000);
  const text = await outputText(api, setup.projectId, overridden.id);
  t.is(overridden.status, 'success', text);
  t.true(text.includes('running on chosen-host'), text);
  t.false(text.includes('template-host'), text);
  t.is((await api.json('GET', `${base}/tasks/${overridden.id}`)).inventory_id, other.id);

  // Without it, the template's inventory as before.
  const plain = await runTask(api, setup, {}, 120_000);
  const plainText = await outputText(api, setup.projectId, plain.id);
  t.true(plainText.includes('running on template-host'), plainText);
  t.is((await api.json('GET', `${base}/tasks/${plain.id}`)).inventory_id, setup.inventoryId);

  // Another project's inventory is not this project's to choose.
  const elsewhere = await api.json('POST', '/api/projects', { name: 'elsewhere' });
  const foreign = await api.json('POST', `/api/project/${elsewhere.id}/inventory`, { name: 'theirs', type: 'static', inventory: `x ${LOCAL}\n` });
  const refused = await api.post(`${base}/tasks`, { template_id: setup.templateId, inventory_id: foreign.id });
  t.is(refused.status, 400);
  t.regex(refused.body.error, /^inventory_id: no inventory/);
});
