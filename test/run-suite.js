#!/usr/bin/env node
// Runs the AVA suite and ends with the plain line CI reads: "N passed, N failed".
// `npm test` builds first, so the per-file rebuild check of the harness is off here.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const args = ['ava', '--tap', ...process.argv.slice(2)];
const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0', FORGE_TEST_SKIP_BUILD: process.env.FORGE_TEST_SKIP_BUILD ?? '1' } });
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = createInterface({ input: child.stdout });
lines.on('line', (line) => {
  process.stdout.write(line + '\n');
  if (/^ok \d+/.test(line)) {
    if (/# (SKIP|TODO)/.test(line)) skipped++;
    else passed++;
  } else if (/^not ok \d+/.test(line)) failed++;
});
child.on('close', (code) => {
  if (code !== 0 && failed === 0) failed = 1; // AVA failed outside any test (e.g. a crashed file)
  process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
