/**
 * Bash tasks on the server's local worker: success with output as JSON lines, raw text and live
 * SSE (with resume); a failing script's exit code; secret masking; stop killing a process tree.
 */
import test from 'ava';
import {
  cleanup, type Forge, getTask, isProcessAlive, makeBareRepo, outputText, runTask, setupTemplate, SseStream, startForge,
  startTask, taskOutput, waitFor, waitForTask,
} from './helpers/index.js';
import { processesWith, startGate, uniqueMarker } from './helpers/sandbox.js';

let forge: Forge;
test.before(async () => {
  forge = await startForge();
});
test.after.always(cleanup);

test('a bash task from a local bare repository succeeds; its output reads as JSON lines, raw text and live SSE with resume', async (t) => {
  const gate = await startGate();
  const repo = await makeBareRepo({
    'run.sh': [
      'for i in 1 2 3 4 5; do echo "part1 line $i"; done',
      'echo "to stderr" >&2',
      // Waits for the test to open the gate, so the first SSE reader sees a task still running.
      gate.wait,
      'for i in 1 2 3 4 5; do echo "part2 line $i"; done',
      'echo "all done"',
    ].join('\n') + '\n',
  });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  t.is(task.status, 'waiting');
  const streamUrl = `${forge.url}/api/project/${setup.projectId}/tasks/${task.id}/output/stream`;

  // First reader: live, until the last line before the gate; the task must still be running then.
  const first = await SseStream.open(streamUrl, forge.api.authHeaders());
  const firstEvents = await first.readUntil((e) => e.event === 'line' && JSON.parse(e.data).output === 'part1 line 5');
  first.close();
  const firstLines = firstEvents.filter((e) => e.event === 'line');
  t.true(firstLines.length > 0);
  t.is(JSON.parse(firstLines.at(-1)!.data).output, 'part1 line 5');
  t.is((await getTask(forge.api, setup.projectId, task.id)).status, 'running', 'the first reader saw the lines live, before the task ended');
  t.true(firstEvents.some((e) => e.event === 'status' && JSON.parse(e.data).status === 'running'));
  const lastSeen = firstLines.at(-1)!.id!;

  // Second reader resumes with Last-Event-ID while the task goes on, and reads to the end.
  gate.open();
  const second = await SseStream.open(streamUrl, { ...forge.api.authHeaders(), 'last-event-id': lastSeen });
  const secondEvents = await second.readUntil((e) => e.event === 'end');
  t.true(second.done || (await second.next(5000)) === undefined, 'the server closes the stream after the end event');
  second.close();
  t.deepEqual(JSON.parse(secondEvents.at(-1)!.data), { status: 'success' });
  const secondLines = secondEvents.filter((e) => e.event === 'line');

  const done = await waitForTask(forge.api, setup.projectId, task.id);
  t.is(done.status, 'success');
  t.is(done.exit_code, 0);
  t.is(done.commit_hash, repo.commit);

  // JSON lines: every line with its stream id, task id, time and text, in order.
  const lines = await taskOutput(forge.api, setup.projectId, task.id);
  for (const line of lines) {
    t.is(line.task_id, task.id);
    t.regex(line.id, /^\d+-\d+$/);
    t.false(Number.isNaN(Date.parse(line.time)), `time "${line.time}" is a date`);
    t.is(typeof line.output, 'string');
  }
  const texts = lines.map((l) => l.output);
  const expected = ['part1 line 1', 'part1 line 2', 'part1 line 3', 'part1 line 4', 'part1 line 5', 'part2 line 1', 'part2 line 2', 'part2 line 3', 'part2 line 4', 'part2 line 5', 'all done'];
  t.deepEqual(texts.filter((x) => /^part|^all done/.test(x)), expected);
  t.true(texts.includes('to stderr'), 'stderr is captured too');
  t.true(texts.some((x) => x.startsWith('Cloning ')), 'the checkout is reported');

  // No gap, no duplicate: the two SSE readers together saw exactly the stored lines.
  const seen = [...firstLines, ...secondLines].map((e) => ({ id: e.id, ...JSON.parse(e.data) }));
  t.deepEqual(seen.map((l) => l.id), lines.map((l) => l.id));
  t.deepEqual(seen.map((l) => l.output), texts);
  t.true(secondLines.length > 0);

  // ?after= on /output and on the stream gives the same resume point.
  const after = await taskOutput(forge.api, setup.projectId, task.id, lastSeen);
  t.deepEqual(after.map((l) => l.id), secondLines.map((e) => e.id));
  const replay = await SseStream.open(`${streamUrl}?after=${lastSeen}`, forge.api.authHeaders());
  const replayEvents = await replay.readUntil((e) => e.event === 'end');
  replay.close();
  t.deepEqual(replayEvents.filter((e) => e.event === 'line').map((e) => e.id), secondLines.map((e) => e.id));

  // Raw text: the same lines, newline-terminated.
  const raw = await forge.api.get(`/api/project/${setup.projectId}/tasks/${task.id}/raw_output`);
  t.is(raw.status, 200);
  t.regex(raw.headers.get('content-type') ?? '', /^text\/plain/);
  t.is(raw.text, texts.join('\n') + '\n');
});

