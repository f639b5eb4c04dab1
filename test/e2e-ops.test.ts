/**
 * The UI for daily operations, in headless Chromium against a real Forge with one real runner
 * (one slot): project tabs in any order, the Run dialog's placement preview and "queued" toast,
 * templates' last task, history search and filters kept in the address, search in live and
 * 100,000-line output, the user menu (password, API tokens, users), the native queue page, ISO
 * dates and empty states, phone layouts (390×844), and axe-core on every page. One browser; the
 * phone is a second page of it. Any console error anywhere fails the last test.
 * Screenshots: test-output/e2e/ops/.
 */
import test from 'ava';
import type { Page } from 'playwright-core';
import { ADMIN_LOGIN, ADMIN_PASSWORD, ApiClient, cleanup, makeBareRepo, startForge, waitFor, waitForTask, type Forge } from './helpers/index.js';
import { axeSerious, e2eOutputDir, ensureWebBuilt, openBrowser, uiLogin, uiLogout, writeReport, type AxeViolation, type Browser } from './helpers/e2e.js';
import { startRunner, type TestRunner } from './helpers/runner.js';

test.after.always(cleanup);

const out = e2eOutputDir('ops');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
let forge: Forge;
let browser: Browser;
let page: Page;
let runner: TestRunner;
const ids = { project: 0, other: 0, repo: 0, hello: 0, slow: 0, big: 0, gpu: 0 };
const a11y: Record<string, AxeViolation[]> = {};

const SLOW = 'echo started slow\nfor i in $(seq 1 3000); do echo "tick $i"; sleep 0.2; done\n';
const BIG = 'seq 1 100000 | sed "s/^/row /"\n';

test.before(async () => {
  const [, f, repo] = await Promise.all([
    ensureWebBuilt(),
    startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'true', FORGE_RUNNER_REGISTRATION_TOKEN: 'e2e-registration-token-0123456789' } }),
    makeBareRepo({ 'hello.sh': 'printf "\\033[32mhello\\033[0m from the release branch\\n"\n', 'slow.sh': SLOW, 'big.sh': BIG }, { branch: 'release' }),
  ]);
  forge = f;
  const api = forge.api;
  ids.project = (await api.json('POST', '/api/projects', { name: 'Ops' })).id;
  ids.other = (await api.json('POST', '/api/projects', { name: 'Other' })).id;
  const base = `/api/project/${ids.project}`;
  ids.repo = (await api.json('POST', `${base}/repositories`, { name: 'scripts', git_url: repo.path, git_branch: 'release', ssh_key_id: null })).id;
  await api.json('POST', `${base}/inventory`, { name: 'web hosts', type: 'static', inventory: 'web1\nweb2\n' });
  await api.json('POST', `${base}/environment`, { name: 'staging', json: '{"region":"eu"}', env: '{}', secrets: [] });
  await api.json('POST', `${base}/keys`, { name: 'deploy key', type: 'none' });
  const template = async (name: string, playbook: string, runner_tag = '') =>
    (await api.json('POST', `${base}/templates`, { name, app: 'bash', playbook, repository_id: ids.repo, runner_tag })).id as number;
  ids.hello = await template('hello', 'hello.sh');
  ids.slow = await template('slow', 'slow.sh');
  ids.big = await template('big output', 'big.sh');
  ids.gpu = await template('gpu job', 'hello.sh', 'gpu');
  runner = await startRunner(forge, { name: 'r1', maxParallel: 1, serverMaxParallel: 1 });
  browser = await openBrowser(out, { viewport: DESKTOP });
  page = browser.page;
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: forge.url });
  await page.goto(`${forge.url}/login`);
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);
});

test.afterEach.always(async (t) => {
  if (!t.passed) await browser?.shot(`failed-${t.title.slice(0, 40).replace(/\W+/g, '-')}`).catch(() => undefined);
});

/** axe-core on the page as shown; the result is kept for the summary and asserted by the caller. */
async function checkA11y(name: string, p: Page = page): Promise<AxeViolation[]> {
  const found = await axeSerious(p);
  a11y[name] = found;
  return found;
}

const dialog = () => page.getByRole('dialog');
const sections = () => page.getByRole('navigation', { name: 'Project sections' });

