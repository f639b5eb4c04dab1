/**
 * The web UI with a real remote runner, in headless Chromium: add a runner in the UI and start
 * `forge runner start` with the config the dialog shows; run a template from the UI and watch its
 * output stream in (ANSI colours, auto-scroll, reload without gaps or duplicates, raw download);
 * stop a task; the dashboard follows the runner going offline and coming back; delete the runner
 * in the UI and its token stops working. Screenshots: test-output/e2e/runner/.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import {
  ADMIN_LOGIN, ADMIN_PASSWORD, cleanup, makeBareRepo, projectRoot, run, setupTemplate, startForge, tempDir, waitFor, waitForTask,
  type Forge, type TemplateSetup,
} from './helpers/index.js';
import { type Gate, startGate } from './helpers/sandbox.js';
import { e2eOutputDir, ensureWebBuilt, openBrowser, outputLines, startRunnerProcess, uiLogin, writeReport, type Browser, type RunnerProcess } from './helpers/e2e.js';

test.after.always(cleanup);

const out = e2eOutputDir('runner');
const RUNNER = 'e2e-runner';

let forge: Forge;
let browser: Browser;
let page: Page;
let streaming: TemplateSetup;
let endless: TemplateSetup;
let runnerToken = '';
let runnerConfig: Record<string, unknown>;
let runnerDir = '';
let setupInstructions = '';
let runner: RunnerProcess | undefined;
let gate: Gate;

test.before(async () => {
  const [, f] = await Promise.all([ensureWebBuilt(), startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'true' } })]);
  forge = f;
  gate = await startGate();
  const repo = await makeBareRepo({
    // 120 lines, then it waits for the test to open the gate (loopback: the task is sandboxed),
    // then 120 more: the test decides when the second half comes, with no timing guesses.
    'stream.sh': [
      '#!/bin/bash',
      "printf '\\033[1;32mgreen start\\033[0m plain \\033[31mred\\033[0m\\n'",
      'for i in $(seq 1 120); do echo "line $i"; done',
      gate.wait,
      'for i in $(seq 121 240); do echo "line $i"; done',
      '',
    ].join('\n'),
    'forever.sh': '#!/bin/bash\necho "started forever"\nwhile true; do sleep 0.1; done\n',
  });
  streaming = await setupTemplate(forge.api, { gitUrl: repo.path, playbook: 'stream.sh', template: { name: 'stream' } });
  endless = await setupTemplate(forge.api, { projectId: streaming.projectId, gitUrl: repo.path, playbook: 'forever.sh', template: { name: 'forever' } });
  browser = await openBrowser(out);
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: forge.url });
  page = browser.page;
  await page.goto(`${forge.url}/runners`);
  await uiLogin(page, ADMIN_LOGIN, ADMIN_PASSWORD);
});

test.afterEach.always(async (t) => {
  if (!t.passed) await browser?.shot(`failed-${t.title.replace(/^afterEach.*? for /, '').slice(0, 40).replace(/\W+/g, '-')}`).catch(() => undefined);
});

test.serial('add a runner in the UI, start it with the token and config the dialog shows; it comes online without a reload', async (t) => {
  await page.getByRole('heading', { name: 'Runners' }).waitFor();
  await page.getByText('No runners yet — add one.').waitFor();
  await page.getByRole('button', { name: 'Add runner' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name').fill(RUNNER);
  await dialog.getByLabel('Tags').fill('bad tag!');
  await dialog.getByText('"tag!": a tag is 1-63 letters').waitFor(); // validated as you type
  await dialog.getByLabel('Tags').fill('e2e, linux');
  await dialog.getByLabel('Max parallel tasks').fill('2');
  await dialog.getByRole('button', { name: 'Add runner' }).click();

  const tokenEl = dialog.getByTestId('runner-token');
  runnerToken = (await tokenEl.textContent())!.trim();
  t.regex(runnerToken, /^\S{20,}$/);
  await dialog.getByRole('button', { name: 'Copy runner token' }).click();
  await dialog.getByRole('button', { name: 'Copy runner token' }).getByText('Copied').waitFor();
  t.is(await page.evaluate(() => navigator.clipboard.readText()), runnerToken);

  // Every tab carries the token; the config-file tab holds the JSON the runner reads.
  const tabs = ['Config file', 'Setup (stdin)', 'Environment variables', 'Container'];
  const texts: Record<string, string> = {};
  for (const name of tabs) {
    await dialog.getByRole('tab', { name }).click();
    texts[name] = (await dialog.getByRole('tabpanel').locator('pre').textContent())!;
    t.true(texts[name]!.includes(runnerToken), `the ${name} tab shows the token`);
  }
  t.regex(texts['Setup (stdin)']!, /forge runner setup --config \S+ <<'EOF'/);
  t.regex(texts['Environment variables']!, /FORGE_RUNNER_TOKEN=\S+[\s\S]*forge runner start/);
  t.regex(texts.Container!, /docker run [\s\S]*forge runner start/);
  await dialog.getByRole('tab', { name: 'Config file' }).click();
  await browser.shot('01-add-runner-token');

  const json = /<<'EOF'\n([\s\S]*?)\nEOF/.exec(texts['Config file']!)![1]!;
  const shown = JSON.parse(json) as { web_host: string; runner: Record<string, unknown> };
  t.regex(shown.web_host, new RegExp(`^http://(localhost|127\\.0\\.0\\.1):${forge.port}$`), 'the instructions point at this server');
  t.is(shown.runner.token, runnerToken);
  t.deepEqual(shown.runner.tags, ['e2e', 'linux']);
  // Only the paths change: this test may not write to /etc.
  setupInstructions = texts['Setup (stdin)']!;
  const dir = tempDir('forge-e2e-runner-cfg-');
  runnerDir = dir;
  runnerConfig = { ...shown, tmp_path: join(dir, 'work'), runner: { ...shown.runner, private_key_file: join(dir, 'runner.key') } };
  writeFileSync(join(dir, 'runner.json'), JSON.stringify(runnerConfig, null, 2));
  await dialog.getByRole('button', { name: 'Done' }).click();

  const row = page.locator(`tr[data-runner="${RUNNER}"]`);
  await row.waitFor();
  t.is(await row.getAttribute('data-status'), 'offline', 'added but not started: offline');
  runner = await startRunnerProcess(runnerConfig, { configPath: join(dir, 'runner.json') });
  await page.locator(`tr[data-runner="${RUNNER}"][data-status="online"]`).waitFor({ timeout: 15_000 });
  t.regex((await row.textContent())!, /0 \/ 2/);
  await browser.shot('02-runner-online');
  t.deepEqual(browser.errors(), []);
});

const lineTexts = (p: Page) => outputLines(p);

test.serial('run a template from the UI: live output with colours, auto-scroll that yields to the user, reload resumes without gaps or duplicates', async (t) => {
  await page.goto(`${forge.url}/project/${streaming.projectId}/templates/${streaming.templateId}`);
  await page.getByRole('heading', { name: 'stream' }).waitFor();
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Message').fill('from the e2e test');
  await dialog.getByRole('button', { name: 'Run', exact: true }).click();
  await page.waitForURL(/\/project\/\d+\/tasks\/\d+$/);
  const taskId = Number(/tasks\/(\d+)$/.exec(page.url())![1]);

  const output = page.getByTestId('task-output');
  await output.getByText('line 120', { exact: true }).waitFor({ timeout: 30_000 });
  t.is(await page.getByTestId('task-status').locator('.badge').getAttribute('data-status'), 'running', 'the first half arrived while the task runs');
  t.is((await page.getByTestId('task-runner').textContent())!.trim(), RUNNER);
  // ANSI colours became styled spans, and no escape bytes are left in the text.
  t.true(await output.locator('.a-fg-2.a-b', { hasText: 'green start' }).isVisible());
  t.true(await output.locator('.a-fg-1', { hasText: 'red' }).isVisible());
  t.false((await output.textContent())!.includes('\u001b'));
  const atBottom = () => output.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 30);
  await waitFor(atBottom, 5000, { what: 'the output to follow the new lines' });
  await browser.shot('03-task-running');

  // Reload in the middle: the page shows what was there, exactly once, and keeps streaming.
  await page.reload();
  await output.getByText('line 120', { exact: true }).waitFor();
  const afterReload = (await lineTexts(page)).filter((l) => l.startsWith('line '));
  t.deepEqual(afterReload, Array.from({ length: 120 }, (_, i) => `line ${i + 1}`));
  await page.getByTestId('stream-state').getByText('live').waitFor();

  // The user scrolls up: new lines must not pull the view down.
  await output.evaluate((el) => {
    el.scrollTop = 0;
    el.dispatchEvent(new Event('scroll'));
  });
  const follow = page.getByRole('button', { name: '↓ Follow output' });
  await follow.waitFor();
  gate.open();
  // Scrolled to the top, the last lines are not rendered (the list is virtual): wait for the end.
  await page.getByTestId('stream-state').getByText('complete').waitFor({ timeout: 30_000 });
  t.true(await output.evaluate((el) => el.scrollTop < 50), 'the view stayed where the user put it');
  await follow.click();
  await waitFor(atBottom, 5000, { what: 'Follow output to scroll to the end' });
  t.false(await follow.isVisible());

  await page.getByTestId('task-status').locator('.badge[data-status="success"]').waitFor({ timeout: 30_000 });
  await page.getByTestId('stream-state').getByText('complete').waitFor();
  const lines = (await lineTexts(page)).filter((l) => l.startsWith('line '));
  t.deepEqual(lines, Array.from({ length: 240 }, (_, i) => `line ${i + 1}`), 'every line once, in order');
  const task = await waitForTask(forge.api, streaming.projectId, taskId);
  t.is(task.status, 'success');
  t.is(task.message, 'from the e2e test');
  t.true((await page.locator('.task-facts').textContent())!.includes(task.commit_hash.slice(0, 10)), 'the commit is shown');
  await output.evaluate((el) => { el.scrollTop = 0; });
  await browser.shot('04-task-success');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download raw output' }).click()]);
  t.is(download.suggestedFilename(), `task-${taskId}.log`);
  const raw = readFileSync((await download.path())!, 'utf8');
  t.true(raw.includes('line 1\n') && raw.includes('line 240\n'));
  t.true(raw.includes('\u001b[1;32mgreen start'), 'the raw output keeps the escape codes');

  // The task history lists it, filterable by status.
  await page.goto(`${forge.url}/project/${streaming.projectId}/tasks`);
  await page.locator(`tr[data-task="${taskId}"][data-status="success"]`).waitFor();
  t.deepEqual(browser.errors(), []);
});

test.serial('stop a running task from its page', async (t) => {
  await page.goto(`${forge.url}/project/${endless.projectId}/templates/${endless.templateId}`);
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Run', exact: true }).click();
  await page.waitForURL(/\/tasks\/\d+$/);
  const taskId = Number(/tasks\/(\d+)$/.exec(page.url())![1]);
  await page.getByTestId('task-output').getByText('started forever').waitFor({ timeout: 30_000 });
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await page.getByTestId('task-status').locator('.badge[data-status="stopped"]').waitFor({ timeout: 30_000 });
  t.false(await page.getByRole('button', { name: 'Stop', exact: true }).isVisible(), 'no stop button on a finished task');
  t.is((await waitForTask(forge.api, endless.projectId, taskId)).status, 'stopped');
  await browser.shot('05-task-stopped');
});

test.serial('the dashboard follows the runner going offline and coming back, without a reload', async (t) => {
  await page.goto(`${forge.url}/`);
  const count = (state: string) => page.locator(`[data-count="${state}"] strong`);
  await page.locator('[data-count="online"] strong', { hasText: /^1$/ }).waitFor();
  t.is(await count('offline').textContent(), '0');
  t.is(await page.getByTestId('hour-card').locator('.ok-text').getAttribute('data-value'), '1', 'the finished task is counted');
  await browser.shot('06-dashboard-online');

  const killedAt = Date.now();
  runner!.process.kill('SIGKILL');
  await runner!.exited;
  await page.locator('[data-count="offline"] strong', { hasText: /^1$/ }).waitFor({ timeout: 15_000 });
  const seenAfterMs = Date.now() - killedAt;
  t.is(await count('online').textContent(), '0');
  t.log(`dashboard showed the runner offline ${seenAfterMs} ms after it was killed`);
  t.true(seenAfterMs < 10_000);

  // A task now waits, and the dashboard says why.
  await forge.api.json('POST', `/api/project/${streaming.projectId}/tasks`, { template_id: endless.templateId });
  const waitingRow = page.locator('tr[data-queue]').first();
  await waitingRow.getByText(/no runner is online|no online runner/).waitFor({ timeout: 15_000 });
  await browser.shot('07-dashboard-offline');

  // Back again, this time set up the way the dialog's "Setup (stdin)" tab says (answers fed on
  // stdin), with the same token and key: it comes back online and takes the waiting task.
  const shim = tempDir('forge-e2e-bin-');
  writeFileSync(join(shim, 'forge'), `#!/bin/sh\nexec "${process.execPath}" "${join(projectRoot, 'bin', 'run.js')}" "$@"\n`, { mode: 0o755 });
  const setupDir = tempDir('forge-e2e-setup-');
  const setupScript = setupInstructions.split('\nforge runner start')[0]!
    .replaceAll('/etc/forge/runner.json', join(setupDir, 'runner.json')).replaceAll('/etc/forge/runner.key', join(runnerDir, 'runner.key'));
  const setup = await run('bash', ['-c', setupScript], { env: { ...process.env, PATH: `${shim}:${process.env.PATH}` }, cwd: setupDir });
  t.is(setup.code, 0, setup.stdout + setup.stderr);
  const written = JSON.parse(readFileSync(join(setupDir, 'runner.json'), 'utf8'));
  t.is(written.runner.token, runnerToken);
  t.deepEqual(written.runner.tags, ['e2e', 'linux']);
  runner = await startRunnerProcess({}, { configPath: join(setupDir, 'runner.json'), env: { FORGE_TMP_PATH: join(setupDir, 'work') } });
  await page.locator('[data-count="online"] strong', { hasText: /^1$/ }).waitFor({ timeout: 15_000 });
  await page.getByTestId('running-card').locator('.big', { hasText: /^1$/ }).waitFor({ timeout: 15_000 });
  await browser.shot('08-dashboard-back');
  writeReport(out, 'dashboard-offline', { seen_offline_after_ms: seenAfterMs });
});

test.serial('delete the runner in the UI after confirming; its token stops working at once', async (t) => {
  await page.goto(`${forge.url}/runners`);
  const row = page.locator(`tr[data-runner="${RUNNER}"]`);
  await row.waitFor();
  await row.getByRole('button', { name: `Delete runner ${RUNNER}` }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText(`Delete ${RUNNER}?`).waitFor();
  await browser.shot('09-delete-confirm');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  t.true(await row.isVisible(), 'cancel keeps it');

  await row.getByRole('button', { name: `Delete runner ${RUNNER}` }).click();
  await dialog.getByRole('button', { name: 'Delete runner' }).click();
  await page.getByText(`Runner "${RUNNER}" deleted`).waitFor();
  await page.getByText('No runners yet — add one.').waitFor();
  const hello = await forge.api.anonymous().post('/api/internal/runners/hello', { version: 'x', capabilities: [], active: [], draining: false }, { headers: { 'x-runner-token': runnerToken } });
  t.is(hello.status, 401);
  // The running runner process is turned away too.
  await waitFor(async () => runner!.process.exitCode !== null || runner!.process.signalCode !== null || /unknown runner token/.test(runner!.logs()), 30_000, { what: 'the deleted runner to be turned away' });
  await browser.shot('10-runner-deleted');
  t.deepEqual(browser.errors(), []);
});
