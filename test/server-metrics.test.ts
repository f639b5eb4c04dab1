import test from 'ava';
import { cleanup, makeBareRepo, runTask, setupTemplate, startForge, startTask, waitFor } from './helpers/index.js';

test.after.always(cleanup);

/** The value of one sample line of the Prometheus text, e.g. sample(text, 'forge_tasks{status="waiting"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : undefined;
}

test('/metrics: tasks, queues, dispatch latency, runners, output bytes and reconciler lag, behind a token or admin', async (t) => {
  const forge = await startForge({ env: { FORGE_METRICS_TOKEN: 'metrics-token-123' } });
  const repo = await makeBareRepo({ 'run.sh': 'echo twelve bytes\n' });
  const local = await setupTemplate(forge.api, { gitUrl: repo.path });
  await runTask(forge.api, local);
  // With the project limited to one task at a time, a second task stays in its queue.
  await forge.api.json('PUT', `/api/project/${local.projectId}`, { name: 'p', max_parallel_tasks: 1 });
  const slow = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'sleep 30\n' })).path, projectId: local.projectId, template: { runner_tag: 'gpu' } });
  await startTask(forge.api, slow.projectId, slow.templateId);
  await startTask(forge.api, slow.projectId, slow.templateId);

  const anonymous = await forge.api.anonymous().get('/metrics');
  t.is(anonymous.status, 401);
  const wrong = await forge.api.anonymous().get('/metrics', { headers: { authorization: 'Bearer nope' } });
  t.is(wrong.status, 401);
  const byToken = await forge.api.anonymous().get('/metrics', { headers: { authorization: 'Bearer metrics-token-123' } });
  t.is(byToken.status, 200);
  t.regex(byToken.headers.get('content-type') ?? '', /text\/plain/);

  const text = await waitFor(async () => {
    const body = (await forge.api.get('/metrics')).text;
    return sample(body, 'forge_tasks{status="running"}') === 1 && sample(body, 'forge_tasks{status="waiting"}') === 1 ? body : undefined;
  }, 15_000, { what: 'one running and one waiting task in /metrics' });
  t.is(sample(text, 'forge_tasks_created_total'), 3);
  t.is(sample(text, 'forge_tasks_finished_total{status="success"}'), 1);
  t.is(sample(text, `forge_queue_depth{project="${slow.projectId}",tag="gpu"}`), 1);
  t.true((sample(text, `forge_queue_oldest_wait_seconds{project="${slow.projectId}",tag="gpu"}`) ?? -1) >= 0);
  t.true((sample(text, 'forge_dispatch_latency_seconds_count') ?? 0) >= 2);
  t.true((sample(text, 'forge_reconciler_lag_seconds_count') ?? 0) >= 1);
  t.true((sample(text, 'forge_output_bytes_total') ?? 0) >= 'twelve bytes'.length);
  t.is(sample(text, 'forge_runners{state="online"}'), 0);
  // The process's own health under Node's usual names.
  t.true((sample(text, 'process_resident_memory_bytes') ?? 0) > 0);
  t.true((sample(text, 'process_cpu_seconds_total') ?? 0) > 0);
  t.true((sample(text, 'nodejs_eventloop_lag_p99_seconds') ?? -1) >= 0);
  t.regex(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
});
