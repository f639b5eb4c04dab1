/**
 * Redis Cluster: three masters on loopback built with `redis-cli --cluster create`, and Forge on
 * FORGE_REDIS_URL=redis-cluster://… running a bash task end to end. Every multi-key operation
 * must stay in one hash slot (records share {forge}, each task's output its own {out-N}, each
 * task queue its own tag), or Redis answers CROSSSLOT.
 */
import test from 'ava';
import {
  cleanup, makeBareRepo, outputText, runTask, setupTemplate, SseStream, startForge, startRedis, taskOutput,
} from './helpers/index.js';

test.after.always(cleanup);

test('Forge on a 3-master Redis Cluster runs a bash task end to end', async (t) => {
  const cluster = await startRedis({ cluster: true });
  t.is(cluster.nodes.length, 3);
  t.regex(await cluster.cli(['cluster', 'info']), /cluster_known_nodes:3/);
  const forge = await startForge({ env: { FORGE_REDIS_URL: cluster.url } });

  const repo = await makeBareRepo({ 'run.sh': 'for i in 1 2 3; do echo "cluster line $i"; done\necho "on $FORGE_TASK_ID"\n' });
  const setup = await setupTemplate(forge.api, { gitUrl: repo.path, secrets: [{ name: 'S', secret: 'cluster-secret' }] });
  // Several tasks, so output and queue keys land on different shards.
  const tasks = await Promise.all([1, 2, 3, 4].map(() => runTask(forge.api, setup)));
  for (const task of tasks) {
    const text = await outputText(forge.api, setup.projectId, task.id);
    t.is(task.status, 'success', `${task.error}\n${text}`);
    t.true(text.includes('cluster line 3'));
    t.true(text.includes(`on ${task.id}`));
  }
  // Output is readable in all three forms.
  const last = tasks.at(-1)!;
  const lines = await taskOutput(forge.api, setup.projectId, last.id);
  const raw = await forge.api.get(`/api/project/${setup.projectId}/tasks/${last.id}/raw_output`);
  t.is(raw.text, lines.map((l) => l.output).join('\n') + '\n');
  const stream = await SseStream.open(`${forge.url}/api/project/${setup.projectId}/tasks/${last.id}/output/stream`, forge.api.authHeaders());
  const events = await stream.readUntil((e) => e.event === 'end');
  stream.close();
  t.deepEqual(events.filter((e) => e.event === 'line').map((e) => e.id), lines.map((l) => l.id));
  // Task output keys really are spread over the shards: count keys per node.
  const perNode = await Promise.all(cluster.nodes.map(async (node) => Number((await cluster.cli(['dbsize'], node)).trim())));
  t.true(perNode.filter((n) => n > 0).length >= 2, `keys per node: ${perNode.join(', ')}`);
  const listed = await forge.api.json('GET', `/api/project/${setup.projectId}/tasks`);
  t.is(listed.length, 4);
  t.false(/CROSSSLOT/i.test(forge.logs()), 'no CROSSSLOT error in the server log');
  // The wake-up is published from inside queue-add.lua: on a cluster too, no new task waited for the sweep.
  t.notRegex(forge.logs(), /wake-up sweep/);
  t.is(forge.process.exitCode, null);
});
