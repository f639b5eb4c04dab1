/**
 * Schedules on BullMQ job schedulers: with two server replicas on one Redis a schedule fires once
 * per tick, keeps firing when one replica is killed and restarted, and ticks that pass while no
 * server is up are reported on the schedule instead of being run late.
 */
import test from 'ava';
import { cleanup, makeBareRepo, setupTemplate, startForge, startRedis, waitFor, type ApiClient, type Task } from './helpers/index.js';

test.after.always(cleanup);

const TICK_MS = 2000;

async function scheduledTasks(api: ApiClient, projectId: number): Promise<Array<Task & { tick: number }>> {
  const tasks = await api.json<Task[]>('GET', `/api/project/${projectId}/tasks?limit=500`);
  return tasks
    .filter((task) => String(task.message).startsWith('schedule '))
    .map((task) => ({ ...task, tick: Date.parse(/ at (\S+)$/.exec(String(task.message))![1]!) }))
    .sort((a, b) => a.tick - b.tick);
}

test('a schedule fires once per tick across two replicas, survives a replica crash, and reports ticks missed while all servers were down', async (t) => {
  const redis = await startRedis();
  const env = { FORGE_REDIS_URL: redis.url, FORGE_ACCESS_KEY_ENCRYPTION: 'shared-key-for-both-replicas', FORGE_SCHEDULE_MISSED_AFTER_SEC: '3' };
  let [a, b] = await Promise.all([startForge({ env }), startForge({ env })]);
  const repo = await makeBareRepo({ 'run.sh': 'echo "scheduled run"\n' });
  const setup = await setupTemplate(a.api, { gitUrl: repo.path });
  const schedule = await a.api.json('POST', `/api/project/${setup.projectId}/schedules`, {
    template_id: setup.templateId, name: 'every two seconds', cron_format: '*/2 * * * * *', timezone: 'Europe/Berlin', active: true,
  });
  t.is(schedule.cron_format, '*/2 * * * * *');
  t.true(Date.parse(schedule.next_run) > Date.now() - 1000, 'the next run time is shown');
  const path = `/api/project/${setup.projectId}/schedules/${schedule.id}`;

  // Both replicas up: consecutive ticks, one task each.
  const firstTicks = await waitFor(async () => {
    const tasks = await scheduledTasks(b.api, setup.projectId);
    return tasks.length >= 4 ? tasks : undefined;
  }, 60_000, { what: 'four scheduled tasks' });
  for (let i = 1; i < 4; i++) t.is(firstTicks[i]!.tick - firstTicks[i - 1]!.tick, TICK_MS, 'consecutive ticks, each once');
  const lags = firstTicks.map((task) => Date.parse(String(task.created)) - task.tick).sort((x, y) => x - y);
  t.log(`tick → task created: ${lags.map((ms) => `${ms} ms`).join(', ')}`);
  const done = await waitFor(async () => (await scheduledTasks(b.api, setup.projectId)).find((task) => task.status === 'success'), 30_000);
  t.truthy(done, 'a scheduled task ran');

  // Replica A crashes: B keeps the schedule going; A comes back.
  await a.kill('SIGKILL');
  const killedAt = Date.now();
  await waitFor(async () => (await scheduledTasks(b.api, setup.projectId)).filter((task) => task.tick > killedAt).length >= 2, 30_000, { what: 'ticks after the crash' });
  a = await startForge({ env, dirs: a.dirs });
  const restartedAt = Date.now();
  await waitFor(async () => (await scheduledTasks(a.api, setup.projectId)).filter((task) => task.tick > restartedAt).length >= 2, 30_000, { what: 'ticks after the restart' });

  // Every server down for a while: the ticks in between are reported, not replayed.
  await Promise.all([a.stop(), b.stop()]);
  const downFrom = Date.now();
  const beforeDowntime = await redis.cli(["ping"]); // Redis itself stays up
  t.is(beforeDowntime.trim(), 'PONG');
  await waitFor(() => Date.now() - downFrom > 4 * TICK_MS + 1000, 20_000, { intervalMs: 200, what: 'a downtime of several ticks' });
  a = await startForge({ env, dirs: a.dirs });
  const upAgain = Date.now();
  const after = await waitFor(async () => {
    const s = await a.api.json('GET', path);
    return s.missed_ticks >= 4 ? s : undefined;
  }, 30_000, { what: 'the missed ticks to be reported' });
  t.true(Date.parse(after.last_missed_from) >= downFrom - TICK_MS && Date.parse(after.last_missed_from) < upAgain, `missed from ${after.last_missed_from}`);
  t.truthy(after.last_missed_at);
  await waitFor(async () => (await scheduledTasks(a.api, setup.projectId)).some((task) => task.tick > upAgain), 30_000, { what: 'a tick after the downtime' });

  const all = await scheduledTasks(a.api, setup.projectId);
  const ticks = all.map((task) => task.tick);
  t.is(new Set(ticks).size, ticks.length, 'no tick ran twice');
  t.deepEqual(all.filter((task) => task.tick > downFrom && task.tick < upAgain - 1000).map((task) => task.message), [], 'no tick of the downtime ran late');

  // Inactive: no next run, and no more ticks.
  const { id: _id, next_run: _next, ...fields } = after;
  await a.api.json('PUT', path, { ...fields, active: false });
  t.is((await a.api.json('GET', path)).next_run, null);
});

