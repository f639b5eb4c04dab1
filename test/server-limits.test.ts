/**
 * Server-wide limits: the task duration limit (max_task_duration_sec) and the output cap
 * (max_output_bytes), both set through FORGE_* variables of one server.
 */
import test from 'ava';
import { cleanup, type Forge, makeBareRepo, runTask, setupTemplate, startForge, taskOutput, waitFor } from './helpers/index.js';
import { processesWith, uniqueMarker } from './helpers/sandbox.js';

const LIMIT_SEC = 2;
const CAP_BYTES = 2048;

let forge: Forge;
test.before(async () => {
  forge = await startForge({ env: { FORGE_MAX_TASK_DURATION_SEC: String(LIMIT_SEC), FORGE_MAX_OUTPUT_BYTES: String(CAP_BYTES) } });
});
test.after.always(cleanup);

test('the duration limit ends a long task in error with a reason naming the limit', async (t) => {
  const marker = uniqueMarker();
  const repo = await makeBareRepo({ 'run.sh': `sleep 60.${marker} &\necho sleeping\nwait\necho never printed\n` });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const began = Date.now();
  const task = await runTask(forge.api, setup, {}, 30_000);
  const took = Date.now() - began;
  t.is(task.status, 'error');
  t.regex(task.error, new RegExp(`duration limit of ${LIMIT_SEC} s`));
  t.regex(task.error, /max_task_duration_sec/);
  t.true(took >= LIMIT_SEC * 1000 - 200, `ended after ${took} ms, before the limit`);
  t.true(took < 20_000, `ended after ${took} ms: the limit did not fire in time`);
  const lines = (await taskOutput(forge.api, setup.projectId, task.id)).map((l) => l.output);
  t.true(lines.includes('sleeping'));
  t.false(lines.includes('never printed'));
  t.true(lines.some((l) => /duration limit/.test(l)), 'the reason is shown in the output');
  await waitFor(() => processesWith(marker).length === 0, 5000, { what: 'the sleeping child to be killed with the task' });
});

test('output past max_output_bytes is dropped after one visible truncation line, and the task still finishes', async (t) => {
  const repo = await makeBareRepo({
    'run.sh': 'for i in $(seq 1 3000); do echo "filler line $i padded to make the output grow quickly"; done\necho "the last line"\n',
  });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const task = await runTask(forge.api, setup);
  t.is(task.status, 'success');
  t.is(task.exit_code, 0);
  const lines = (await taskOutput(forge.api, setup.projectId, task.id)).map((l) => l.output);
  const notices = lines.filter((l) => /output truncated/.test(l));
  t.is(notices.length, 1);
  t.regex(notices[0]!, new RegExp(`${CAP_BYTES} bytes \\(max_output_bytes\\)`));
  t.is(lines.at(-1), notices[0], 'the notice is the last stored line');
  t.false(lines.includes('the last line'));
  const kept = lines.slice(0, -1);
  t.true(Buffer.byteLength(kept.join('')) <= CAP_BYTES, 'what is kept fits the cap');
  const fillers = kept.filter((l) => l.startsWith('filler line'));
  t.true(fillers.length > 5);
  t.deepEqual(fillers.map((l) => Number(l.split(' ')[2])), fillers.map((_, i) => i + 1), 'kept lines are the first ones, with no gap');
  const raw = await forge.api.get(`/api/project/${setup.projectId}/tasks/${task.id}/raw_output`);
  t.true(raw.text.trimEnd().endsWith(notices[0]!));
});
