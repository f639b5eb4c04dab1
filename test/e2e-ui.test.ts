/**
 * The web UI in headless Chromium against a real Forge (remote runners on, none started, so
 * tasks wait): login and logout, a session that ends sends you to login and back, projects and
 * their records with validation as you type and the API's errors, write-only secrets, task
 * history filters and pages, keyboard use, a phone-sized screen, the queue inspector for admins
 * only, and how fast the first page paints. Screenshots: test-output/e2e/ui/.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { ADMIN_LOGIN, ADMIN_PASSWORD, ApiClient, cleanup, makeBareRepo, projectRoot, startForge, type Forge } from './helpers/index.js';
import { e2eOutputDir, ensureWebBuilt, openBrowser, paintTimings, uiLogin, uiLogout, writeReport, type Browser } from './helpers/e2e.js';

test.after.always(cleanup);

const out = e2eOutputDir('ui');
let forge: Forge;
let browser: Browser;
let page: Page;
let repoPath: string;
let projectId = 0;
let templateId = 0;

test.before(async () => {
  const [, f, repo] = await Promise.all([
    ensureWebBuilt(), startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'true' } }), makeBareRepo({ 'run.sh': 'echo hello\n' }),
  ]);
  forge = f;
  repoPath = repo.path;
  browser = await openBrowser(out);
  page = browser.page;
});

test.afterEach.always(async (t) => {
  if (!t.passed) await browser?.shot(`failed-${t.title.replace(/^afterEach.*? for /, '').slice(0, 40).replace(/\W+/g, '-')}`).catch(() => undefined);
});

const dialog = () => page.getByRole('dialog');

test.serial('login: a wrong password is refused with a message; the right one opens the dashboard (first paint measured)', async (t) => {
  await page.goto(`${forge.url}/`);
  await page.waitForURL(/\/login\?next=%2F$/);
  const coldLogin = await paintTimings(page);
  await page.getByLabel('Login or email').fill(ADMIN_LOGIN);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').getByText('Wrong login or password.').waitFor();
  await browser.shot('01-login-refused');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  t.is(new URL(page.url()).pathname, '/');
  await page.getByText('No runners yet — add one on the Runners page.').waitFor();
  await page.getByText('Nothing is waiting.').waitFor();

  // A full load of the dashboard with the session cookie set.
  await page.reload();
  await page.getByTestId('runners-card').waitFor();
  const dashboard = await paintTimings(page);
  await browser.shot('02-dashboard-empty');

  const dist = join(projectRoot, 'web', 'dist', 'assets');
  const assets = readdirSync(dist).map((name) => {
    const bytes = readFileSync(join(dist, name));
    return { name, bytes: bytes.length, gzip: gzipSync(bytes).length };
  });
  const report = { login_cold_load: coldLogin, dashboard_load: dashboard, assets };
  writeReport(out, 'performance', report);
  t.log(`first contentful paint: login page ${coldLogin.firstContentfulPaint} ms (cold), dashboard ${dashboard.firstContentfulPaint} ms`);
  t.log(`bundle: ${assets.map((a) => `${a.name} ${a.bytes} B (${a.gzip} B gzip)`).join(', ')}`);
  t.true(coldLogin.firstContentfulPaint > 0 && coldLogin.firstContentfulPaint < 3000);
  t.true(assets.filter((a) => a.name.endsWith('.js')).reduce((s, a) => s + a.gzip, 0) < 100 * 1024, 'the script stays small');
  t.deepEqual(browser.errors(), []);
});

test.serial('projects: empty states say what to do next; records are created with checks as you type, and the API\'s errors are shown', async (t) => {
  await page.getByRole('link', { name: 'Projects' }).click();
  await page.getByText('No projects yet — create one.').waitFor();
  await page.getByRole('button', { name: 'New project' }).click();
  await dialog().getByLabel('Name').fill('x');
  await dialog().getByLabel('Name').fill('');
  await dialog().getByText('must not be empty').waitFor();
  await dialog().getByLabel('Name').fill('Web project');
  await dialog().getByRole('button', { name: 'Create project' }).click();
  await page.waitForURL(/\/project\/\d+\/templates$/);
  projectId = Number(/project\/(\d+)/.exec(page.url())![1]);
  await page.getByText('A template needs a repository first').waitFor();
  await browser.shot('03-project-empty');

  await page.getByRole('link', { name: 'add a repository' }).click();
  await page.getByRole('button', { name: 'New repository' }).click();
  await dialog().getByLabel('Name').fill('scripts');
  await dialog().getByLabel('Git URL').fill('/tmp/has space.git');
  await dialog().getByText('must not contain spaces').waitFor();
  await browser.shot('04-repository-invalid');
  await dialog().getByLabel('Git URL').fill(repoPath);
  t.false(await dialog().getByText('must not contain spaces').isVisible(), 'the message goes once fixed');
  await dialog().getByRole('button', { name: 'Create repository' }).click();
  await page.locator('tr[data-name="scripts"]').waitFor();

  await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Templates' }).click();
  await page.getByRole('button', { name: 'New template' }).click();
  await dialog().getByLabel('Name', { exact: true }).fill('hello');
  await dialog().getByLabel('Required runner tag').fill('no spaces allowed');
  await dialog().getByText('1-63 letters, digits').waitFor();
  await dialog().getByLabel('Required runner tag').fill('');
  await dialog().getByLabel('Arguments (JSON array)').fill('[1, 2]');
  await dialog().getByText('must be a JSON array of strings').waitFor();
  await dialog().getByLabel('Arguments (JSON array)').fill('["-x"]');
  // Only the API knows this limit: its message lands beside the field it names.
  await dialog().getByLabel('Playbook / script file').fill('a'.repeat(1100));
  await dialog().getByRole('button', { name: 'Create template' }).click();
  await dialog().locator('.field.invalid').filter({ hasText: 'Playbook / script file' }).getByText(/1024/).waitFor();
  await dialog().getByRole('alert').getByText(/playbook/).waitFor();
  await browser.shot('05-template-api-error');
  await dialog().getByLabel('Playbook / script file').fill('run.sh');
  await dialog().getByRole('button', { name: 'Create template' }).click();
  const row = page.locator('tr[data-name="hello"]');
  await row.waitFor();
  templateId = Number(/templates\/(\d+)/.exec((await row.getByRole('link', { name: 'hello' }).getAttribute('href'))!)![1]);

  // A refusal from the API (the repository is in use) is shown, not swallowed.
  await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Repositories' }).click();
  await page.getByRole('button', { name: 'Delete scripts' }).click();
  await dialog().getByRole('button', { name: 'Delete' }).click();
  await dialog().getByRole('alert').getByText(/in use by template "hello"/).waitFor();
  await browser.shot('06-delete-refused');
  await dialog().getByRole('button', { name: 'Cancel' }).click();
  t.deepEqual(browser.errors(), []);
});

test.serial('secrets are write-only: forms never show them, and an edit that leaves them empty keeps them', async (t) => {
  const secretPassword = 'pw-visible-nowhere-3141';
  const secretValue = 'env-secret-value-2718';
  await page.goto(`${forge.url}/project/${projectId}/keys`);
  await page.getByText('No key store yet.').waitFor();
  await page.getByRole('button', { name: 'New key' }).click();
  await dialog().getByLabel('Name').fill('deploy login');
  await dialog().getByLabel('Type').selectOption('login_password');
  await dialog().getByLabel('Login', { exact: true }).fill('deployer');
  await dialog().getByLabel('Password').fill(secretPassword);
  await dialog().getByRole('button', { name: 'Create key' }).click();
  await page.locator('tr[data-name="deploy login"]').waitFor();
  await page.getByRole('button', { name: 'Edit deploy login' }).click();
  t.is(await dialog().getByLabel('Password').inputValue(), '', 'the stored password is not sent back');
  t.false((await page.content()).includes(secretPassword));
  await dialog().getByLabel('Name').fill('deploy login 2');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await page.locator('tr[data-name="deploy login 2"]').waitFor();
  const keys = await forge.api.get(`/api/project/${projectId}/keys`);
  t.false(keys.text.includes(secretPassword));
  t.false('secret' in keys.body[0]);

  await page.goto(`${forge.url}/project/${projectId}/environment`);
  await page.getByRole('button', { name: 'New environment' }).click();
  await dialog().getByLabel('Name').fill('production');
  await dialog().getByLabel('Extra variables (JSON)').fill('{"a": ');
  await dialog().getByText(/not valid JSON/).waitFor();
  await dialog().getByLabel('Extra variables (JSON)').fill('{"region": "eu"}');
  await dialog().getByRole('button', { name: 'Add secret' }).click();
  await dialog().getByLabel('Name').nth(1).fill('API_TOKEN');
  await dialog().getByLabel('Value').fill(secretValue);
  await dialog().getByRole('button', { name: 'Create environment' }).click();
  const envRow = page.locator('tr[data-name="production"]');
  await envRow.getByText('API_TOKEN').waitFor();
  await page.getByRole('button', { name: 'Edit production' }).click();
  t.is(await dialog().getByLabel('Value').inputValue(), '');
  t.is(await dialog().getByLabel('Value').getAttribute('placeholder'), '•••••• stored — type to replace');
  t.false((await page.content()).includes(secretValue));
  await browser.shot('07-environment-edit-secret');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await page.getByText('Environment "production" saved').waitFor();
  const envs = await forge.api.get(`/api/project/${projectId}/environment`);
  t.false(envs.text.includes(secretValue));
  t.deepEqual(envs.body[0].secrets.map((s: { name: string }) => s.name), ['API_TOKEN'], 'the secret is still there after the edit');
});

test.serial('task history per project and per template: filter by status, page through, live updates', async (t) => {
  const ids: number[] = [];
  for (let i = 0; i < 25; i++) ids.push((await forge.api.json('POST', `/api/project/${projectId}/tasks`, { template_id: templateId, message: `run ${i + 1}` })).id);
  for (const id of ids.slice(0, 3)) await forge.api.json('POST', `/api/project/${projectId}/tasks/${id}/stop`);

  await page.goto(`${forge.url}/project/${projectId}/tasks`);
  await page.getByText('Page 1 of 2 · 25 tasks').waitFor();
  t.is(await page.locator('tr[data-task]').count(), 20);
  t.is(await page.locator('tr[data-task]').first().getAttribute('data-task'), String(ids[24]), 'newest first');
  await browser.shot('08-history-page-1');
  await page.getByRole('button', { name: 'Older →' }).click();
  await page.getByText('Page 2 of 2 · 25 tasks').waitFor();
  // The pager label can render a moment before the rows: wait for the rows themselves.
  await page.waitForFunction(() => document.querySelectorAll('tr[data-task]').length === 5, undefined, { timeout: 10_000 }).catch(() => {});
  t.is(await page.locator('tr[data-task]').count(), 5);
  t.regex(page.url(), /offset=20/);

  await page.getByRole('group', { name: 'Filter by status' }).getByRole('button', { name: 'Stopped' }).click();
  await page.locator('tr[data-task]').first().waitFor();
  await page.waitForFunction(() => document.querySelectorAll('tr[data-task]').length === 3);
  t.deepEqual(await page.locator('tr[data-task]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status'))), ['stopped', 'stopped', 'stopped']);
  t.regex(page.url(), /status=stopped/);
  await page.getByRole('group', { name: 'Filter by status' }).getByRole('button', { name: 'Failed' }).click();
  await page.getByText('No tasks with this status.').waitFor();
  await browser.shot('09-history-filter-empty');

  // Live: a task created elsewhere shows up without a reload.
  await page.getByRole('group', { name: 'Filter by status' }).getByRole('button', { name: 'Waiting' }).click();
  await page.getByText('Page 1 of 2 · 22 tasks').waitFor();
  await forge.api.json('POST', `/api/project/${projectId}/tasks`, { template_id: templateId });
  await page.getByText('Page 1 of 2 · 23 tasks').waitFor();

  // The template's own history, and the waiting task's page says why it waits.
  await page.goto(`${forge.url}/project/${projectId}/templates/${templateId}`);
  await page.getByRole('heading', { name: 'Task history' }).waitFor();
  await page.getByText('Page 1 of 2 · 26 tasks').waitFor();
  await page.locator(`tr[data-task="${ids[24]}"]`).getByRole('link').click();
  await page.getByTestId('waiting-reason').getByText('no runner is registered').waitFor();
  await browser.shot('10-task-waiting');
  t.deepEqual(browser.errors(), []);
});

test.serial('a session that ends sends you to login, and back to the same page afterwards', async (t) => {
  const where = `/project/${projectId}/tasks?status=stopped`;
  await page.goto(forge.url + where);
  await page.locator('tr[data-task]').first().waitFor();
  const session = (await browser.context.cookies()).find((c) => c.name === 'forge_session')!;
  t.truthy(session);
  // End the session on the server, as an expiry would.
  await new ApiClient(forge.url, { cookie: `forge_session=${session.value}` }).post('/api/auth/logout');
  await page.waitForURL(/\/login\?next=/, { timeout: 15_000 }); // the live stream notices
  t.is(new URL(page.url()).searchParams.get('next'), where);
  await page.getByText('Log in to continue; you will return to the page you were on.').waitFor();
  await browser.shot('11-session-ended');
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);
  await page.waitForURL((url) => url.pathname + url.search === where);
  await page.locator('tr[data-task]').first().waitFor();

  // The same when the next click is what finds out.
  const again = (await browser.context.cookies()).find((c) => c.name === 'forge_session')!;
  await new ApiClient(forge.url, { cookie: `forge_session=${again.value}` }).post('/api/auth/logout');
  await page.getByRole('group', { name: 'Filter by status' }).getByRole('button', { name: 'All' }).click();
  await page.waitForURL(/\/login\?next=/, { timeout: 15_000 });
  t.is(new URL(page.url()).searchParams.get('next'), `/project/${projectId}/tasks`);
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);
  await page.waitForURL((url) => url.pathname === `/project/${projectId}/tasks`);

  // Logging out.
  await uiLogout(page);
  await page.waitForURL(/\/login$/);
  t.is((await browser.context.cookies()).find((c) => c.name === 'forge_session'), undefined);
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);
});

test.serial('keyboard: skip link, dialogs open with focus inside and close with Escape, the enabled switch toggles with Space', async (t) => {
  await forge.api.json('POST', '/api/runners', { name: 'kb-runner', tags: [] });
  await page.goto(`${forge.url}/runners`);
  await page.locator('tr[data-runner="kb-runner"]').waitFor();
  await page.keyboard.press('Tab');
  t.is(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');

  const add = page.getByRole('button', { name: 'Add runner' });
  await add.focus();
  await page.keyboard.press('Enter');
  await dialog().waitFor();
  t.is(await page.evaluate(() => (document.activeElement as HTMLInputElement).name), 'name', 'focus starts in the first field');
  await page.keyboard.type('typed-runner');
  await page.keyboard.press('Escape');
  await dialog().waitFor({ state: 'hidden' });
  t.is(await page.evaluate(() => document.activeElement?.textContent), 'Add runner', 'focus returns to the button');

  const toggle = page.getByRole('switch', { name: 'Enabled: kb-runner' });
  await toggle.focus();
  // The row turns disabled at once (optimistic); the API is read only after the save answered.
  const saved = page.waitForResponse((r) => r.url().endsWith('/active') && r.request().method() === 'POST');
  await page.keyboard.press('Space');
  await page.locator('tr[data-runner="kb-runner"][data-status="disabled"]').waitFor();
  t.is((await saved).status(), 204);
  t.is(await toggle.getAttribute('aria-checked'), 'false');
  t.true(await toggle.evaluate((el) => el === document.activeElement), 'focus stays on the switch');
  const [runner] = await forge.api.json('GET', '/api/runners');
  t.false(runner.active);
  await browser.shot('12-runner-disabled');
  await page.keyboard.press('Space');
  await page.locator('tr[data-runner="kb-runner"][data-status="offline"]').waitFor();
});

test.serial('project runners: added on the project\'s Runners tab, listed with their project on the global page', async (t) => {
  await page.goto(`${forge.url}/project/${projectId}/runners`);
  await page.getByRole('heading', { name: 'Project runners' }).waitFor();
  await page.getByText('No runners yet — add one.').waitFor();
  await page.getByRole('button', { name: 'Add runner' }).click();
  await dialog().getByRole('heading', { name: 'Add a project runner' }).waitFor();
  await dialog().getByLabel('Name').fill('project-box');
  await dialog().getByLabel('Webhook').fill('not a url');
  await dialog().getByText('not a valid URL').waitFor();
  await dialog().getByLabel('Webhook').fill('');
  await dialog().getByRole('button', { name: 'Add runner' }).click();
  await dialog().getByTestId('runner-token').waitFor();
  await dialog().getByRole('button', { name: 'Done' }).click();
  await page.locator('tr[data-runner="project-box"]').waitFor();
  const [projectRunner] = await forge.api.json('GET', `/api/project/${projectId}/runners`);
  t.is(projectRunner.name, 'project-box');
  t.is(projectRunner.project_id, projectId);
  await browser.shot('13-project-runners');

  await page.goto(`${forge.url}/runners`);
  const row = page.locator('tr[data-runner="project-box"]');
  await row.getByRole('link', { name: 'Web project' }).waitFor();
});

test.serial('readable on a phone: no sideways scrolling, navigation wraps', async (t) => {
  const phone = await openBrowser(out, { viewport: { width: 390, height: 844 }, isMobile: true });
  const p = phone.page;
  await p.goto(`${forge.url}/login`);
  await uiLogin(p, ADMIN_LOGIN, ADMIN_PASSWORD);
  const paths = ['/', '/runners', `/project/${projectId}/templates`, `/project/${projectId}/tasks`];
  for (const [i, path] of paths.entries()) {
    await p.goto(forge.url + path);
    await p.locator('main h1, main h2').first().waitFor();
    await p.waitForLoadState('networkidle').catch(() => undefined);
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    t.true(overflow <= 1, `${path} fits the phone's width (overflow ${overflow}px)`);
    await phone.shot(`13-phone-${i + 1}-${path.replace(/\W+/g, '-').replace(/^-|-$/g, '') || 'dashboard'}`, p);
  }
  t.deepEqual(phone.errors(), []);
  await phone.close();
});

test.serial('queue inspector: Bull Board at /admin/queues for admins only, listing the BullMQ queues (task queues are Forge\'s own)', async (t) => {
  await forge.api.json('POST', '/api/users', { login: 'viewer', password: 'viewer-password-1', name: 'Viewer' });
  const anon = await openBrowser(out);
  await anon.page.goto(`${forge.url}/admin/queues`);
  await anon.page.waitForURL(/\/login\?next=%2Fadmin%2Fqueues/);
  await anon.page.getByLabel('Login or email').fill(ADMIN_LOGIN);
  await anon.page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await anon.page.getByRole('button', { name: 'Log in' }).click();
  await anon.page.waitForURL(/\/admin\/queues/);
  await anon.page.getByText('completions').first().waitFor({ timeout: 20_000 });
  await anon.shot('14-bull-board', anon.page);
  await anon.close();

  // The BullMQ queues are listed; task queues are Forge's own and show on /queues instead.
  const board = await forge.api.json('GET', '/admin/queues/api/queues');
  const names = board.queues.map((q: { name: string; displayName?: string }) => q.displayName ?? q.name);
  t.deepEqual([...names].sort(), ['completions', 'notifications', 'schedules']);

  const viewer = await new ApiClient(forge.url).login('viewer', 'viewer-password-1');
  const denied = await viewer.get('/admin/queues/api/queues');
  t.is(denied.status, 403);
  const v = await openBrowser(out);
  await v.page.goto(`${forge.url}/login`);
  await uiLogin(v.page, 'viewer', 'viewer-password-1');
  const nav = v.page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Projects' }).waitFor();
  t.false(await nav.getByRole('link', { name: 'Queues' }).isVisible(), 'no queue link for non-admins');
  t.false(await nav.getByRole('link', { name: 'Runners' }).isVisible());
  await v.page.getByText('No runners yet').or(v.page.getByTestId('runners-card')).first().waitFor();
  await v.close();
});
