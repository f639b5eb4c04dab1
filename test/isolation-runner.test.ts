/**
 * Task isolation on a remote runner: the same attacks as on the local worker (one code path,
 * workers/executor), plus what only a runner has: its config, token and key files, a token in its
 * environment, and a SIGKILL of the runner itself. And the start-up rules of the `sandbox`
 * setting: refuse to start where namespaces are unavailable, warn and say so with `none`.
 */
import test from 'ava';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BIN, cleanup, type Forge, FINAL, forgeDirs, forgeEnv, makeBareRepo, outputText, run, setupTemplate, startForge, startTask, tempDir, waitFor, waitForTask,
} from './helpers/index.js';
import { DURATION_LIMIT_SEC, isolationTests, type Target } from './helpers/isolation.js';
import { addRunner, spawnRunner, startRunner } from './helpers/runner.js';
import { processesWith, uniqueMarker } from './helpers/sandbox.js';

const processSecret = `runner-only-${Date.now()}`;
let forge: Forge;
let target: Target;
let runnerToken: string;

test.before(async () => {
  forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_MAX_TASK_DURATION_SEC: String(DURATION_LIMIT_SEC) } });
  // Every task of this file carries the tag, so the other runners started here take none of them.
  const added = await addRunner(forge, { tags: ['isolation'] });
  runnerToken = added.token;
  // A runner started with its token in the environment, as the attacker found one.
  const runner = await startRunner(forge, { token: added.token, name: added.name, tags: ['isolation'], maxParallel: 8, env: { FORGE_RUNNER_TOKEN: added.token, SERVER_ONLY_SECRET: processSecret } });
  target = { forge, tasksDir: join(runner.dir, 'work'), processSecret, privateFiles: [runner.configPath, join(runner.dir, 'runner.key')], template: { runner_tag: 'isolation' } };
});
test.after.always(cleanup);

isolationTests('runner', () => target);

test('runner: its token, given in its environment, never reaches a task', async (t) => {
  const repo = await makeBareRepo({ 'run.sh': 'env; cat /proc/1/environ 2>/dev/null | tr "\\0" "\\n"; echo end\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, template: target.template });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000);
  const text = await outputText(forge.api, setup.projectId, task.id);
  t.is(done.status, 'success', text);
  t.true(text.includes('end'));
  t.false(text.includes(runnerToken), 'the runner token reached the task');
});

test('runner: a SIGKILL of the runner ends every process of its task, daemons too, and nothing is left after its next start', async (t) => {
  const runner = await startRunner(forge, { tags: ['kill-me'] });
  const marker = uniqueMarker();
  const repo = await makeBareRepo({ 'run.sh': `setsid sleep 1000.${marker} &\n( ( sleep 1001.${marker} & ) & )\necho started\nsleep 1002.${marker}\n` });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, template: { runner_tag: 'kill-me' } });
  await startTask(forge.api, setup.projectId, setup.templateId);
  await waitFor(() => processesWith(marker).length >= 3, 60_000, { what: 'the task to start its processes' });
  await runner.stop('SIGKILL');
  await waitFor(() => processesWith(marker).length === 0, 10_000, { what: 'the task\'s processes to die with the runner' });
  const restarted = await spawnRunner(runner.configPath);
  t.regex(restarted.logs(), /ready and waiting/);
  t.deepEqual(processesWith(marker), []);
});