test.serial('project tabs: every tab in several orders shows its own records, never another tab\'s, and nothing breaks', async (t) => {
  const tabs: Array<[string, (p: Page) => Promise<void>]> = [
    ['Templates', (p) => p.locator('tr[data-name="hello"]').waitFor()],
    ['Task history', (p) => p.getByText('No tasks yet.').waitFor()],
    ['Repositories', (p) => p.locator('tr[data-name="scripts"]').waitFor()],
    ['Inventories', (p) => p.locator('tr[data-name="web hosts"]').waitFor()],
    ['Environments', (p) => p.locator('tr[data-name="staging"]').waitFor()],
    ['Key store', (p) => p.locator('tr[data-name="deploy key"]').waitFor()],
    ['Runners', (p) => p.getByRole('heading', { name: 'Project runners' }).waitFor()],
    ['Settings', (p) => p.getByRole('heading', { name: 'Settings' }).waitFor()],
  ];
  const ownRows: Record<string, string> = { Templates: 'hello', Repositories: 'scripts', Inventories: 'web hosts', Environments: 'staging', 'Key store': 'deploy key' };
  const orders = [[0, 1, 2, 3, 4, 5, 6, 7], [7, 6, 5, 4, 3, 2, 1, 0], [2, 3, 4, 2, 4, 3, 6, 0, 5, 2, 7, 3]];
  await page.goto(`${forge.url}/project/${ids.project}/templates`);
  await tabs[0]![1](page);
  for (const order of orders) {
    for (const i of order) {
      const [name, ready] = tabs[i]!;
      await sections().getByRole('link', { name, exact: true }).click();
      await ready(page);
      t.is(await sections().getByRole('link', { name, exact: true }).getAttribute('aria-current'), 'page');
      // No row of another resource is ever on screen.
      for (const [other, row] of Object.entries(ownRows)) {
        if (other !== name) t.is(await page.locator(`tr[data-name="${row}"]`).count(), 0, `${name} shows no ${other} row`);
      }
    }
  }
  for (const [name, ready] of tabs) {
    await sections().getByRole('link', { name, exact: true }).click();
    await ready(page);
    t.deepEqual(await checkA11y(`project-${name}`), [], `axe: ${name}`);
  }
  // After all that, the other pages still render.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runners' }).click();
  await page.locator('tr[data-runner="r1"]').waitFor();
  await sections().waitFor({ state: 'detached' });
  await page.goBack();
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  await browser.shot('01-project-settings-after-tabs');
  t.deepEqual(browser.errors(), []);
});

