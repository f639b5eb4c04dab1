/**
 * Probe: the Redis commands of one `POST /tasks`, in order, with the round trips they took
 * (commands sent together in one write share a round trip: MONITOR shows them with the same
 * client and consecutive timestamps). The server runs with remote runners on and one runner
 * record, as the request-cost probe does; a warm-up POST first.
 *
 *   npx tsx bench/probe-monitor-post.ts [posts to trace, default 1]
 */
import { monitorRedis } from './lib/monitor.js';
import { startProbeServer } from './lib/forge.js';
import { runProbe, waitFor } from './lib/procs.js';

const traced = Number(process.argv[2] ?? 1);

async function main(): Promise<void> {
  const { redisUrl, forge, api, projectId, templates } = await startProbeServer('forge-probe-monitor-');
  await api.json('POST', '/api/runners', { name: 'probe', tags: [], max_parallel_tasks: 1 });
  const post = () => api.request('POST', `/api/project/${projectId}/tasks`, { template_id: templates['run.sh'] });
  for (let i = 0; i < 3; i++) await post();
  const lines: string[] = [];
  const monitor = await monitorRedis(redisUrl, (time, args, source) => lines.push(`${time} ${source} ${args.map((a) => a.slice(0, 60)).join(' ')}`));
  for (let i = 0; i < traced; i++) {
    const before = lines.length;
    await post();
    // MONITOR lines may trail the answer a little; wait for the stream to go quiet.
    let seen = -1;
    await waitFor(() => { const quiet = lines.length === seen; seen = lines.length; return quiet; }, 5000, 'MONITOR quiet', 200);
    console.log(`--- POST ${i + 1}: ${lines.length - before} commands`);
    for (const line of lines.slice(before)) console.log(line);
  }
  monitor.stop();
  api.close();
}

runProbe(main);
