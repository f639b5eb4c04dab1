/**
 * One OS process hosting many Forge runner agents (so 100 runners do not need 100 Node processes
 * on a 2-core machine). Each agent is a full `forge runner start`: its own token, its own X25519
 * key pair, its own keep-alive HTTP agent and long-poll to the server. Driven by the benchmark over
 * the IPC channel; reports the agents' 'started'/'finished' events with a timestamp taken here, and
 * counts every POST …/jobs/next answer (status, duration) with node:diagnostics_channel, without
 * touching the runner code.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadRunnerConfig } from '../workers/runner/config.js';
import { startRunner, type StartedRunner } from '../workers/runner/runner.js';
import { now, send, serveCommands, stopRunners } from './lib/host-ipc.js';
// A type only: erased when this file is transpiled alone (bench/lib/hosts.ts, runnerHostScript).
import type { RunnerSpec } from './lib/hosts.js';

// --- /jobs/next accounting ------------------------------------------------------------------
/** [start ms, end ms, HTTP status] of every finished long-poll, in completion order. */
const polls: Array<[number, number, number]> = [];
const pollStart = new WeakMap<object, number>();
let pollErrors = 0;
/** Runner id by token, and when each runner's last long-poll answer with a job reached this process: its headers, the end of its body. */
const runnerOfToken = new Map<string, number>();
const lastJobAnswer = new Map<number, { headers: number; body: number }>();
/** Every request the runners sent, by path with ids replaced (e.g. POST /api/internal/runners/jobs/:id/output). */
const requestCounts: Record<string, number> = {};
subscribe('http.client.request.start', (message) => {
  const { request } = message as { request: ClientRequest };
  const key = `${request.method} ${request.path.replace(/\/\d+(?=\/|$)/g, '/:id')}`;
  requestCounts[key] = (requestCounts[key] ?? 0) + 1;
  if (request.path.endsWith('/jobs/next')) pollStart.set(request, now());
});
subscribe('http.client.response.finish', (message) => {
  const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
  const start = pollStart.get(request);
  if (start === undefined) return;
  const t = now();
  polls.push([start, t, response.statusCode ?? 0]);
  const runner = runnerOfToken.get(String(request.getHeader('x-runner-token')));
  if (response.statusCode === 200 && runner !== undefined) {
    const answer = { headers: t, body: Number.NaN };
    lastJobAnswer.set(runner, answer);
    // Listening for 'end' reads nothing: the runner's own 'data' listener consumes the body.
    response.once('end', () => (answer.body = now()));
  }
});
subscribe('http.client.request.error', (message) => {
  const { request } = message as { request: ClientRequest };
  if (pollStart.has(request)) pollErrors++;
});

// --- event-loop delay ------------------------------------------------------------------------
/**
 * How long this host's event loop was held at a time (synchronous forks, JSON, crypto): while it
 * is held, none of its agents sends a heartbeat. Read and reset by the benchmark per window.
 */
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();

// --- agents ---------------------------------------------------------------------------------
const runners = new Map<number, StartedRunner>();

async function add(specs: RunnerSpec[]): Promise<number[]> {
  // Started one after another: startRunner probes the PATH for app binaries synchronously.
  for (const spec of specs) {
    const loaded = loadRunnerConfig(undefined, {
      FORGE_WEB_HOST: spec.web_host, FORGE_TMP_PATH: spec.work_dir, FORGE_LOG_LEVEL: 'warn',
      FORGE_RUNNER_TOKEN: spec.token, FORGE_RUNNER_PRIVATE_KEY_FILE: join(spec.dir, 'runner.key'),
      FORGE_RUNNER_MAX_PARALLEL_TASKS: String(spec.max_parallel), FORGE_RUNNER_NAME: spec.name,
    });
    runnerOfToken.set(spec.token, spec.id);
    const started = await startRunner(loaded);
    // When the long-poll answer that carried this job reached this process: headers, body's end.
    started.agent.on('started', (taskId: number) => {
      const t = now();
      const answer = lastJobAnswer.get(spec.id);
      send({ type: 'started', task_id: taskId, t, runner: spec.id, answered: answer?.headers, body_read: answer?.body });
    });
    started.agent.on('finished', (taskId: number) => send({ type: 'finished', task_id: taskId, t: now(), runner: spec.id }));
    started.agent.on('rejected', (err: Error) => send({ type: 'rejected', runner: spec.id, message: err.message }));
    runners.set(spec.id, started);
  }
  return specs.map((s) => s.id);
}

function stop(ids: number[] | undefined): Promise<number[]> {
  return stopRunners(runners, ids, async (runner) => {
    await runner.drain();
    await runner.done;
  });
}

const commands: Record<string, (args: any) => unknown> = {
  add: (args: { runners: RunnerSpec[] }) => add(args.runners),
  stop: (args: { ids?: number[] }) => stop(args.ids),
  ping: () => now(),
  /** Long-polls that ended in [since, until]: their start, end and status. */
  polls: (args: { since: number; until: number }) => ({
    polls: polls.filter(([, end]) => end >= args.since && end <= args.until), errors: pollErrors,
  }),
  count: () => runners.size,
  requests: () => ({ ...requestCounts }),
  /** The event loop's delay since the last call (ms): max and p99; then starts afresh. */
  loopDelay: () => {
    const out = { max_ms: loopDelay.max / 1e6, p99_ms: loopDelay.percentile(99) / 1e6 };
    loopDelay.reset();
    return out;
  },
};

serveCommands(commands, () => stop(undefined));
