import test from 'ava';
import { readFileSync } from 'node:fs';
import {
  cleanup, FINAL, freePort, getTask, isProcessAlive, makeBareRepo, outputText, setupTemplate, startForge, startTask, taskOutput, tempDir, waitFor, waitForTask,
} from './helpers/index.js';
import { startProxy } from './helpers/proxy.js';
import { spawnRunner, startRunner } from './helpers/runner.js';
import { processesWith, startGate, uniqueMarker } from './helpers/sandbox.js';
import { join } from 'node:path';

test.after.always(cleanup);

const remote = { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_RUNNER_LEASE_SEC: '3' };

test('a runner killed mid-task: the task ends error "runner lost" within the lease; without the sandbox, the runner\'s next start ends what the task left running', async (t) => {
  const forge = await startForge({ env: remote });
  const pidFile = join(tempDir(), 'pid');
  const repo = await makeBareRepo({ 'run.sh': `sleep 300 &\necho $! > ${pidFile}\necho started\nwait\n` });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  // With the sandbox nothing outlives the runner at all (isolation-runner.test.ts); here the
  // process-group record of an unsandboxed runner (as root, to write the test's pid file) is at work.
  const unsandboxed = { FORGE_SANDBOX: 'none', FORGE_TASK_USER: '' };
  const runner = await startRunner(forge, { env: unsandboxed });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitFor(async () => (await outputText(forge.api, setup.projectId, task.id)).includes('started'), 15_000, { what: 'the task to print' });
  const killedAt = Date.now();
  await runner.stop('SIGKILL');
  const lost = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 15_000);
  t.is(lost.status, 'error');
  t.regex(lost.error, /^runner lost/);
  // The lease is 3 s; the watchdog passes every 750 ms. Allow for a loaded machine.
  t.true(Date.now() - killedAt < 3000 + 5000, `noticed after ${Date.now() - killedAt} ms`);
  t.true((await outputText(forge.api, setup.projectId, task.id)).includes('[forge] runner lost'));
  const [view] = await forge.api.json('GET', '/api/runners');
  await waitFor(async () => (await forge.api.json('GET', '/api/runners'))[0].status === 'offline', 10_000, { what: 'the runner to show offline' });
  t.is(view.id, runner.id);
  // SIGKILL gave the runner no chance to end its task's processes; its next start does.
  const orphan = Number(readFileSync(pidFile, 'utf8'));
  t.true(isProcessAlive(orphan));
  const restarted = await spawnRunner(runner.configPath, { env: unsandboxed });
  await waitFor(() => !isProcessAlive(orphan), 10_000, { what: 'the orphaned task process to be ended' });
  t.regex(restarted.logs(), /ended processes left running by a previous run/);
});

test('a runner lost before the task started: the task is requeued and another runner completes it', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo done by "$FORGE_TASK_ID"\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const proxy = await startProxy(forge.url);
  const frozen = await startRunner(forge, { name: 'frozen', webHost: proxy.url });
  // Frozen while parked in its long-poll: the server hands it the job, it never starts it.
  await waitFor(() => proxy.count('/jobs/next') > 0, 10_000, { what: 'the runner to park a long-poll' });
  frozen.process.kill('SIGSTOP');
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const claimed = await waitForTask(forge.api, setup.projectId, task.id, ['starting']);
  t.is(claimed.runner_name, 'frozen');
  const healthy = await startRunner(forge, { name: 'healthy' });
  const finished = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 20_000);
  frozen.process.kill('SIGKILL');
  t.is(finished.status, 'success');
  t.is(finished.runner_name, healthy.name);
  t.is(finished.attempt, 2);
});

test('stop reaches the runner within seconds and kills the whole process group', async (t) => {
  const forge = await startForge({ env: remote });
  const marker = uniqueMarker();
  const repo = await makeBareRepo({ 'run.sh': `sleep 300.${marker} &\nbash -c 'sleep 301.${marker} & wait' &\necho children-started\nwait\n` });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  await startRunner(forge);
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitFor(async () => (await outputText(forge.api, setup.projectId, task.id)).includes('children-started'), 15_000);
  const pids = await waitFor(() => (processesWith(marker).length >= 3 ? processesWith(marker) : undefined), 5000);
  t.true(pids.every(isProcessAlive));
  const asked = Date.now();
  await forge.api.json('POST', `/api/project/${setup.projectId}/tasks/${task.id}/stop`);
  t.true(['stopping', 'stopped'].includes((await getTask(forge.api, setup.projectId, task.id)).status));
  // A stop that did not reach the runner would leave it running `sleep 300` (its beats keep the
  // lease): reaching `stopped` at all is the proof. How fast is a figure for bench/, not a test on
  // a loaded machine (1–2 s: it rides the next heartbeat answer).
  const stopped = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000);
  t.is(stopped.status, 'stopped');
  t.log(`stopped ${Date.now() - asked} ms after the request`);
  await waitFor(() => pids.every((pid) => !isProcessAlive(pid)) && processesWith(marker).length === 0, 5000, { what: 'every process of the task to be gone' });
  t.pass();
});

