/**
 * The dispatch floor's runner host: many minimal runners in one process, as bench/runner-host.ts
 * hosts Forge's agents, driven by the benchmark's RunnerHosts over the same IPC (ready; ping, add,
 * stop; 'started' and 'finished' events timestamped here on the same clock). Each runner has its
 * own keep-alive HTTP agent, X25519 key pair and long-poll loop on bench/dispatch-floor-server.ts.
 * A job's answer is parsed and its sealed payload opened ('started'); then the task's work as a
 * Forge task does it (the sandboxed clone, the start report a Forge runner sends before the app,
 * `bash run.sh`, in a private work folder), its result, and the next long-poll.
 *
 * usage: node --import tsx bench/dispatch-floor-host.ts (with an IPC channel)
 */
import { join } from 'node:path';
import { generateBoxKeyPair, open } from '../protocol/sealed-box.js';
import type { SandboxSettings } from '../workers/executor/sandbox.js';
import { Api } from './lib/api.js';
import { now, send, serveCommands, stopRunners } from './lib/host-ipc.js';
import type { RunnerSpec } from './lib/hosts.js';
import { inPrivateDir, sandboxedTask, taskSandbox, type TaskSource } from './lib/sandboxed-task.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface SealedJob { task_id: number; sealed_payload: string }
interface Runner { spec: RunnerSpec; api: Api; stopping: boolean; done: Promise<void> }
const runners = new Map<number, Runner>();
/** Probed once per host, as a runner does at start. */
let sandbox: SandboxSettings | undefined;

async function serve(runner: Runner): Promise<void> {
  const { spec, api } = runner;
  const keys = generateBoxKeyPair();
  const poll = { runner: spec.id, public_key: keys.publicKey.toString('base64') };
  /** The next job a result's answer carried: no poll for it. */
  let handedOver: SealedJob | undefined;
  while (!runner.stopping) {
    let sealedJob = handedOver;
    handedOver = undefined;
    if (!sealedJob) {
      let claimed;
      try {
        claimed = await api.request<SealedJob>('POST', '/next', poll);
      } catch (err) {
        if (runner.stopping) break;
        process.stderr.write(`runner ${spec.id}: long-poll failed (${(err as Error).message}); polling again\n`);
        await sleep(200);
        continue;
      }
      if (claimed.status === 204) continue;
      if (claimed.status !== 200) throw new Error(`runner ${spec.id}: POST /next answered ${claimed.status}: ${claimed.text}`);
      sealedJob = claimed.body;
    }
    const { task_id: taskId, sealed_payload: sealed } = sealedJob;
    const job = JSON.parse(open(Buffer.from(sealed, 'base64'), keys).toString('utf8')) as TaskSource;
    send({ type: 'started', task_id: taskId, t: now(), runner: spec.id });
    let status = 'success';
    /** False once the server refused the start: the lease is another runner's. */
    let ours = true;
    const workDir = join(spec.work_dir, `task-${taskId}`);
    try {
      await inPrivateDir(workDir, async () => {
        const task = sandboxedTask(sandbox!, job, workDir);
        await task.clone();
        // The start report, where a Forge runner sends it (after 'started', so outside the dispatch
        // interval): the fence that keeps a task taken away meanwhile from running twice.
        const start = await api.request('POST', '/running', { task_id: taskId, runner: spec.id });
        ours = start.status !== 409;
        if (start.status !== 200) throw new Error(`start refused (${start.status}): ${start.text}`);
        await task.app();
      });
    } catch (err) {
      status = 'error';
      send({ type: 'rejected', runner: spec.id, message: `task ${taskId}: ${(err as Error).message}` });
    }
    // A task that is no longer ours is not reported, as a Forge runner reports nothing more of it.
    if (ours) {
      // As a Forge runner kept busy by its queue: the result asks for the next job (revision 3).
      const answer = await api.json<Partial<SealedJob>>('POST', '/result', { task_id: taskId, status, next: runner.stopping ? undefined : poll });
      if (answer.task_id !== undefined) handedOver = answer as SealedJob;
    }
    send({ type: 'finished', task_id: taskId, t: now(), runner: spec.id });
  }
}

function add(specs: RunnerSpec[]): number[] {
  sandbox ??= taskSandbox(specs[0]!.dir);
  for (const spec of specs) {
    const runner: Runner = { spec, api: new Api(spec.web_host), stopping: false, done: Promise.resolve() };
    runner.done = serve(runner).catch((err) => {
      process.stderr.write(`${(err as Error).stack ?? err}\n`);
      send({ type: 'rejected', runner: spec.id, message: (err as Error).message });
    });
    runners.set(spec.id, runner);
  }
  return specs.map((s) => s.id);
}

/** Ends the runners' loops: a parked long-poll is cut (its socket destroyed), a running task finishes first. */
function stop(ids: number[] | undefined): Promise<number[]> {
  return stopRunners(runners, ids, (runner) => {
    runner.stopping = true;
    runner.api.close();
    return runner.done;
  });
}

const commands: Record<string, (args: any) => unknown> = {
  add: (args: { runners: RunnerSpec[] }) => add(args.runners),
  stop: (args: { ids?: number[] }) => stop(args.ids),
  ping: () => now(),
};

serveCommands(commands, () => stop(undefined));