test('schedules: time zone in the next run, validation names the field, delete stops it', async (t) => {
  const forge = await startForge();
  const repo = await makeBareRepo({ 'run.sh': 'echo hi\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path });
  const base = `/api/project/${setup.projectId}/schedules`;
  const ny = await forge.api.json('POST', base, { template_id: setup.templateId, cron_format: '30 9 * * *', timezone: 'America/New_York' });
  const next = new Date(ny.next_run);
  const local = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(next);
  t.is(local, '09:30', `next run ${ny.next_run} is 09:30 in New York`);
  const listed = await forge.api.json('GET', `/api/project/${setup.projectId}/templates/${setup.templateId}/schedules`);
  t.deepEqual(listed.map((s: { id: number }) => s.id), [ny.id]);

  const badCron = await forge.api.post(base, { template_id: setup.templateId, cron_format: '61 * * * *' });
  t.is(badCron.status, 400);
  t.regex(badCron.body.error, /^cron_format: /);
  const badZone = await forge.api.post(base, { template_id: setup.templateId, cron_format: '* * * * *', timezone: 'Mars/Base' });
  t.is(badZone.status, 400);
  t.regex(badZone.body.error, /timezone/);
  const badTemplate = await forge.api.post(base, { template_id: 999, cron_format: '* * * * *' });
  t.is(badTemplate.status, 400);
  t.regex(badTemplate.body.error, /^template_id: /);
  t.is((await forge.api.post(`${base}/validate`, { cron_format: '*/5 * * * *' })).status, 204);

  t.is((await forge.api.delete(`${base}/${ny.id}`)).status, 204);
  t.is((await forge.api.get(`${base}/${ny.id}`)).status, 404);

  // A schedule whose template is deleted pauses itself at its next tick, saying why.
  const doomed = await setupTemplate(forge.api, { gitUrl: repo.path, projectId: setup.projectId });
  const every = await forge.api.json('POST', base, { template_id: doomed.templateId, cron_format: '* * * * * *' });
  t.is((await forge.api.delete(`/api/project/${setup.projectId}/templates/${doomed.templateId}`)).status, 204);
  const paused = await waitFor(async () => {
    const s = await forge.api.json('GET', `${base}/${every.id}`);
    return s.active === false ? s : undefined;
  }, 30_000, { what: 'the schedule to pause' });
  t.regex(paused.last_error, /no longer exists; the schedule was paused/);
  t.is(paused.next_run, null);
});
