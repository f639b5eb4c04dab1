import { mkdirSync } from 'node:fs';
import { logger } from '../../protocol/log.js';
import { projectRoot } from '../../protocol/version.js';
import { prepareSandbox, processPaths, type SandboxMode, type SandboxSettings } from './sandbox.js';

const log = logger('sandbox');

/**
 * The sandbox of a server's local worker or a runner, checked once at start: throws (naming the
 * setting) when tasks cannot be isolated as configured, warns when isolation is switched off.
 */
export function startSandbox(config: { sandbox: SandboxMode; task_user: string; tmp_path: string }, ownPaths: string[]): SandboxSettings {
  mkdirSync(config.tmp_path, { recursive: true });
  const settings = prepareSandbox({
    mode: config.sandbox, taskUser: config.task_user, tmpPath: config.tmp_path,
    // Forge's own installation too: its .env files and default data folder.
    hidden: [config.tmp_path, projectRoot(), ...ownPaths, ...processPaths()].filter(Boolean),
  });
  if (settings.mode === 'none') {
    log.warn('sandbox is "none": tasks run without isolation and can read what this process can (its environment excepted) and leave processes behind. Set sandbox to "bwrap" to isolate them.');
  }
  if (process.getuid?.() === 0 && !settings.user) log.warn('task_user is empty: tasks run as root');
  log.info('task isolation', { sandbox: settings.mode, task_user: settings.user?.name ?? '(this process\'s user)' });
  return settings;
}