/** A bwrap that fails the way it does in an unprivileged container. */
function failingBwrap(): string {
  const dir = tempDir('forge-nobwrap-');
  writeFileSync(join(dir, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces." >&2\nexit 1\n');
  chmodSync(join(dir, 'bwrap'), 0o755);
  return `${dir}:${process.env.PATH}`;
}

test('where namespaces are unavailable, the server (local worker) and a runner refuse to start, naming the setting sandbox', async (t) => {
  const PATH = failingBwrap();
  const server = await run(process.execPath, [BIN, 'server'], { env: forgeEnv(forgeDirs(), { PATH }), timeoutMs: 60_000 });
  t.not(server.code, 0);
  t.regex(server.stdout + server.stderr, /sandbox: tasks cannot be isolated here \(bwrap: No permissions.*\).*"sandbox".*"none"/s);
  const added = await addRunner(forge, { tags: ['never-ready'] });
  const runner = await startRunner(forge, { token: added.token, name: added.name, tags: ['never-ready'], env: { PATH }, waitReady: false });
  const exit = await runner.exited;
  t.not(exit.code, 0);
  t.regex(runner.logs(), /sandbox: tasks cannot be isolated here.*"sandbox"/s);
});

test('with sandbox "none" a runner warns at start and reports no-sandbox in its capabilities', async (t) => {
  const added = await addRunner(forge, { tags: ['unsandboxed'] });
  const runner = await startRunner(forge, { token: added.token, name: added.name, tags: ['unsandboxed'], env: { FORGE_SANDBOX: 'none', FORGE_TASK_USER: '' } });
  t.regex(runner.logs(), /sandbox is "none": tasks run without isolation/);
  const view = await waitFor(async () => {
    const record = await forge.api.json('GET', `/api/runners/${added.id}`);
    return record.capabilities?.length ? record : undefined;
  }, 15_000, { what: 'the runner to report its capabilities' });
  t.true(view.capabilities.includes('no-sandbox'), JSON.stringify(view.capabilities));
  // Even unsandboxed, the environment is an allow-list, and a daemon holding the output pipe
  // does not keep the task running (it does survive: that is what the sandbox is for).
  const marker = uniqueMarker();
  t.teardown(() => processesWith(marker).forEach((pid) => process.kill(pid, 'SIGKILL')));
  const repo = await makeBareRepo({ 'run.sh': `setsid sleep 1000.${marker} &\nenv\n` });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, template: { runner_tag: 'unsandboxed' } });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000);
  const text = await outputText(forge.api, setup.projectId, task.id);
  t.is(done.status, 'success', text);
  t.false(/^FORGE_(?!TASK_ID|EXTRA_VARS)/m.test(text), text);
});

test('runner: a work folder kept for the next task starts it empty, with an empty private HOME, whatever the task before left or changed there', async (t) => {
  // One slot: the folder one task leaves is the only spare the next one can take.
  const runner = await startRunner(forge, { tags: ['recycle'], maxParallel: 1 });
  const template = { runner_tag: 'recycle' };
  const runScript = async (script: string) => {
    const repo = await makeBareRepo({ 'run.sh': script });
    const setup = await setupTemplate(forge.api, { gitUrl: repo.path, template });
    const task = await startTask(forge.api, setup.projectId, setup.templateId);
    const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000);
    const text = await outputText(forge.api, setup.projectId, task.id);
    t.is(done.status, 'success', text);
    return text;
  };
  const look = 'echo "task folder: $(ls -A /forge/task | tr "\\n" " ")"\necho "home: $(ls -A "$HOME" | tr "\\n" " ")"\necho "home mode: $(stat -c %a "$HOME") $([ -L "$HOME" ] && echo link)"\n';
  const workDir = join(runner.dir, 'work');
  const spares = () => readdirSync(workDir).filter((name) => name.startsWith('.spare-'));

  await runScript('mkdir -p "$HOME/.cache/deep" && echo secret > "$HOME/.cache/deep/file" && touch "$HOME/.profile" ../left-behind && mkfifo ../fifo && ln -s /etc ../etc-link && chmod 777 "$HOME" /forge/task\n');
  await waitFor(() => spares().length === 1, 15_000, { what: 'the folder to be kept for the next task' });
  // The task's own folder is released after its result is sent: awaited before the spares are counted.
  const others = () => readdirSync(workDir).filter((name) => !name.startsWith('.spare-')).sort().join(' ');
  const othersBefore = others();
  const next = await runScript(look);
  t.regex(next, /^task folder: home repository $/m, next);
  t.regex(next, /^home: $/m, next);
  t.regex(next, /^home mode: 700 $/m, next);
  await waitFor(() => others() === othersBefore, 15_000, { what: 'the second task\'s folder to be released' });
  t.deepEqual(spares().length, 1, 'the kept folder was taken and kept again');

  // A HOME replaced by a link: that folder is not kept; the next task gets a new one.
  await runScript('rm -rf "$HOME" && ln -s /etc "$HOME"\n');
  const after = await runScript(look);
  t.regex(after, /^home: $/m, after);
  t.regex(after, /^home mode: 700 $/m, after);
  await runner.stop();
});
