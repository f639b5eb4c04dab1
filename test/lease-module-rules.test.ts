/**
 * The module rules, enforced with dependency-cruiser (.dependency-cruiser.cjs): workers/ imports
 * only protocol/ and workers/, protocol/ imports nothing of services/, workers/ or cli/.
 */
import test from 'ava';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, projectRoot, run, tempDir } from './helpers/index.js';

test.after.always(cleanup);

const depcruise = join(projectRoot, 'node_modules', '.bin', 'depcruise');

test('the source tree keeps the module rules', async (t) => {
  const result = await run(depcruise, ['protocol', 'services', 'workers', 'cli', '--config', '.dependency-cruiser.cjs'], { cwd: projectRoot, timeoutMs: 120_000 });
  t.is(result.code, 0, result.stdout + result.stderr);
});

test('the rules catch a runner module that imports the server, and a protocol module that imports a side', async (t) => {
  const dir = tempDir();
  for (const folder of ['workers', 'services', 'protocol']) mkdirSync(join(dir, folder));
  writeFileSync(join(dir, 'services', 'store.ts'), 'export const store = 1;\n');
  writeFileSync(join(dir, 'workers', 'agent.ts'), "import { store } from '../services/store.js';\nexport const agent = store;\n");
  writeFileSync(join(dir, 'protocol', 'wire.ts'), "import { agent } from '../workers/agent.js';\nexport const wire = agent;\n");
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }));
  copyFileSync(join(projectRoot, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
  const result = await run(depcruise, ['protocol', 'services', 'workers', '--config', '.dependency-cruiser.cjs'], { cwd: dir, timeoutMs: 120_000 });
  t.not(result.code, 0);
  t.regex(result.stdout, /workers-only-protocol/);
  t.regex(result.stdout, /protocol-stands-alone/);
});
