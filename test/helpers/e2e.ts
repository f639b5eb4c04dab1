/**
 * Browser tests: Debian's Chromium (/usr/bin/chromium, never a downloaded browser) driven by
 * playwright-core, against a real Forge started by startForge(). Each browser gets a fresh
 * profile folder. Screenshots go to test-output/e2e/<file>/ in the repository (kept after the
 * run, ignored by git), or under $FORGE_E2E_OUTPUT.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { spawnRunner, type RunnerProcess } from './runner.js';
import { onCleanup, projectRoot, run, tempDir, waitFor } from './util.js';

export type { RunnerProcess };

export const CHROMIUM = process.env.FORGE_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

// The UI also compiles in the record types it shares with the server.
const WEB_DIRS = [join(projectRoot, 'web', 'src'), join(projectRoot, 'web', 'index.html'), join(projectRoot, 'web', 'vite.config.ts'), join(projectRoot, 'protocol', 'records.ts')];

function newestWebSource(): number {
  let newest = 0;
  const walk = (path: string) => {
    const s = statSync(path);
    if (s.isDirectory()) for (const e of readdirSync(path)) walk(join(path, e));
    else newest = Math.max(newest, s.mtimeMs);
  };
  for (const p of WEB_DIRS) if (existsSync(p)) walk(p);
  return newest;
}

let webBuilt: Promise<string> | undefined;

/**
 * Builds web/dist with Vite when it is missing or older than web/src (once, under a lock shared by
 * parallel test processes). Answers Vite's report (bundle sizes), or '' when nothing was built.
 */
