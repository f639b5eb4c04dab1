/**
 * The Workflows page in headless Chromium against a real Forge with its local worker: a workflow
 * made through the API (A → approval → B) is run from the page, waits with Approve/Reject shown
 * on its approval node, and after Approve runs B and shows the run as a success.
 * Screenshots: test-output/e2e/workflows/.
 */
import test from 'ava';
import { ADMIN_LOGIN, ADMIN_PASSWORD, cleanup, makeBareRepo, setupTemplate, startForge } from './helpers/index.js';
import { axeSerious, e2eOutputDir, ensureWebBuilt, openBrowser, uiLogin } from './helpers/e2e.js';

test.after.always(cleanup);

test('the Workflows page runs a workflow, shows node states, and approves the waiting approval', async (t) => {
  const [, forge, repo] = await Promise.all([ensureWebBuilt(), startForge(), makeBareRepo({ 'a.sh': 'echo A\n', 'b.sh': 'echo B\n' })]);
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, playbook: 'a.sh', template: { name: 'build' } });
  const pid = setup.projectId;
  const b = await forge.api.json('POST', `/api/project/${pid}/templates`, { name: 'ship', app: 'bash', playbook: 'b.sh', repository_id: setup.repositoryId });
  const workflow = await forge.api.json('POST', `/api/project/${pid}/workflows`, {
    name: 'release', description: 'build, approve, ship',
    nodes: [{ id: 1, template_id: setup.templateId }, { id: 2, kind: 'approval', approval_message: 'Ship it?' }, { id: 3, template_id: b.id }],
    edges: [{ source_node_id: 1, destination_node_id: 2 }, { source_node_id: 2, destination_node_id: 3 }],
  });

  const browser = await openBrowser(e2eOutputDir('workflows'));
  const page = browser.page;
  await page.goto(`${forge.url}/login`);
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);
  await page.goto(`${forge.url}/project/${pid}/workflows`);
  const card = page.locator(`[data-workflow="${workflow.id}"]`);
  await card.getByText('Not run yet.').waitFor();
  t.regex((await card.textContent()) ?? '', /build · Approval · ship/);

  await card.getByRole('button', { name: 'Run' }).click();
  const approve = card.getByRole('button', { name: 'Approve' });
  await approve.waitFor({ timeout: 60_000 });
  t.is(await card.locator('[data-node="1"]').getAttribute('data-state'), 'success');
  t.is(await card.locator('[data-node="3"]').getAttribute('data-state'), 'pending');
  t.true(await card.getByRole('button', { name: 'Reject' }).isVisible());
  t.regex((await card.locator('[data-node="2"]').textContent()) ?? '', /Ship it\?/);
  await browser.shot('01-waiting-for-approval');
  t.deepEqual(await axeSerious(page), []);

  await approve.click();
  await card.locator('[data-run-status="success"]').waitFor({ timeout: 60_000 });
  t.is(await card.locator('[data-node="3"]').getAttribute('data-state'), 'success');
  t.truthy(await card.locator('[data-node="3"] a').getAttribute('href'), 'the node links to its task');
  await browser.shot('02-run-succeeded');
  t.deepEqual(browser.errors(), []);
  await browser.close();
});
