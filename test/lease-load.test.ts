/**
 * Leases on a starved machine: while two CPU hogs hold both cores at 100% for a minute, 100
 * tasks on 5 runners all finish `success`; no live task is declared "runner lost".
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import {
  FINAL, cleanup, getTask, makeBareRepo, onCleanup, setupTemplate, startForge, startTask, stopChild, trackChild, waitFor,
} from './helpers/index.js';
import { startRunner } from './helpers/runner.js';

test.after.always(cleanup);

/** A busy loop per core in a child process, ended after `ms` (and at cleanup at the latest). */
function cpuHogs(count: number, ms: number): { stop(): Promise<void> } {
  const hogs = Array.from({ length: count }, () => trackChild(spawn(process.execPath, ['-e', 'for(;;);'], { stdio: 'ignore' })));
  const stop = async () => {
    clearTimeout(timer);
    await Promise.all(hogs.map((hog) => stopChild(hog, 'SIGKILL', 2000)));
  };
  const timer = setTimeout(() => void stop(), ms);
  onCleanup(stop);
  return { stop };
}

test('100 tasks on 5 runners while CPU hogs hold both cores for a minute: no false "runner lost"', async (t) => {
  const forge = await startForge({ env: { FORGE_USE_REMOTE_RUNNER: 'True', FORGE_RUNNER_LEASE_SEC: '5' } });
  const setup = await setupTemplate(forge.api, { gitUrl: (await makeBareRepo({ 'run.sh': 'for i in 1 2 3; do echo "step $i"; sleep 0.1; done\n' })).path });
  for (let i = 0; i < 5; i++) await startRunner(forge, { maxParallel: 2 });
  const hogs = cpuHogs(2, 60_000);
  const tasks: Array<{ id: number }> = [];
  for (let i = 0; i < 100; i++) tasks.push(await startTask(forge.api, setup.projectId, setup.templateId));
  const finished = await waitFor(async () => {
    const all = await Promise.all(tasks.map((task) => getTask(forge.api, setup.projectId, task.id)));
    return all.every((task) => FINAL.includes(task.status)) ? all : undefined;
  }, 600_000, { intervalMs: 1000, what: 'all 100 tasks to finish' });
  await hogs.stop();
  const failed = finished.filter((task) => task.status !== 'success');
  t.deepEqual(failed.map((task) => `${task.id}: ${task.status} ${task.error}`), []);
  t.is(finished.filter((task) => task.attempt !== 1).length, 0, 'no task was requeued');
});
