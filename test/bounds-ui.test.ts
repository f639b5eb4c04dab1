/**
 * The web UI works under the Content-Security-Policy header Forge sends (#12): log in, the
 * dashboard with its live feed, a task page streaming output, logging out, and the queue
 * inspector (its own, looser policy) — with no CSP violation or other console error in Chromium.
 */
import test from 'ava';
import { ADMIN_LOGIN, ADMIN_PASSWORD, cleanup, makeBareRepo, runTask, setupTemplate, startForge } from './helpers/index.js';
import { e2eOutputDir, ensureWebBuilt, openBrowser, uiLogin, uiLogout } from './helpers/e2e.js';

test.after.always(cleanup);

test('the UI logs in, shows the dashboard, streams a task\'s output and logs out under the CSP, with no violation', async (t) => {
  const [, forge, repo] = await Promise.all([ensureWebBuilt(), startForge(), makeBareRepo({ 'run.sh': 'for i in 1 2 3; do echo "csp line $i"; done\n' })]);
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const task = await runTask(forge.api, setup);
  const browser = await openBrowser(e2eOutputDir('bounds-csp'));
  const { page } = browser;
  const violations: string[] = [];
  await page.exposeFunction('reportViolation', (text: string) => violations.push(text));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => (window as unknown as { reportViolation(s: string): void }).reportViolation(`${e.violatedDirective} ${e.blockedURI}`));
  });

  const first = await page.goto(`${forge.url}/`);
  const csp = (await first!.allHeaders())['content-security-policy'] ?? '';
  t.regex(csp, /script-src 'self'(;|$)/);
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await page.goto(`${forge.url}/project/${setup.projectId}/tasks/${task.id}`);
  await page.getByText('csp line 3').first().waitFor();
  await browser.shot('task-under-csp');
  await uiLogout(page);
  await page.getByLabel('Login or email').waitFor();

  await page.goto(`${forge.url}/admin/queues`);
  await page.getByLabel('Login or email').fill(ADMIN_LOGIN);
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/\/admin\/queues/);
  await page.getByText('completions').first().waitFor();
  await browser.shot('queue-board-under-csp');

  t.deepEqual(violations, []);
  t.deepEqual(browser.errors(), []);
  await browser.close();
});