test('SIGTERM drains: no new claims, the running task finishes and is reported, then exit 0', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo begin\nsleep 1.5\necho end\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const runner = await startRunner(forge, { maxParallel: 2 });
  const running = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitFor(async () => (await outputText(forge.api, setup.projectId, running.id)).includes('begin'), 15_000);
  runner.process.kill('SIGTERM');
  await waitFor(() => runner.logs().includes('draining'), 5000);
  const later = await startTask(forge.api, setup.projectId, setup.templateId);
  const exit = await runner.exited;
  t.is(exit.code, 0);
  const finished = await getTask(forge.api, setup.projectId, running.id);
  t.is(finished.status, 'success');
  t.true((await outputText(forge.api, setup.projectId, running.id)).includes('end'));
  t.is((await getTask(forge.api, setup.projectId, later.id)).status, 'waiting');
});

test('no output line is lost or duplicated when requests and answers are lost on the way', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'for i in $(seq 1 400); do echo "line $i"; if [ $((i % 50)) = 0 ]; then sleep 0.4; fi; done\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  // Lines travel in output batches and, since protocol revision 2, inside the start report and the result.
  const carriesLines = (path: string) => /\/(output|running|result)$/.test(path);
  let outputCalls = 0;
  const proxy = await startProxy(forge.url, {
    beforeForward: ({ path }) => (carriesLines(path) && ++outputCalls % 3 === 1 ? 'drop' : 'forward'),
    afterForward: ({ path }) => (carriesLines(path) && outputCalls % 3 === 2 ? 'lose' : undefined),
  });
  await startRunner(forge, { webHost: proxy.url });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000);
  t.is(done.status, 'success');
  t.true(proxy.count('/output') >= 2, `only ${proxy.count('/output')} output batches`);
  t.true(outputCalls >= 5, `only ${outputCalls} requests carrying lines`);
  const lines = (await taskOutput(forge.api, setup.projectId, task.id)).map((l) => l.output).filter((l) => l.startsWith('line '));
  t.deepEqual(lines, Array.from({ length: 400 }, (_, i) => `line ${i + 1}`));
});

test('heartbeats stuck on a dead connection give way to the next ones before the lease runs out: the task keeps its lease', async (t) => {
  // Lease 9 s: a heartbeat unanswered for a third of it (3 s) is dropped, so two stuck ones (a
  // runner keeps at most two in flight) hold back the next beats ~4 s, not the socket's default
  // 30 s, which would outlast the lease.
  const forge = await startForge({ env: { ...remote, FORGE_RUNNER_LEASE_SEC: '9' } });
  const gate = await startGate();
  const repo = await makeBareRepo({ 'run.sh': `echo started\n${gate.wait}\necho finished\n` });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  let hung = 0;
  let answeredAfter = 0;
  let taskStarted = false;
  const proxy = await startProxy(forge.url, {
    beforeForward: ({ path }) => {
      if (path.endsWith('/running')) taskStarted = true;
      return taskStarted && path.endsWith('/heartbeat') && hung < 2 ? (hung++, 'hang') : 'forward';
    },
    afterForward: ({ path, status }) => {
      if (hung === 2 && path.endsWith('/heartbeat') && status === 200) answeredAfter++;
      return undefined;
    },
  });
  await startRunner(forge, { webHost: proxy.url });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  // Both stuck heartbeats held, then beats over two more leases answered, before the task may end.
  await waitFor(() => hung === 2, 60_000, { what: 'two heartbeats held unanswered' });
  await waitFor(() => answeredAfter >= 6, 60_000, { what: 'heartbeats answered after the stuck ones' });
  gate.open();
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 60_000);
  t.is(done.status, 'success', done.error);
  t.is(done.attempt, 1);
});

test('a tampered sealed box is refused by the runner with a clear error on the task', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo should-not-run\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const proxy = await startProxy(forge.url, {
    afterForward: ({ path, status, responseBody }) => {
      if (!path.endsWith('/jobs/next') || status !== 200) return undefined;
      const answer = JSON.parse(responseBody);
      const box = Buffer.from(answer.sealed_payload, 'base64');
      box[box.length - 5]! ^= 0x01;
      return JSON.stringify({ ...answer, sealed_payload: box.toString('base64') });
    },
  });
  await startRunner(forge, { webHost: proxy.url });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 20_000);
  t.is(done.status, 'error');
  t.regex(done.error, /runner refused the job: .*tampered with or sealed for another runner/);
  t.false((await outputText(forge.api, setup.projectId, task.id)).includes('should-not-run'));
});

