import test from 'ava';
import { join } from 'node:path';
import {
  cleanup, FINAL, getTask, makeBareRepo, outputText, runOk, setupTemplate, startForge, startTask, tempDir, waitFor, waitForTask,
} from './helpers/index.js';
import { startProxy } from './helpers/proxy.js';
import { startRunner } from './helpers/runner.js';

test.after.always(cleanup);

// This file's own API client (fetch) skips certificate checks for the HTTPS test; the runner
// processes it starts do not inherit this, and must verify the server with tls_ca_file.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

test('one new task wakes exactly one of five parked runners (no thundering herd)', async (t) => {
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_LONG_POLL_SEC: '60' } });
  const repo = await makeBareRepo({ 'run.sh': 'true\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const proxy = await startProxy(forge.url);
  const polls = () => proxy.count('/jobs/next');
  await Promise.all([1, 2, 3, 4, 5].map(() => startRunner(forge, { webHost: proxy.url })));
  await waitFor(() => polls() >= 5, 15_000, { what: 'five parked long-polls' });
  const counter = async (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec((await forge.api.get('/metrics')).text)?.[1] ?? NaN);
  const before = { polls: polls(), wakeups: await counter('forge_runner_wakeups_total'), empty: await counter('forge_empty_claims_total') };
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  const done = await waitForTask(forge.api, setup.projectId, task.id, FINAL, 15_000);
  t.is(done.status, 'success');
  // The runner that got the task polls again; the four others stay parked, never woken.
  await waitFor(() => polls() >= before.polls + 1, 5000);
  t.is(await counter('forge_runner_wakeups_total') - before.wakeups, 1, 'one enqueue woke exactly one parked runner');
  t.true(await counter('forge_empty_claims_total') - before.empty <= 1, 'no runner was woken for nothing');
  t.is(proxy.exchanges.filter((e) => e.path.endsWith('/jobs/next') && e.status === 204).length, 0);
});

test('runners reach an HTTPS server signed by a private CA (tls_ca_file), and refuse it without the CA', async (t) => {
  const dir = tempDir();
  const ca = join(dir, 'ca');
  await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Forge test CA', '-keyout', `${ca}.key`, '-out', `${ca}.pem`]);
  const server = join(dir, 'server');
  await runOk('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', `${server}.key`, '-out', `${server}.csr`]);
  const ext = join(dir, 'ext.cnf');
  await runOk('bash', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ${ext}`]);
  await runOk('openssl', ['x509', '-req', '-in', `${server}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${server}.pem`]);

  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_TLS_CERT_FILE: `${server}.pem`, FORGE_TLS_KEY_FILE: `${server}.key` } });
  t.true(forge.url.startsWith('https://'));
  const repo = await makeBareRepo({ 'run.sh': 'echo over-tls\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });

  const untrusting = await startRunner(forge, { waitReady: false });
  t.not((await untrusting.exited).code, 0);
  t.regex(untrusting.logs(), /cannot reach the Forge server.*(verify|self.signed|certificate|issuer)/is);

  await startRunner(forge, { runnerConfig: { tls_ca_file: `${ca}.pem` } });
  const task = await startTask(forge.api, setup.projectId, setup.templateId);
  t.is((await waitForTask(forge.api, setup.projectId, task.id, FINAL, 20_000)).status, 'success');
  t.true((await outputText(forge.api, setup.projectId, task.id)).includes('over-tls'));
});

test('a new task\'s wake-up goes to an idle runner, never to one parked because it is full', async (t) => {
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_LONG_POLL_SEC: '60' } });
  const slow = await makeBareRepo({ 'run.sh': 'echo busy\nsleep 60\n' });
  const quick = await makeBareRepo({ 'run.sh': 'echo quick\n' });
  const slowSetup = await setupTemplate(forge.api, { gitUrl: slow.path });
  const quickSetup = await setupTemplate(forge.api, { gitUrl: quick.path, projectId: slowSetup.projectId });
  const proxy = await startProxy(forge.url);
  const busy = await startRunner(forge, { name: 'busy', maxParallel: 2, webHost: proxy.url });
  const long = await startTask(forge.api, slowSetup.projectId, slowSetup.templateId);
  await waitForTask(forge.api, slowSetup.projectId, long.id, ['running']);
  // Its record now allows 1: its next poll parks as full, ahead of the idle runner started after it.
  const pollsBefore = proxy.count('/jobs/next');
  await forge.api.json('PUT', `/api/runners/${busy.id}`, { max_parallel_tasks: 1 });
  await waitFor(() => proxy.count('/jobs/next') > pollsBefore, 10_000, { what: 'the busy runner to poll again' });
  const idle = await startRunner(forge, { name: 'idle' });
  const task = await startTask(forge.api, quickSetup.projectId, quickSetup.templateId);
  const done = await waitForTask(forge.api, quickSetup.projectId, task.id, FINAL, 20_000);
  t.is(done.status, 'success');
  t.is(done.runner_name, idle.name);
  t.is((await getTask(forge.api, slowSetup.projectId, long.id)).status, 'running', 'the quick task did not wait for the busy runner\'s slot');
});