test.serial('Run dialog: shows the free runner slot, or why the task will wait; the toast says "queued" when it waits', async (t) => {
  await page.goto(`${forge.url}/project/${ids.project}/templates`);
  await page.getByRole('button', { name: 'Run hello' }).click();
  const placement = dialog().getByTestId('placement');
  await placement.getByText('It starts at once').waitFor();
  await placement.getByText('r1: 1 of 1 free').waitFor();
  t.deepEqual(await checkA11y('run-dialog'), []);
  await browser.shot('02-run-dialog-free');
  await dialog().getByLabel('Message').fill('first hello');
  await dialog().getByRole('button', { name: 'Run', exact: true }).click();
  await page.waitForURL(/\/tasks\/\d+$/);
  await page.getByText(/Task #\d+ started/).waitFor();
  await page.getByTestId('task-status').locator('.badge[data-status="success"]').waitFor({ timeout: 60_000 });
  t.is((await page.getByTestId('task-branch').textContent())!.trim(), 'release', 'the branch cloned (the repository\'s), not "default"');
  t.is((await page.getByTestId('task-message').textContent())!.trim(), 'first hello');
  t.regex((await page.getByTestId('task-user').textContent())!, /admin/i);
  // Dates in ISO order with the exact time and zone on hover.
  const created = page.locator('.task-facts time').first();
  t.regex((await created.textContent())!, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  t.regex((await created.getAttribute('title'))!, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC/);

  // The runner's only slot is taken by a long task.
  const slow = await forge.api.json('POST', `/api/project/${ids.project}/tasks`, { template_id: ids.slow, message: 'long one' });
  await waitForTask(forge.api, ids.project, slow.id, ['running'], 60_000);
  await page.goto(`${forge.url}/project/${ids.project}/templates`);
  await page.getByRole('button', { name: 'Run hello' }).click();
  await placement.getByText('It will wait').waitFor();
  await placement.getByText(/all 1 matching runners are busy/).waitFor();
  await placement.getByText('r1: 0 of 1 free').waitFor();
  await browser.shot('03-run-dialog-busy');
  await dialog().getByRole('button', { name: 'Run', exact: true }).click();
  await page.waitForURL(/\/tasks\/\d+$/);
  await page.getByText(/Task #\d+ queued: all 1 matching runners are busy/).waitFor();
  // A waiting task: the reason, and a small empty state instead of a big empty box.
  await page.getByTestId('waiting-reason').waitFor();
  await page.getByTestId('output-empty').getByText('waiting for a runner').waitFor();
  t.is(await page.getByTestId('task-output').count(), 0);
  t.deepEqual(await checkA11y('task-waiting'), []);
  await browser.shot('04-task-waiting');

  // A tag no runner has.
  await page.goto(`${forge.url}/project/${ids.project}/templates`);
  await page.getByRole('button', { name: 'Run gpu job' }).click();
  await placement.getByText(/no runner has tag "gpu"/).waitFor();
  await dialog().getByRole('button', { name: 'Cancel' }).click();
  t.deepEqual(browser.errors(), []);
});

test.serial('output search: marks matches in live output and steps through them', async (t) => {
  const [slow] = (await forge.api.json('GET', `/api/project/${ids.project}/tasks?status=running`)) as Array<{ id: number }>;
  await page.goto(`${forge.url}/project/${ids.project}/tasks/${slow!.id}`);
  await page.getByTestId('task-output').getByText('tick 3', { exact: true }).waitFor({ timeout: 30_000 });
  await page.getByLabel('Search the output').fill('tick 1');
  const count = page.getByTestId('match-count');
  await count.getByText(/^0 of \d+$/).waitFor();
  const first = Number(/of (\d+)/.exec((await count.textContent())!)![1]);
  await page.getByLabel('Search the output').press('Enter');
  await count.getByText(/^1 of \d+$/).waitFor();
  t.true(await page.locator('.log mark.current').isVisible());
  // Live: new lines that match are counted as they arrive (tick 10..19 come within seconds).
  await waitFor(async () => Number(/of (\d+)/.exec((await count.textContent()) ?? '')?.[1] ?? 0) > first, 30_000, { what: 'more matches as lines arrive' });
  t.deepEqual(await checkA11y('task-running-search'), []);
  await browser.shot('05-output-search-live');
  await forge.api.json('POST', `/api/project/${ids.project}/tasks/${slow!.id}/stop`);
  await page.getByTestId('task-status').locator('.badge[data-status="stopped"]').waitFor({ timeout: 30_000 });
  t.deepEqual(browser.errors(), []);
});

test.serial('100,000 output lines: only the visible ones are in the page, and search jumps to a match without freezing', async (t) => {
  const task = await forge.api.json('POST', `/api/project/${ids.project}/tasks`, { template_id: ids.big });
  await waitForTask(forge.api, ids.project, task.id, ['success'], 180_000);
  const loadStart = Date.now();
  await page.goto(`${forge.url}/project/${ids.project}/tasks/${task.id}`);
  await page.evaluate(`(() => {
    window.__longest = 0;
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration); }).observe({ type: 'longtask', buffered: true });
  })()`);
  await page.getByTestId('stream-state').getByText('complete').waitFor({ timeout: 60_000 });
  const loadMs = Date.now() - loadStart;
  const total = Number(/^(\d+) lines/.exec((await page.getByTestId('stream-state').textContent())!)![1]);
  t.true(total >= 100_000, `all lines loaded (${total})`);
  const inPage = await page.locator('.log .line').count();
  t.true(inPage < 1000, `only a window of lines is in the page (${inPage})`);

  const box = page.getByLabel('Search the output');
  const searchStart = Date.now();
  await box.fill('row 5000');
  await page.getByTestId('match-count').getByText('0 of 11').waitFor(); // row 5000, row 50000..50009
  await box.press('Enter');
  await page.getByTestId('match-count').getByText('1 of 11').waitFor();
  const mark = page.locator('.log mark.current');
  await mark.waitFor();
  const searchMs = Date.now() - searchStart;
  t.is(await mark.textContent(), 'row 5000');
  t.is(await mark.evaluate((el) => el.closest('.line')!.querySelector('.text')!.textContent), 'row 5000');
  const inView = await mark.evaluate((el) => {
    const log = el.closest('.log')!.getBoundingClientRect();
    const r = el.getBoundingClientRect();
    return r.top >= log.top && r.bottom <= log.bottom;
  });
  t.true(inView, 'the current match is scrolled into view');
  await box.press('Enter');
  await page.getByTestId('match-count').getByText('2 of 11').waitFor();
  t.is(await page.locator('.log mark.current').evaluate((el) => el.closest('.line')!.querySelector('.text')!.textContent), 'row 50000');
  await box.press('Shift+Enter');
  await page.getByTestId('match-count').getByText('1 of 11').waitFor();
  // How soon the next frame paints with 100k lines loaded.
  const frameMs = await page.evaluate(() => new Promise<number>((resolve) => {
    const start = performance.now();
    requestAnimationFrame(() => resolve(performance.now() - start));
  }));
  const longest = Math.round(await page.evaluate<number>('window.__longest'));
  // Timings are reported, not asserted (this machine is shared); what the test asserts is that only a window is rendered.
  t.log(`100k lines: loaded and rendered in ${loadMs} ms, search + jump in ${searchMs} ms, next frame after ${Math.round(frameMs)} ms, longest main-thread task ${longest} ms, ${inPage} rows in the page`);
  writeReport(out, 'big-output', { lines: total, load_ms: loadMs, search_and_jump_ms: searchMs, frame_ms: Math.round(frameMs), longest_task_ms: longest, rows_in_page: inPage });
  await browser.shot('06-output-search-100k');
  t.deepEqual(browser.errors(), []);
});

test.serial('templates list: last task status, time and who ran it; "run again with these settings"', async (t) => {
  await page.goto(`${forge.url}/project/${ids.project}/templates`);
  const hello = page.locator('tr[data-name="hello"]');
  await hello.locator('[data-last-status]').waitFor();
  t.regex((await hello.textContent())!, /ago by /);
  await page.locator('tr[data-name="big output"] [data-last-status="success"]').waitFor();
  await page.locator('tr[data-name="slow"] [data-last-status="stopped"]').waitFor();
  t.regex((await page.locator('tr[data-name="gpu job"]').textContent())!, /never run/);
  t.deepEqual(await checkA11y('templates'), []);
  await browser.shot('07-templates-last-task');

  // Run again from the first hello task: its settings come along.
  const hellos = (await forge.api.json('GET', `/api/project/${ids.project}/templates/${ids.hello}/tasks?status=success`)) as Array<{ id: number; message: string }>;
  const first = hellos.find((x) => x.message === 'first hello');
  await page.goto(`${forge.url}/project/${ids.project}/tasks/${first!.id}`);
  await page.getByRole('button', { name: 'Run again' }).click();
  t.is(await dialog().getByLabel('Message').inputValue(), 'first hello');
  await dialog().getByLabel('Message').fill('second hello');
  await dialog().getByRole('button', { name: 'Run', exact: true }).click();
  await page.waitForURL((url) => !url.pathname.endsWith(`/tasks/${first!.id}`));
  await page.getByTestId('task-status').locator('.badge[data-status="success"]').waitFor({ timeout: 60_000 });
  t.deepEqual(browser.errors(), []);
});

test.serial('history: text search and filters by template, user, status and date, kept in the address', async (t) => {
  await forge.api.json('POST', '/api/users', { login: 'operator', password: 'operator-password-1', name: 'Olga Operator', admin: true });
  const operator = await new ApiClient(forge.url).login('operator', 'operator-password-1');
  await operator.json('POST', `/api/project/${ids.project}/tasks`, { template_id: ids.gpu, message: 'gpu by olga' });

  await page.goto(`${forge.url}/project/${ids.project}/tasks`);
  await page.locator('tr[data-task]').first().waitFor();
  const rows = page.locator('tr[data-task]');
  const all = await rows.count();
  t.true(all >= 6);
  t.deepEqual(await checkA11y('history'), []);
  await browser.shot('08-history');

  await page.getByLabel('Search').fill('hello');
  await page.waitForURL(/q=hello/);
  await waitFor(async () => (await rows.count()) === 3, 15_000, { what: 'three tasks mention hello' }); // first, second, and the queued one's template
  t.deepEqual((await page.locator('tr[data-task] td[data-label="Template"]').allTextContents()).sort(), ['hello', 'hello', 'hello']);

  await page.getByLabel('Search').fill('');
  await page.waitForURL((url) => !url.search.includes('q='));
  await page.getByLabel('Started by').selectOption({ label: 'Olga Operator' });
  await page.waitForURL(/user=\d+/);
  await waitFor(async () => (await rows.count()) === 1, 15_000, { what: 'only Olga\'s task' });
  t.is((await page.locator('tr[data-task] td[data-label="Message"]').textContent())!.trim(), 'gpu by olga');
  t.is((await page.locator('tr[data-task] td[data-label="Started by"]').textContent())!.trim(), 'Olga Operator');
  t.is((await page.locator('tr[data-task] td[data-label="Branch"]').textContent())!.trim(), 'release');

  await page.getByLabel('Started by').selectOption('');
  await page.getByLabel('Template').selectOption({ label: 'slow' });
  await page.waitForURL(/template=\d+/);
  await waitFor(async () => (await rows.count()) === 1, 15_000, { what: 'only the slow task' });
  await page.getByRole('group', { name: 'Filter by status' }).getByRole('button', { name: 'Succeeded' }).click();
  await page.getByText('No task matches these filters.').waitFor();
  await page.getByRole('group', { name: 'Filter by status' }).getByRole('button', { name: 'Stopped' }).click();
  await rows.first().waitFor();

  // Dates: today finds them, a range in the past finds none; the address keeps it all.
  const today = new Date().toISOString().slice(0, 10);
  await page.getByLabel('From', { exact: true }).fill('2020-01-01');
  await page.getByLabel('To', { exact: true }).fill('2020-01-31');
  await page.getByText('No task matches these filters.').waitFor();
  await page.getByLabel('To', { exact: true }).fill(today);
  await rows.first().waitFor();
  const url = page.url();
  t.regex(url, /template=\d+/);
  t.regex(url, /status=stopped/);
  t.regex(url, new RegExp(`to=${today}`));
  await page.reload();
  await rows.first().waitFor();
  t.is(await rows.count(), 1, 'the filters survive a reload');
  t.is(await page.getByLabel('Template').locator('option:checked').textContent(), 'slow');
  await browser.shot('09-history-filtered');
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await waitFor(async () => (await rows.count()) === all, 15_000, { what: 'every task again' });
  t.deepEqual(browser.errors(), []);
});

test.serial('user menu: password change, API tokens shown once and revoked, admin Users page', async (t) => {
  await page.locator('.user-btn').click();
  await page.locator('#user-menu-list').getByRole('link', { name: 'Profile and password' }).click();
  await page.getByRole('heading', { name: 'Profile' }).waitFor();
  await page.getByLabel('Current password').fill('not-my-password');
  await page.getByLabel('New password', { exact: true }).fill('new-admin-password-1');
  await page.getByLabel('New password again').fill('new-admin-password-2');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.locator('.field-error', { hasText: 'the two new passwords differ' }).waitFor();
  await page.getByLabel('New password again').fill('new-admin-password-1');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.locator('.field-error', { hasText: 'this is not your current password' }).waitFor();
  t.deepEqual(await checkA11y('profile'), []);
  await browser.shot('10-profile-password-refused');
  await page.getByLabel('Current password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Password changed').waitFor();
  t.is((await new ApiClient(forge.url).anonymous().post('/api/auth/login', { auth: ADMIN_LOGIN, password: ADMIN_PASSWORD })).status, 401);
  const fresh = await new ApiClient(forge.url).login(ADMIN_LOGIN, 'new-admin-password-1');
  const me = await fresh.json('GET', '/api/user');
  t.is((await fresh.post(`/api/users/${me.id}/password`, { password: ADMIN_PASSWORD })).status, 204); // back, for the other tests

  await page.locator('.user-btn').click();
  await page.locator('#user-menu-list').getByRole('link', { name: 'API tokens' }).click();
  await page.getByText('No API tokens yet.').waitFor();
  await page.getByRole('button', { name: 'New token' }).click();
  const token = (await dialog().getByTestId('api-token').textContent())!.trim();
  t.regex(token, /^\S{20,}$/);
  await dialog().getByRole('button', { name: 'Copy API token' }).click();
  await dialog().getByText('Copied').waitFor();
  t.is(await page.evaluate(() => navigator.clipboard.readText()), token);
  t.deepEqual(await checkA11y('token-dialog'), []);
  await browser.shot('11-api-token-once');
  await dialog().getByRole('button', { name: 'Done' }).click();
  t.false((await page.content()).includes(token), 'the token is not shown again');
  const bearer = new ApiClient(forge.url).withToken(token);
  t.is((await bearer.get('/api/user')).status, 200);
  await page.locator('tr[data-token]').getByRole('button', { name: /Revoke token/ }).click();
  await dialog().getByRole('button', { name: 'Revoke' }).click();
  await page.getByText('No API tokens yet.').waitFor();
  t.is((await bearer.get('/api/user')).status, 401, 'a revoked token stops working');

  await page.locator('.user-btn').click();
  await page.locator('#user-menu-list').getByRole('link', { name: 'Users' }).click();
  await page.locator('tr[data-user="operator"]').waitFor();
  await page.getByRole('button', { name: 'New user' }).click();
  await dialog().getByLabel('Login').fill('bad login');
  await dialog().getByRole('button', { name: 'Create user' }).click();
  await dialog().getByText(/use 1-64 letters/).waitFor();
  await dialog().getByLabel('Login').fill('viewer');
  await dialog().getByLabel('Name').fill('Vic Viewer');
  await dialog().getByLabel('Password').fill('viewer-password-1');
  await dialog().getByRole('button', { name: 'Create user' }).click();
  await page.locator('tr[data-user="viewer"]').waitFor();
  t.deepEqual(await checkA11y('users'), []);
  // The API behind these pages checks its input and who asks.
  const viewer = await new ApiClient(forge.url).login('viewer', 'viewer-password-1');
  const admin = await forge.api.json('GET', '/api/user');
  t.is((await viewer.post(`/api/users/${admin.id}/password`, { password: 'taken-over-123' })).status, 403);
  const short = await forge.api.post(`/api/users/${admin.id}/password`, { password: 'short' });
  t.is(short.status, 400);
  t.regex(short.body.error, /^password: (must be )?at least 8/);
  const badDate = await forge.api.get(`/api/project/${ids.project}/ui/history?from=yesterday`);
  t.is(badDate.status, 400);
  t.regex(badDate.body.error, /^from: expected a date/);
  t.is((await viewer.get('/api/ui/queues')).status, 403);
  t.is((await viewer.get(`/api/project/${ids.project}/ui/placement/${ids.hello}`)).status, 404, 'not a member: the project is not found');
  await browser.shot('12-users');
  t.deepEqual(browser.errors(), []);
});

test.serial('queues: Forge\'s own page with friendly names, job counts and no "workers" wording; a link to the raw board', async (t) => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Queues' }).click();
  await page.getByRole('heading', { name: 'Queues' }).waitFor();
  const gpuRow = page.locator('tr[data-queue="{tasks-p' + ids.project + '-gpu}"]');
  await gpuRow.waitFor();
  t.regex((await gpuRow.textContent())!, /Ops · gpu/);
  t.regex((await gpuRow.locator('td[data-label="Waiting"]').textContent())!, /^[1-9]/);
  t.regex((await gpuRow.textContent())!, /no runner has tag "gpu"/);
  await page.locator(`tr[data-queue="{tasks-p${ids.project}-_}"]`).getByText('untagged').waitFor();
  const text = (await page.locator('main').textContent())!;
  t.false(/worker/i.test(text), 'runners are not BullMQ workers: the page does not talk of workers');
  t.false(text.includes('{tasks-'), 'no raw queue names on the page');
  t.is(await page.getByRole('link', { name: /Raw queue inspector/ }).getAttribute('href'), '/admin/queues');
  t.deepEqual(await checkA11y('queues'), []);
  await browser.shot('13-queues');
  t.deepEqual(browser.errors(), []);
});

test.serial('phone (390×844): tables become cards with the action first; a task\'s status and output are on the first screen', async (t) => {
  const phone = await browser.context.newPage();
  await phone.setViewportSize(PHONE);
  const shot = (name: string) => browser.shot(name, phone);
  const fits = async (what: string) => {
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    t.true(overflow <= 1, `${what} fits the phone's width (overflow ${overflow}px)`);
  };

  await phone.goto(`${forge.url}/`);
  const why = phone.locator('tr[data-queue] td[data-label="Why"]').first();
  await why.waitFor();
  const box = (await why.boundingBox())!;
  t.true(box.x >= 0 && box.x + box.width <= PHONE.width, 'the waiting table\'s "Why" is on screen');
  await fits('dashboard');
  t.deepEqual(await checkA11y('phone-dashboard', phone), []);
  await shot('20-phone-dashboard');

  await phone.goto(`${forge.url}/project/${ids.project}/templates`);
  const run = phone.getByRole('button', { name: 'Run hello' });
  await run.waitFor();
  const r = (await run.boundingBox())!;
  t.true(r.x >= 0 && r.x + r.width <= PHONE.width, 'Run is on screen');
  const del = (await phone.getByRole('button', { name: 'Delete hello' }).boundingBox())!;
  t.true(del.x + del.width <= PHONE.width, 'Delete too');
  const name = (await phone.locator('tr[data-name="hello"] td').first().boundingBox())!;
  t.true(r.y > name.y && r.y < name.y + 80, 'the actions come right after the name');
  await fits('templates');
  t.deepEqual(await checkA11y('phone-templates', phone), []);
  await shot('21-phone-templates');

  await phone.goto(`${forge.url}/runners`);
  const runnerRow = phone.locator('tr[data-runner="r1"]');
  await runnerRow.waitFor();
  const sw = (await runnerRow.getByRole('switch').boundingBox())!;
  t.true(sw.x + sw.width <= PHONE.width, 'a runner card shows its switch on screen');
  await fits('runners');
  t.deepEqual(await checkA11y('phone-runners', phone), []);
  await shot('21b-phone-runners');

  await phone.goto(`${forge.url}/project/${ids.project}/tasks`);
  await phone.locator('tr[data-task]').first().waitFor();
  await fits('history');
  await shot('22-phone-history');

  const [done] = (await forge.api.json('GET', `/api/project/${ids.project}/templates/${ids.hello}/tasks?status=success`)) as Array<{ id: number }>;
  await phone.goto(`${forge.url}/project/${ids.project}/tasks/${done!.id}`);
  const log = phone.getByTestId('task-output');
  await log.getByText(/hello/).first().waitFor();
  const status = (await phone.locator('.status-line').boundingBox())!;
  const logBox = (await log.boundingBox())!;
  t.true(status.y + status.height < PHONE.height, 'the status line is on the first screen');
  t.true(logBox.y < PHONE.height - 150, `the output starts on the first screen (at ${Math.round(logBox.y)}px)`);
  t.true((await phone.locator('.task-facts').boundingBox())!.y > logBox.y, 'the details come after the output');
  await fits('task');
  t.deepEqual(await checkA11y('phone-task', phone), []);
  await shot('23-phone-task');

  await phone.locator('.user-btn').click();
  await phone.locator('#user-menu-list').getByRole('link', { name: 'API tokens' }).waitFor();
  await fits('user menu');
  await shot('24-phone-user-menu');
  await phone.close();
  t.deepEqual(browser.errors(), []);
});

test.serial('dashboard and runners pages pass axe; logging out through the menu', async (t) => {
  await page.goto(`${forge.url}/`);
  await page.getByTestId('runners-card').waitFor();
  t.deepEqual(await checkA11y('dashboard'), []);
  await browser.shot('30-dashboard');
  await page.goto(`${forge.url}/runners`);
  await page.locator('tr[data-runner="r1"]').waitFor();
  t.deepEqual(await checkA11y('runners'), []);
  await page.goto(`${forge.url}/projects`);
  await page.getByRole('link', { name: /Ops/ }).waitFor();
  t.deepEqual(await checkA11y('projects'), []);
  await uiLogout(page);
  await page.waitForURL(/\/login$/);
  t.deepEqual(await checkA11y('login'), []);
  await browser.shot('31-logged-out');
});

test.serial('no console error on any page through the whole suite, and no serious accessibility violation', async (t) => {
  writeReport(out, 'axe', a11y);
  t.log(`axe-core checked ${Object.keys(a11y).length} pages`);
  t.true(Object.keys(a11y).length >= 20);
  t.deepEqual(Object.entries(a11y).filter(([, v]) => v.length), []);
  t.deepEqual(browser.errors(), []);
  await runner.stop();
});
