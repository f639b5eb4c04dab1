/**
 * The tests run the built CLI (`node bin/run.js`, which loads dist/). `npm test` builds first
 * (infra/bootstrap.sh --test); when a test file is run on its own with `npx ava`, ensureBuilt()
 * rebuilds dist/ if any source is newer than its output. Test files run in parallel processes,
 * so the build is guarded by a lock folder: one process compiles, the others wait for it.
 * FORGE_TEST_SKIP_BUILD=1 turns the check off.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { projectRoot, run, waitFor } from './util.js';

const SOURCE_DIRS = ['protocol', 'services', 'workers', 'cli'];

function staleSource(): string | undefined {
  const walk = (dir: string): string | undefined => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        const found = walk(path);
        if (found) return found;
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const out = join(projectRoot, 'dist', relative(projectRoot, path).replace(/\.ts$/, '.js'));
        let outTime = 0;
        try {
          outTime = statSync(out).mtimeMs;
        } catch {
          return path;
        }
        if (statSync(path).mtimeMs > outTime) return path;
      }
    }
    return undefined;
  };
  for (const dir of SOURCE_DIRS) {
    const found = walk(join(projectRoot, dir));
    if (found) return found;
  }
  return undefined;
}

let built: Promise<void> | undefined;
const lock = join(projectRoot, 'node_modules', '.cache', 'forge-test-build.lock');

/**
 * Makes sure dist/ is at least as new as every source file; compiles once per test process if
 * not. Every call also waits while another test process is compiling, so no server is started
 * from a half-written dist/.
 */
export async function ensureBuilt(): Promise<void> {
  built ??= build();
  await built;
  if (process.env.FORGE_TEST_SKIP_BUILD !== '1') await waitFor(() => !existsSync(lock) || lockIsStale(), 200_000, { intervalMs: 200, what: 'another test process to finish building dist/' });
}

/**
 * A module of the built server (`source` as under the project root, e.g.
 * 'services/store/runners.ts'), once dist/ is current: for tests of one piece on its own, the code
 * the server runs. `T` is the source module's type (`typeof import('../services/…')`).
 */
export async function builtModule<T>(source: string): Promise<T> {
  await ensureBuilt();
  return (await import(join(projectRoot, 'dist', source.replace(/\.ts$/, '.js')))) as T;
}

/** A lock older than the longest build (tsc is given 170 s) was left by a killed process. */
function lockIsStale(): boolean {
  try {
    return Date.now() - statSync(lock).mtimeMs > 180_000;
  } catch {
    return true;
  }
}

function build(): Promise<void> {
  return (async () => {
    if (process.env.FORGE_TEST_SKIP_BUILD === '1' || !staleSource()) return;
    mkdirSync(join(lock, '..'), { recursive: true });
    const acquire = () => {
      try {
        mkdirSync(lock);
        return true;
      } catch {
        if (lockIsStale()) rmSync(lock, { recursive: true, force: true });
        return false;
      }
    };
    await waitFor(acquire, 200_000, { intervalMs: 200, what: 'the dist/ build lock' });
    try {
      const stale = staleSource();
      if (!stale) return; // another test process built it while we waited
      process.stderr.write(`test harness: dist/ is older than ${relative(projectRoot, stale)}; running tsc\n`);
      const result = await run(process.execPath, [join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: projectRoot, timeoutMs: 170_000 });
      // tsc still emits when it reports type errors; say so, and let the tests show what breaks.
      if (result.code !== 0) process.stderr.write(`test harness: tsc reported errors (dist/ was still written):\n${result.stdout}${result.stderr}\n`);
      // The CLI reads its commands from the oclif manifest when there is one: keep it in step.
      await run(process.execPath, [join(projectRoot, 'node_modules', 'oclif', 'bin', 'run.js'), 'manifest'], { cwd: projectRoot, timeoutMs: 60_000, env: { ...process.env, NODE_ENV: 'production' } });
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  })();
}
