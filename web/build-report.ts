/**
 * A Vite plugin that ends `npm run build:web` with what the page costs: the size of each file
 * (raw and gzip) and, when Debian's Chromium and playwright-core are there, the first paint of the
 * login page served from the fresh build on a local port. The local server answers /api/* with
 * 401, as a Forge does before login, so the page renders what a new visitor sees.
 * FORGE_WEB_SKIP_PAINT=1 skips the browser; FORGE_CHROMIUM points at another Chromium binary.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.html': 'text/html; charset=utf-8' };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} kB`;

async function measurePaint(outDir: string): Promise<string> {
  if (process.env.FORGE_WEB_SKIP_PAINT === '1') return 'first paint: skipped (FORGE_WEB_SKIP_PAINT=1)';
  const chromiumPath = process.env.FORGE_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(chromiumPath)) return `first paint: not measured (no Chromium at ${chromiumPath}; apt-get install chromium)`;
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    return 'first paint: not measured (playwright-core is not installed)';
  }
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path.startsWith('/api/')) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"not logged in"}');
      return;
    }
    const file = resolve(outDir, '.' + path);
    const target = file.startsWith(outDir) && existsSync(file) && statSync(file).isFile() ? file : join(outDir, 'index.html');
    res.writeHead(200, { 'Content-Type': TYPES[extname(target)] ?? 'application/octet-stream' }).end(readFileSync(target));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const profile = mkdtempSync(join(tmpdir(), 'forge-paint-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/login`);
      await page.waitForSelector('#login-auth');
      const t = await page.evaluate(() => {
        const paint = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, Math.round(e.startTime)]));
        return { fcp: paint['first-contentful-paint'] ?? -1, ready: Math.round(performance.now()) };
      });
      return `first paint (headless Chromium, login page, cold profile, local server): first-contentful-paint ${t.fcp} ms, login form ready by ${t.ready} ms`;
    } finally {
      await context.close();
    }
  } catch (err) {
    return `first paint: not measured (${(err as Error).message.split('\n')[0]})`;
  } finally {
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

export function buildReport(): Plugin {
  let outDir = '';
  return {
    name: 'forge-build-report',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    async closeBundle() {
      const all = files(outDir).map((path) => {
        const bytes = readFileSync(path);
        return { path, ext: extname(path), bytes: bytes.length, gzip: gzipSync(bytes).length };
      });
      const sum = (ext: string, key: 'bytes' | 'gzip') => all.filter((f) => f.ext === ext).reduce((s, f) => s + f[key], 0);
      const total = all.reduce((s, f) => s + f.gzip, 0);
      process.stdout.write(`\nForge web UI: ${all.length} files; JavaScript ${kb(sum('.js', 'bytes'))} (${kb(sum('.js', 'gzip'))} gzip), CSS ${kb(sum('.css', 'bytes'))} (${kb(sum('.css', 'gzip'))} gzip); ${kb(total)} gzip in all\n`);
      process.stdout.write(`${await measurePaint(outDir)}\n`);
    },
  };
}
