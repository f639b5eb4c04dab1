/**
 * Task isolation on the server's local worker: every attack of the isolation issue, run as a
 * task, fails to get through (test/helpers/isolation.ts). Forge runs as root here, so tasks run
 * sandboxed (bubblewrap) as task_user.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, type Forge, startForge } from './helpers/index.js';
import { DURATION_LIMIT_SEC, isolationTests, type Target } from './helpers/isolation.js';

const processSecret = `server-only-${Date.now()}`;
let forge: Forge;
let target: Target;

test.before(async () => {
  forge = await startForge({ env: { FORGE_MAX_TASK_DURATION_SEC: String(DURATION_LIMIT_SEC), FORGE_MAX_PARALLEL_TASKS: '8', SERVER_ONLY_SECRET: processSecret } });
  const keyFile = join(forge.dirs.data, 'access_key_encryption');
  writeFileSync(keyFile, 'decoy-key-file\n', { mode: 0o600 });
  target = { forge, tasksDir: forge.dirs.tasks, processSecret, privateFiles: [keyFile, join(forge.dirs.home, '.forge-admin-notes')] };
  writeFileSync(target.privateFiles[1]!, 'admin notes\n');
});
test.after.always(cleanup);

isolationTests('local worker', () => target);

test('the server says at start how its tasks are isolated', (t) => {
  t.regex(forge.logs(), /task isolation.*"sandbox":"bwrap".*"task_user":"forge-task"/);
});
