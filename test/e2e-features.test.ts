/**
 * The feature pages in headless Chromium against a real Forge with its local worker: the schedule
 * editor and list with the next run, survey inputs in the Run dialog (checked before sending, the
 * secret masked in the output), a notification channel and its result on the task page, an
 * integration's URL and its deliveries. Screenshots: test-output/e2e/features/.
 */
import { createServer } from 'node:http';
import test from 'ava';
import { ADMIN_LOGIN, ADMIN_PASSWORD, cleanup, freePort, makeBareRepo, onCleanup, setupTemplate, startForge, waitFor } from './helpers/index.js';
import { e2eOutputDir, ensureWebBuilt, openBrowser, uiLogin } from './helpers/e2e.js';

test.after.always(cleanup);

test('schedules, survey in the Run dialog, notifications and integrations in the web UI', async (t) => {
  const received: unknown[] = [];
  const receiver = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      received.push(JSON.parse(text || 'null'));
      res.writeHead(200).end('ok');
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => receiver.listen(port, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  const [, forge, repo] = await Promise.all([
    ensureWebBuilt(), startForge(), makeBareRepo({ 'run.sh': 'echo "hello $who on $level with $token"\n' }),
  ]);
  const setup = await setupTemplate(forge.api, {
    gitUrl: repo.path,
    template: {
      name: 'greet',
      survey_vars: [
        { name: 'who', title: 'Who', type: '', required: true, description: 'Whom to greet' },
        { name: 'level', title: 'Level', type: 'enum', required: true, values: [{ name: 'Development', value: 'dev' }, { name: 'Production', value: 'prod' }] },
        { name: 'token', title: 'Token', type: 'secret' },
      ],
    },
  });
  const pid = setup.projectId;
  const browser = await openBrowser(e2eOutputDir('features'));
  const page = browser.page;
  const dialog = () => page.getByRole('dialog');
  await page.goto(`${forge.url}/login`);
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);

  // Schedules: create one, see its next run.
  await page.goto(`${forge.url}/project/${pid}/schedules`);
  await page.getByRole('button', { name: 'New schedule' }).click();
  await dialog().getByLabel('Name').fill('nightly');
  await dialog().getByLabel('Template').selectOption({ label: 'greet' });
  await dialog().getByLabel('Cron expression').fill('0 2 * * *');
  await dialog().getByLabel('Time zone').fill('Europe/Berlin');
  await browser.shot('01-schedule-editor');
  await dialog().getByRole('button', { name: 'Create schedule' }).click();
  const nextRun = page.locator('[data-next-run]').first();
  await nextRun.waitFor();
  t.not(await nextRun.textContent(), '—');
  const [schedule] = await forge.api.json('GET', `/api/project/${pid}/schedules`);
  t.is(schedule.timezone, 'Europe/Berlin');
  t.is(new Date(schedule.next_run).toLocaleTimeString('en-GB', { timeZone: 'Europe/Berlin' }), '02:00:00');
  await browser.shot('02-schedules-list');

  // Notifications: a webhook told about successes.
  await page.goto(`${forge.url}/project/${pid}/notifications`);
  await page.getByRole('button', { name: 'New notification' }).click();
  await dialog().getByLabel('Name').fill('local hook');
  await dialog().getByLabel('Webhook URL').fill(`http://127.0.0.1:${port}/hook`);
  await dialog().getByLabel('When a task succeeds').check();
  await browser.shot('03-notification-editor');
  await dialog().getByRole('button', { name: 'Create notification' }).click();
  await page.getByRole('cell', { name: 'local hook', exact: true }).waitFor();

  // Survey in the Run dialog: a missing answer is caught before sending; the secret is masked in the output.
  await page.goto(`${forge.url}/project/${pid}/templates`);
  await page.getByRole('button', { name: 'Run greet' }).click();
  await dialog().getByRole('group', { name: 'Survey' }).waitFor();
  await dialog().getByRole('button', { name: 'Run', exact: true }).click();
  await dialog().getByText('required').first().waitFor();
  await browser.shot('04-survey-required');
  await dialog().getByLabel('Who *').fill('alice');
  await dialog().getByLabel('Level *').selectOption({ label: 'Production' });
  await dialog().getByLabel('Token').fill('ui-secret-token');
  await dialog().getByRole('button', { name: 'Run', exact: true }).click();
  await page.waitForURL(/\/project\/\d+\/tasks\/\d+$/);
  await page.getByText('hello alice on prod with ********').waitFor({ timeout: 60_000 });
  t.false((await page.content()).includes('ui-secret-token'));
  await waitFor(() => received.length === 1, 30_000, { what: 'the webhook notification' });
  await page.reload(); // the notification results are linked from the task once it has ended
  await page.getByRole('region', { name: 'Notifications' }).getByText('local hook').waitFor();
  t.regex((await page.getByRole('region', { name: 'Notifications' }).textContent())!, /local hook \(webhook\): sent/);
  await browser.shot('05-task-with-survey-and-notification');

  // Integrations: create one, add a URL, call it, see the delivery.
  await page.goto(`${forge.url}/project/${pid}/integrations`);
  await page.getByRole('button', { name: 'New integration' }).click();
  await dialog().getByLabel('Name').fill('deploy hook');
  await dialog().getByLabel('Template to run').selectOption({ label: 'greet' });
  await dialog().getByLabel('Authentication').selectOption('none');
  await dialog().getByRole('button', { name: 'Create integration' }).click();
  await page.getByRole('button', { name: 'Details of deploy hook' }).click();
  await dialog().getByRole('button', { name: 'Add a URL' }).click();
  const url = (await dialog().locator('code.alias-url').first().textContent())!;
  const hook = await fetch(`${forge.url}${new URL(url).pathname}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  t.is(hook.status, 400, 'the survey still applies: who and level are required');
  await dialog().getByRole('button', { name: 'Refresh' }).click();
  await dialog().locator('tr[data-status="rejected"]').first().waitFor();
  t.regex((await dialog().locator('tr[data-status="rejected"]').first().textContent())!, /Who.*is required/);
  await browser.shot('06-integration-deliveries');
  t.deepEqual(browser.errors(), []);
});