test('a failing script ends in error with its exit code recorded', async (t) => {
  const repo = await makeBareRepo({ 'run.sh': 'echo "about to fail"\nexit 7\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const task = await runTask(forge.api, setup);
  t.is(task.status, 'error');
  t.is(task.exit_code, 7);
  t.regex(task.error, /exited with code 7/);
  const text = await outputText(forge.api, setup.projectId, task.id);
  t.true(text.includes('about to fail'));
  t.true(text.includes('exited with code 7'), 'the reason is in the output too');
});

test('secret values from the environment are masked as ******** in output', async (t) => {
  const envSecret = 's3cr3t-Env-Value-42';
  const varSecret = 'v4r-Secret-Value-99';
  const repo = await makeBareRepo({ 'run.sh': 'echo "env secret: $DB_PASSWORD"\necho "extra vars: $FORGE_EXTRA_VARS"\necho "plain: $PLAIN"\n' });
  const setup = await setupTemplate(forge.api, {
    gitUrl: repo.path, env: { PLAIN: 'visible-value' },
    secrets: [{ name: 'DB_PASSWORD', secret: envSecret, type: 'env' }, { name: 'api_key', secret: varSecret, type: 'var' }],
  });
  const task = await runTask(forge.api, setup);
  t.is(task.status, 'success');
  const text = await outputText(forge.api, setup.projectId, task.id);
  t.true(text.includes('env secret: ********'), text);
  t.true(text.includes('"api_key":"********"'), text);
  t.true(text.includes('plain: visible-value'), 'ordinary variables are not masked');
  const raw = (await forge.api.get(`/api/project/${setup.projectId}/tasks/${task.id}/raw_output`)).text;
  for (const secret of [envSecret, varSecret]) {
    t.false(text.includes(secret));
    t.false(raw.includes(secret));
  }
  // The environment record never gives the secret values back.
  const env = await forge.api.get(`/api/project/${setup.projectId}/environment/${setup.environmentId}`);
  t.is(env.status, 200);
  t.deepEqual(env.body.secrets.map((s: { name: string }) => s.name).sort(), ['DB_PASSWORD', 'api_key']);
  t.false(env.text.includes(envSecret) || env.text.includes(varSecret));
});

test('stop kills a task and every process it spawned: stopping → stopped', async (t) => {
  // The task's processes live in its sandbox's PID namespace: the test finds them by a marker.
  const marker = uniqueMarker();
  const repo = await makeBareRepo({
    'run.sh': [
      `sleep 300.${marker} &`,
      `bash -c 'sleep 301.${marker} & wait' &`,
      // A grandchild that ignores SIGTERM: only the final SIGKILL ends it.
      `( trap "" TERM; sleep 302.${marker} ) &`,
      'echo started',
      'wait',
    ].join('\n') + '\n',
  });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const spawned = await waitFor(() => {
    const list = processesWith(marker);
    return list.length >= 4 ? list : undefined;
  }, 15_000, { what: 'the script to start its 4 processes' });
  await waitFor(async () => (await outputText(forge.api, setup.projectId, task.id)).includes('started'), 10_000);
  t.is((await getTask(forge.api, setup.projectId, task.id)).status, 'running');
  for (const pid of spawned) t.true(isProcessAlive(pid), `pid ${pid} runs before the stop`);

  const stop = await forge.api.post(`/api/project/${setup.projectId}/tasks/${task.id}/stop`);
  t.is(stop.status, 204, 'stop answers 204 No Content, as in Semaphore');
  t.true(['stopping', 'stopped'].includes((await getTask(forge.api, setup.projectId, task.id)).status));
  const stopped = await waitForTask(forge.api, setup.projectId, task.id, ['stopped', 'success', 'error'], 20_000);
  t.is(stopped.status, 'stopped');
  t.regex(stopped.error, /stopped/);
  const alive = [...spawned.filter(isProcessAlive), ...processesWith(marker)];
  t.deepEqual(alive, [], `processes still alive after stop: ${alive.join(', ')}`);

  // Stopping a finished task is refused.
  const again = await forge.api.post(`/api/project/${setup.projectId}/tasks/${task.id}/stop`);
  t.is(again.status, 409);
  t.regex(again.body.error, /already finished/);
});

test('a malformed Last-Event-ID is refused with 400 instead of replaying the stream', async (t) => {
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'echo one\n' })).path });
  const task = await runTask(forge.api, setup);
  const path = `/api/project/${setup.projectId}/tasks/${task.id}/output/stream`;
  const bad = await forge.api.get(path, { headers: { 'last-event-id': 'banana' } });
  t.is(bad.status, 400);
  t.regex(bad.body.error, /Last-Event-ID/);
  const badQuery = await forge.api.get(`${path}?after=1-x`);
  t.is(badQuery.status, 400);
});
