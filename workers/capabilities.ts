import { spawnSync } from 'node:child_process';
import type { RunnerState } from '../protocol/wire.js';
import { APP_BINARIES } from './executor/apps.js';

/** Which apps this machine can run: those whose binary is on PATH. */
export async function detectCapabilities(): Promise<RunnerState['capabilities']> {
  const found: RunnerState['capabilities'] = [];
  for (const [app, binary] of Object.entries(APP_BINARIES) as Array<[RunnerState['capabilities'][number], string]>) {
    if (spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0) found.push(app);
  }
  return found;
}