export function ensureWebBuilt(): Promise<string> {
  webBuilt ??= (async () => {
    const index = join(projectRoot, 'web', 'dist', 'index.html');
    const stale = () => !existsSync(index) || statSync(index).mtimeMs < newestWebSource();
    if (!stale()) return '';
    const lock = join(projectRoot, 'node_modules', '.cache', 'forge-web-build.lock');
    mkdirSync(join(lock, '..'), { recursive: true });
    await waitFor(() => {
      try {
        mkdirSync(lock);
        return true;
      } catch {
        try {
          if (Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true });
        } catch { /* gone meanwhile */ }
        return false;
      }
    }, 180_000, { intervalMs: 200, what: 'the web build lock' });
    try {
      if (!stale()) return '';
      const result = await run(process.execPath, [join(projectRoot, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'web/vite.config.ts'], {
        // ava sets NODE_ENV=test, which would give an unminified development bundle: test what ships.
        cwd: projectRoot, timeoutMs: 170_000, env: { ...process.env, NODE_ENV: 'production' },
      });
      if (result.code !== 0) throw new Error(`vite build failed:\n${result.stdout}${result.stderr}`);
      return result.stdout;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  })();
  return webBuilt;
}

/** Where a test file keeps its screenshots: test-output/e2e/<name>/ (emptied first). */
export function e2eOutputDir(name: string): string {
  const dir = join(process.env.FORGE_E2E_OUTPUT ?? join(projectRoot, 'test-output', 'e2e'), name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Saves a full-page PNG as <outDir>/<name>.png and answers its path. */
  shot(name: string, page?: Page): Promise<string>;
  /** Uncaught page errors and console errors seen so far (failed requests the UI handles are left out). */
  errors(): string[];
  close(): Promise<void>;
}

/** Starts headless Chromium with a fresh profile; closed by cleanup() if the test does not. */
export async function openBrowser(outDir: string, options: { viewport?: { width: number; height: number }; isMobile?: boolean } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) or set FORGE_CHROMIUM`);
  const profile = tempDir('forge-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    viewport: options.viewport ?? { width: 1280, height: 860 }, isMobile: options.isMobile, hasTouch: options.isMobile,
    acceptDownloads: true, timezoneId: 'UTC', locale: 'en-GB',
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await context.close().catch(() => {});
  };
  onCleanup(close);
  const errors: string[] = [];
  const watch = (page: Page) => {
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      // The browser logs every non-2xx answer; the UI shows those itself (and 401 means "log in").
      if (msg.type() === 'error' && !/Failed to load resource|EventSource/.test(msg.text())) errors.push(`console: ${msg.text()}`);
    });
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  page.setDefaultTimeout(20_000);
  return {
    context, page, errors: () => [...errors], close,
    async shot(name, which = page) {
      const path = join(outDir, `${name}.png`);
      await which.screenshot({ path, fullPage: true });
      return path;
    },
  };
}

/** Logs in through the login form and waits for the app shell (its user menu). */
export async function uiLogin(page: Page, login: string, password: string): Promise<void> {
  await page.getByLabel('Login or email').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.user-btn').waitFor();
}

/** Logs out through the user menu. */
export async function uiLogout(page: Page): Promise<void> {
  await page.locator('.user-btn').click();
  await page.getByRole('button', { name: 'Log out' }).click();
}

const AXE_SOURCE = readFileSync(join(projectRoot, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

export interface AxeViolation { id: string; impact: string; help: string; nodes: string[] }

/**
 * Runs axe-core (WCAG 2 A/AA rules) on the page as it is and answers the serious and critical
 * violations. The script is evaluated through the DevTools protocol, so a Content-Security-Policy
 * that forbids inline scripts does not stop it.
 */
export async function axeSerious(page: Page): Promise<AxeViolation[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: unknown): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }> }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }, resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  });
}

/**
 * Every line of a task's output as shown, read by scrolling the virtual list from top to bottom
 * (only the lines in view are in the page at any time). Leaves the view where it was.
 */
export async function outputLines(page: Page): Promise<string[]> {
  await page.getByTestId('task-output').waitFor();
  // A string, not a function: the test transpiler would wrap named helpers in __name(), which the page lacks.
  return page.evaluate(`(async () => {
    const el = document.querySelector('[data-testid="task-output"]');
    const seen = new Map();
    const keep = el.scrollTop;
    for (let top = 0; ; top += el.clientHeight) {
      el.scrollTop = top;
      el.dispatchEvent(new Event('scroll'));
      for (let i = 0; i < 3; i++) await new Promise((r) => requestAnimationFrame(r));
      for (const row of el.querySelectorAll('.line')) seen.set(Number(row.dataset.n), row.querySelector('.text').textContent);
      if (top + el.clientHeight >= el.scrollHeight) break;
    }
    el.scrollTop = keep;
    el.dispatchEvent(new Event('scroll'));
    return [...seen.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  })()`);
}

/** first-paint and first-contentful-paint of the current document, in ms after navigation start. */
export async function paintTimings(page: Page): Promise<{ firstPaint: number; firstContentfulPaint: number; domContentLoaded: number }> {
  return page.evaluate(() => {
    const paint = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, Math.round(e.startTime)]));
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
    return { firstPaint: paint['first-paint'] ?? -1, firstContentfulPaint: paint['first-contentful-paint'] ?? -1, domContentLoaded: Math.round(nav?.domContentLoadedEventEnd ?? -1) };
  });
}

/** Writes a small JSON report next to the screenshots. */
export function writeReport(outDir: string, name: string, data: unknown): void {
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify(data, null, 2) + '\n');
}

/**
 * Starts `node bin/run.js runner start --config FILE` with a config object (e.g. the one the
 * Add-runner dialog shows) written to FILE, and waits for its "ready and waiting" line.
 */
export async function startRunnerProcess(config: Record<string, unknown>, options: { configPath?: string; waitReady?: boolean; env?: Record<string, string> } = {}): Promise<RunnerProcess & { configPath: string }> {
  const dir = tempDir('forge-e2e-runner-');
  const configPath = options.configPath ?? join(dir, 'runner.json');
  if (!options.configPath || !existsSync(configPath)) writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  return { configPath, ...(await spawnRunner(configPath, { cwd: dir, env: options.env, waitReady: options.waitReady })) };
}
