/**
 * Host configs in the web UI (headless Chromium), under the project's key store: a manager adds
 * one (type, host, an SSH key from the store), sees it listed, and the API has it.
 * Screenshots: test-output/e2e/host-configs/.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_LOGIN, ADMIN_PASSWORD, cleanup, runOk, startForge, tempDir } from './helpers/index.js';
import { e2eOutputDir, ensureWebBuilt, openBrowser, uiLogin } from './helpers/e2e.js';

test.after.always(cleanup);

test('the key store page adds a host config with an SSH key from the store', async (t) => {
  const [, forge] = await Promise.all([ensureWebBuilt(), startForge()]);
  const keyDir = tempDir('forge-e2e-key-');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'key')]);
  const project = await forge.api.json('POST', '/api/projects', { name: 'hosts' });
  const key = await forge.api.json('POST', `/api/project/${project.id}/keys`, { name: 'github deploy', type: 'ssh', ssh: { private_key: readFileSync(join(keyDir, 'key'), 'utf8') } });

  const browser = await openBrowser(e2eOutputDir('host-configs'));
  const page = browser.page;
  await page.goto(`${forge.url}/login`);
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);
  await page.goto(`${forge.url}/project/${project.id}/keys`);
  await page.getByRole('heading', { name: 'Host configs' }).waitFor();
  await page.getByRole('button', { name: 'New host config' }).click();
  await page.getByLabel('Match').selectOption('host');
  await page.getByLabel('Host or URL prefix').fill('github.com');
  await page.getByLabel('SSH key').selectOption(String(key.id));
  await browser.shot('01-new-host-config');
  await page.getByRole('button', { name: 'Create host config' }).click();
  await page.getByRole('button', { name: 'Edit host github.com' }).waitFor();
  await browser.shot('02-listed');
  const configs = await forge.api.json('GET', `/api/project/${project.id}/host_configs`);
  t.like(configs, [{ type: 'host', host: 'github.com', ssh_key_id: key.id }]);
  t.deepEqual(browser.errors(), []);
});
