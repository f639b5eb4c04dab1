import { spawnSync } from 'node:child_process';
import type { RunnerState } from '../protocol/wire.js';
import { APP_BINARIES } from './executor/apps.js';
import type { SandboxMode } from './executor/sandbox.js';

/** Which apps this machine can run (those whose binary is on PATH), and `no-sandbox` when tasks run unisolated. */
export async function detectCapabilities(sandbox: SandboxMode = 'bwrap'): Promise<RunnerState['capabilities']> {
  const found: RunnerState['capabilities'] = [];
  for (const [app, binary] of Object.entries(APP_BINARIES) as Array<[RunnerState['capabilities'][number], string]>) {
    if (spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0) found.push(app);
  }
  if (sandbox === 'none') found.push('no-sandbox');
  return found;
}
