/**
 * In headless Chromium against a real Forge with its local worker: survey variables edited in the
 * template form (add, every type, enum values, required, default, description, remove), and a
 * Terraform plan confirmed and another rejected from the task page's Confirm / Reject bar (real
 * terraform on `terraform_data`). Screenshots: test-output/e2e/terraform/.
 */
import test from 'ava';
import { ADMIN_LOGIN, ADMIN_PASSWORD, cleanup, makeBareRepo, setupTemplate, startForge, waitForTask } from './helpers/index.js';
import { e2eOutputDir, ensureWebBuilt, openBrowser, uiLogin } from './helpers/e2e.js';

test.after.always(cleanup);

const TF = { 'main.tf': 'resource "terraform_data" "demo" {\n  input = "from-the-ui"\n}\noutput "demo" {\n  value = terraform_data.demo.output\n}\n' };

test('survey variables in the template form; confirm and reject a terraform plan on the task page', async (t) => {
  const [, forge, scriptRepo, tfRepo] = await Promise.all([ensureWebBuilt(), startForge(), makeBareRepo({ 'run.sh': 'echo hi\n' }), makeBareRepo(TF)]);
  const script = await setupTemplate(forge.api, { gitUrl: scriptRepo.path, template: { name: 'greet' } });
  const tf = await setupTemplate(forge.api, { projectId: script.projectId, gitUrl: tfRepo.path, app: 'terraform', playbook: '', template: { name: 'infra', auto_approve: false } });
  const pid = script.projectId;
  const browser = await openBrowser(e2eOutputDir('terraform'));
  const page = browser.page;
  const dialog = () => page.getByRole('dialog');
  const field = (name: string) => dialog().locator(`[name="${name}"]`);
  await page.goto(`${forge.url}/login`);
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);

  // Survey variables: add four, one of each kind, then save.
  await page.goto(`${forge.url}/project/${pid}/templates`);
  await page.getByRole('button', { name: 'Edit greet' }).click();
  const editor = dialog().getByTestId('survey-editor');
  for (let i = 0; i < 4; i++) await editor.getByRole('button', { name: 'Add survey variable' }).click();
  await field('survey-name-0').fill('who');
  await field('survey-title-0').fill('Who');
  await field('survey-description-0').fill('Whom to greet');
  await field('survey-required-0').check();
  await field('survey-name-1').fill('count');
  await field('survey-type-1').selectOption('int');
  await field('survey-default-1').fill('three');
  await field('survey-name-2').fill('level');
  await field('survey-type-2').selectOption('enum');
  await field('survey-values-2').fill('Development = dev\nProduction = prod');
  await field('survey-values-2').blur();
  await field('survey-default-2').fill('dev');
  await field('survey-name-3').fill('token');
  await field('survey-type-3').selectOption('secret');
  // A wrong default is caught before sending, beside its field.
  await dialog().getByRole('button', { name: 'Save' }).click();
  await editor.getByText('a whole number').waitFor();
  await browser.shot('01-survey-editor-error');
  await field('survey-default-1').fill('3');
  await browser.shot('02-survey-editor');
  // The list's reload after the save is held back, so the Edit below is clicked before it answers,
  // as a quick hand can: the form must open what was saved, not the row as it was before.
  const listUrl = `${forge.url}/api/project/${pid}/templates`;
  let releaseList!: () => void;
  const listHeld = new Promise<void>((resolve) => { releaseList = resolve; });
  const isList = (url: URL) => url.href === listUrl;
  await page.route(isList, async (route) => { await listHeld; await route.continue(); });
  await dialog().getByRole('button', { name: 'Save' }).click();
  await dialog().waitFor({ state: 'hidden' });
  let template = await forge.api.json('GET', `/api/project/${pid}/templates/${script.templateId}`);
  t.deepEqual(template.survey_vars.map((v: { name: string; type: string; required: boolean; default_value: string }) => [v.name, v.type, v.required, v.default_value]), [
    ['who', '', true, ''], ['count', 'int', false, '3'], ['level', 'enum', false, 'dev'], ['token', 'secret', false, ''],
  ]);
  t.is(template.survey_vars[0].title, 'Who');
  t.is(template.survey_vars[0].description, 'Whom to greet');
  t.deepEqual(template.survey_vars[2].values, [{ name: 'Development', value: 'dev' }, { name: 'Production', value: 'prod' }]);

  // Edit again: the saved variables come back; remove one.
  await page.getByRole('button', { name: 'Edit greet' }).click();
  t.is(await field('survey-name-2').inputValue(), 'level');
  t.is(await field('survey-values-2').inputValue(), 'Development = dev\nProduction = prod');
  releaseList(); // the route stays, passing every later list request straight through
  await dialog().getByRole('button', { name: 'Remove survey variable count' }).click();
  await dialog().getByRole('button', { name: 'Save' }).click();
  await dialog().waitFor({ state: 'hidden' });
  template = await forge.api.json('GET', `/api/project/${pid}/templates/${script.templateId}`);
  t.deepEqual(template.survey_vars.map((v: { name: string }) => v.name), ['who', 'level', 'token']);
  // The Run dialog asks what the editor defined.
  await page.getByRole('button', { name: 'Run greet' }).click();
  await dialog().getByRole('group', { name: 'Survey' }).getByLabel('Who *').waitFor();
  await browser.shot('03-run-dialog-with-edited-survey');
  await dialog().getByRole('button', { name: 'Cancel' }).click();

  // Plan → confirm from the task page.
  const runInfra = async () => {
    await page.goto(`${forge.url}/project/${pid}/templates`);
    await page.getByRole('button', { name: 'Run infra' }).click();
    await dialog().getByRole('button', { name: 'Run', exact: true }).click();
    await page.waitForURL(/\/project\/\d+\/tasks\/\d+$/);
    const taskId = Number(page.url().split('/').pop());
    const bar = page.getByTestId('plan-confirm');
    await bar.waitFor({ timeout: 180_000 });
    return { taskId, bar };
  };
  const first = await runInfra();
  t.regex((await first.bar.getByTestId('plan-text').textContent())!, /terraform_data\.demo will be created/);
  t.is(await page.getByTestId('task-status').locator('[data-status]').getAttribute('data-status'), 'waiting_confirmation');
  await browser.shot('04-plan-waiting-for-confirmation');
  // The dashboard's running tasks show it waiting, and the history's filter finds it.
  await page.goto(`${forge.url}/`);
  await page.getByRole('region', { name: 'Running tasks' }).locator('[data-status="waiting_confirmation"]').waitFor();
  await browser.shot('04b-dashboard-waiting-for-confirmation');
  await page.goto(`${forge.url}/project/${pid}/tasks`);
  await page.getByRole('group', { name: 'Filter by status' }).getByRole('button', { name: 'Needs confirmation' }).click();
  await page.locator(`tr[data-task="${first.taskId}"][data-status="waiting_confirmation"]`).waitFor();
  await page.goto(`${forge.url}/project/${pid}/tasks/${first.taskId}`);
  await first.bar.waitFor();
  await first.bar.getByRole('button', { name: 'Confirm and apply' }).click();
  await page.getByTestId('task-status').locator('[data-status="success"]').waitFor({ timeout: 180_000 });
  await page.getByText(/Apply complete! Resources: 1 added/).waitFor();
  t.is(await page.getByTestId('plan-confirm').count(), 0);
  t.is((await waitForTask(forge.api, pid, first.taskId)).status, 'success');
  await browser.shot('05-plan-confirmed-and-applied');

  // Plan → reject.
  const second = await runInfra();
  await second.bar.getByRole('button', { name: 'Reject' }).click();
  await page.getByTestId('task-status').locator('[data-status="rejected"]').waitFor({ timeout: 120_000 });
  t.is((await waitForTask(forge.api, pid, second.taskId)).status, 'rejected');
  t.is(await page.getByText(/Apply complete/).count(), 0);
  await browser.shot('06-plan-rejected');
  t.deepEqual(browser.errors(), []);
});