test('a job carrying an SSH key and secrets crosses the wire only sealed', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'echo "$DB_PASSWORD"\n' });
  const privateKey = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDfakeKeyMaterialForTheTestOnly0123456789abcdefghij\n-----END OPENSSH PRIVATE KEY-----\n';
  const proxy = await startProxy(forge.url);
  const base = await setupTemplate(forge.api, { gitUrl: repo.path, secrets: [{ name: 'DB_PASSWORD', secret: 'correct-horse-battery' }] });
  const key = await forge.api.json('POST', `/api/project/${base.projectId}/keys`, { name: 'deploy', type: 'ssh', ssh: { login: 'git', private_key: privateKey, passphrase: 'pass-phrase-9' } });
  const inventory = await forge.api.json('POST', `/api/project/${base.projectId}/inventory`, { name: 'inv', type: 'static', inventory: 'localhost', ssh_key_id: key.id });
  await forge.api.json('PUT', `/api/project/${base.projectId}/templates/${base.templateId}`, {
    name: 'template', app: 'bash', playbook: 'run.sh', repository_id: base.repositoryId, environment_id: base.environmentId, inventory_id: inventory.id,
  });
  await startRunner(forge, { webHost: proxy.url });
  const task = await startTask(forge.api, base.projectId, base.templateId);
  const done = await waitForTask(forge.api, base.projectId, task.id, FINAL, 20_000);
  t.is(done.status, 'success');
  const claims = proxy.exchanges.filter((e) => e.path.endsWith('/jobs/next') && e.status === 200);
  t.is(claims.length, 1);
  const wire = proxy.exchanges.map((e) => e.requestBody + e.responseBody).join('\n');
  for (const secret of ['OPENSSH PRIVATE KEY', 'fakeKeyMaterial', 'pass-phrase-9', 'correct-horse-battery']) t.false(wire.includes(secret), `${secret} crossed the wire in clear`);
  t.truthy(JSON.parse(claims[0]!.responseBody).sealed_payload);
  // The secret reached the task (inside the box) and was masked in its output.
  t.true((await outputText(forge.api, base.projectId, task.id)).includes('********'));
  t.false(forge.logs().includes('correct-horse-battery'));
});

test('a wrong token is refused; deleting a runner stops its token at once and the runner exits', async (t) => {
  const forge = await startForge({ env: remote });
  const bad = await startRunner(forge, { token: 'not-a-real-token', waitReady: false });
  const badExit = await bad.exited;
  t.not(badExit.code, 0);
  t.regex(bad.logs(), /unknown runner token/);

  const runner = await startRunner(forge);
  const answer = await fetch(`${forge.url}/api/internal/runners/heartbeat`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': runner.token }, body: JSON.stringify({ active: [] }),
  });
  t.is(answer.status, 200);
  await forge.api.json('DELETE', `/api/runners/${runner.id}`);
  const after = await fetch(`${forge.url}/api/internal/runners/heartbeat`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': runner.token }, body: JSON.stringify({ active: [] }),
  });
  t.is(after.status, 401);
  t.regex((await after.json()).error, /unknown runner token/);
  const exit = await runner.exited;
  t.is(exit.code, 0);
  t.regex(runner.logs(), /refused this runner|unknown runner token/);
});

test('a runner may report only on its own jobs (403 otherwise)', async (t) => {
  const forge = await startForge({ env: remote });
  const repo = await makeBareRepo({ 'run.sh': 'sleep 2\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const owner = await startRunner(forge);
  const other = await forge.api.json('POST', '/api/runners', { name: 'intruder' });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  await waitForTask(forge.api, setup.projectId, task.id, ['running']);
  const post = (path: string, body: unknown) => fetch(`${forge.url}/api/internal/runners/jobs/${task.id}/${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-runner-token': other.token }, body: JSON.stringify(body),
  });
  for (const [path, body] of [['output', { attempt: 1, lines: [{ seq: 99, time: 'now', output: 'forged' }] }], ['result', { attempt: 1, status: 'success' }], ['running', { attempt: 1 }]] as const) {
    const answer = await post(path, body);
    t.is(answer.status, 403, path);
    t.regex((await answer.json()).error, /not assigned to this runner/);
  }
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 15_000);
  t.is(done.status, 'success');
  t.is(done.runner_name, owner.name);
  t.false((await outputText(forge.api, setup.projectId, task.id)).includes('forged'));
});

test('a server restart does not cost a runner its running task: the lease is extended while runners reconnect', async (t) => {
  const port = String(await freePort());
  const env = { ...remote, FORGE_PORT: port };
  const first = await startForge({ env });
  const repo = await makeBareRepo({ 'run.sh': 'echo before\nsleep 8\necho after\n' });
  const setup = await setupTemplate(first.api, { gitUrl: repo.path });
  await startRunner(first);
  const task = await startTask(first.api, setup.projectId, setup.templateId);
  await waitFor(async () => (await outputText(first.api, setup.projectId, task.id)).includes('before'), 15_000);
  await first.stop();
  // The scenario is an outage longer than the lease (3 s): the outage itself is what we wait for.
  const downSince = Date.now();
  await waitFor(() => Date.now() - downSince > 4000, 10_000, { intervalMs: 100, what: 'an outage longer than the lease' });
  const second = await startForge({ env, dirs: first.dirs });
  const done = await waitForTask(second.api, setup.projectId, task.id, FINAL, 30_000);
  t.is(done.status, 'success', done.error);
  const lines = (await taskOutput(second.api, setup.projectId, task.id)).map((l) => l.output);
  t.true(lines.includes('before') && lines.includes('after'));
  t.is(lines.filter((l) => l === 'after').length, 1);
});
