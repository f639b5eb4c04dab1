/**
 * Semaphore's terraform-workspace inventory: the inventory names the workspace a Terraform task
 * selects (created on first use) before it applies. Real terraform, a configuration with no
 * providers (nothing to download).
 */
import test from 'ava';
import { cleanup, type Forge, makeBareRepo, outputText, runTask, setupTemplate, startForge } from './helpers/index.js';

let forge: Forge;
test.before(async () => {
  forge = await startForge();
});
test.after.always(cleanup);

test('a terraform task applies in the workspace its terraform-workspace inventory names', async (t) => {
  const repo = await makeBareRepo({ 'main.tf': 'output "workspace" {\n  value = terraform.workspace\n}\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, app: 'terraform', playbook: '' });
  const base = `/api/project/${setup.projectId}`;
  const inventory = await forge.api.json('POST', `${base}/inventory`, { name: 'staging', type: 'terraform-workspace', inventory: 'staging', repository_id: setup.repositoryId });
  t.is(inventory.repository_id, setup.repositoryId);
  const template = await forge.api.json('GET', `${base}/templates/${setup.templateId}`);
  t.is((await forge.api.put(`${base}/templates/${setup.templateId}`, { ...template, inventory_id: inventory.id })).status, 204);
  const task = await runTask(forge.api, setup, {}, 120_000);
  const text = await outputText(forge.api, setup.projectId, task.id);
  t.is(task.status, 'success', text);
  t.regex(text, /workspace "staging"/);
  t.regex(text, /workspace = "staging"/);
});
