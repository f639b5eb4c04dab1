import type { IncomingMessage, ServerResponse } from 'node:http';
import { rateLimit } from 'express-rate-limit';
import proxyAddr from 'proxy-addr';
import { logger } from '../../protocol/log.js';
import { isValidPublicKey, seal } from '../../protocol/sealed-box.js';
import { constantTimeEqual } from '../common/secrets.js';
import {
  helloSchema, jobRefSchema, longTaskHeartbeatMs, PROTOCOL_REVISION, outputBatchSchema, registerSchema, resultSchema, runnerStateSchema, runningSchema,
  type ClaimAnswer, type HelloAnswer, type RegisterAnswer, type ResultAnswer, type RunnerState,
} from '../../protocol/wire.js';
import type { AppContext } from '../context.js';
import { HttpError, parseBody, positiveId } from '../api/http.js';
import { channels } from '../redis/keys.js';
import { sendEmpty, sendJson } from './answers.js';
import { runnerClaimant } from './claimant.js';
import type { Claim } from './claimer.js';
import { PollEnd } from './poll-end.js';
import type { RunnerCall, RunnerRoute } from './route-table.js';

const log = logger('gateway');

export const HEARTBEAT_MS = 1000;

/**
 * The registration rate limit (express-rate-limit's, on node:http): 20 a minute per client
 * address, that address believed from the configured proxies as the main app believes it.
 * Resolves true when the request may go on; else the 429 is answered.
 */
function registrationLimit(ctx: AppContext): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const trust = proxyAddr.compile(ctx.config.trusted_proxies);
  const limiter = rateLimit({
    windowMs: 60_000, limit: 20, standardHeaders: 'draft-7', legacyHeaders: false,
    // The checks of Express's `trust proxy` setting read req.app, which a node:http request has not.
    validate: { trustProxy: false, xForwardedForHeader: false },
    handler: (_req, res) => sendJson(res, 429, { error: 'too many registration attempts from this address; wait a minute and try again' }),
  });
  return (req, res) => new Promise((resolve, reject) => {
    (req as IncomingMessage & { ip?: string }).ip = proxyAddr(req, trust);
    let passed = false;
    const next = (err?: unknown) => (err ? reject(err) : (passed = true));
    void (limiter(req as never, res as never, next) as Promise<void>).then(() => resolve(passed), reject);
  });
}

/** A claimed job as it leaves: its payload sealed to the claiming runner's public key. */
function sealedJob(claimed: Claim, publicKey: string): ClaimAnswer {
  return {
    task_id: claimed.task.id, attempt: claimed.task.attempt,
    sealed_payload: seal(JSON.stringify(claimed.payload), Buffer.from(publicKey, 'base64')).toString('base64'),
  };
}

/**
 * The runner-facing endpoints under /api/internal/runners. Runners authenticate with their token
 * in X-Runner-Token; jobs leave only as sealed boxes to the claiming runner's public key.
 */
export function runnerRoutes(ctx: AppContext): RunnerRoute[] {
  const { stores, core } = ctx;
  const parked = new Map<number, RunnerState>();

  // Parked long-polls keep their runners online, and so do results that ask for the next job (a
  // runner its queue keeps busy may never park): one write per interval for all of them.
  const seen = new Map<number, RunnerState>();
  const touchTimer = setInterval(() => {
    const states = new Map([...seen, ...parked]);
    seen.clear();
    void stores.runners.touch(states).catch(() => {});
  }, 2000);
  touchTimer.unref();

  // A runner's record changed (deleted, disabled, edited): its long-polls end, to answer with the
  // record as it is now. One bus listener for all of them, not one per poll.
  const polls = new Map<number, Set<() => void>>();
  const pollsOfRunner = (id: number) => polls.get(id) ?? polls.set(id, new Set()).get(id)!;
  const leavePoll = (id: number, onChange: () => void) => {
    const set = polls.get(id);
    set?.delete(onChange);
    if (set?.size === 0) polls.delete(id);
  };
  ctx.bus.on(channels.runnerEvents, (message) => {
    const id = (message as { id?: number }).id;
    for (const onChange of id === undefined ? [] : [...(polls.get(id) ?? [])]) onChange();
  });

  const mayRegister = registrationLimit(ctx);
  const taskId = (call: RunnerCall) => positiveId('task_id', call.params.task_id);
  const claimant = (call: RunnerCall) => runnerClaimant(call.runner);

  return [
  { method: 'POST', path: '/', withoutToken: true, handle: async ({ req, res, body }) => {
    if (!(await mayRegister(req, res))) return;
    const input = parseBody(registerSchema, body);
    // A one-time token issued for one runner (POST /api/runners/{id}/registration-token) registers that runner.
    if (await stores.runners.isRegistrationToken(input.registration_token)) {
      if (!isValidPublicKey(input.public_key)) throw new HttpError(400, 'public_key: expected a base64 X25519 public key (32 bytes)');
      const issued = await stores.runners.registerWithToken(input.registration_token, input.public_key);
      if (!issued) throw new HttpError(401, 'this one-time registration token was used or has expired: issue a new one (POST /api/runners/{id}/registration-token)');
      log.info('runner registered with its one-time token', { id: issued.runner.id, name: issued.runner.name });
      const answer: RegisterAnswer = { id: issued.runner.id, token: issued.token };
      sendJson(res, 201, answer);
      return;
    }
    const expected = ctx.config.runner_registration_token;
    if (!expected) throw new HttpError(403, 'registration by token is off on this server: set runner_registration_token (FORGE_RUNNER_REGISTRATION_TOKEN), add the runner in the web UI and use its token, or issue it a one-time registration token (POST /api/runners/{id}/registration-token)');
    if (!constantTimeEqual(input.registration_token, expected)) throw new HttpError(401, 'wrong registration token');
    if (!isValidPublicKey(input.public_key)) throw new HttpError(400, 'public_key: expected a base64 X25519 public key (32 bytes)');
    if (input.project_id && !(await stores.projects.get(input.project_id))) throw new HttpError(400, `project_id: no project ${input.project_id}`);
    if (input.replaces_token) {
      const previous = await stores.runners.byToken(input.replaces_token);
      if (previous) await stores.runners.delete(previous.id);
    }
    const { runner, token } = await stores.runners.create({
      name: input.name, tags: input.tags, max_parallel_tasks: input.max_parallel_tasks, webhook: input.webhook,
      enabled: true, project_id: input.project_id ?? null, public_key: input.public_key,
    });
    log.info('runner registered', { id: runner.id, name: runner.name, tags: runner.tags });
    const answer: RegisterAnswer = { id: runner.id, token };
    sendJson(res, 201, answer);
  } },

  { method: 'DELETE', path: '/', handle: async ({ res, runner }) => {
    await stores.runners.delete(runner.id);
    log.info('runner unregistered itself', { id: runner.id });
    sendEmpty(res, 204);
  } },

  { method: 'POST', path: '/hello', handle: async ({ res, runner, body }) => {
    const input = parseBody(helloSchema, body);
    if (input.public_key) {
      if (!isValidPublicKey(input.public_key)) throw new HttpError(400, 'public_key: expected a base64 X25519 public key (32 bytes)');
      if (!runner.public_key) await stores.runners.update(runner.id, { public_key: input.public_key });
      else if (runner.public_key !== input.public_key) throw new HttpError(409, 'this runner already has a different public key: its token is being used with another key pair; re-register the runner');
    } else if (!runner.public_key) {
      throw new HttpError(400, 'public_key: this runner has no key yet; send its public key on first contact');
    }
    await stores.runners.touch(new Map([[runner.id, input]]));
    const answer: HelloAnswer = {
      id: runner.id, name: runner.name, tags: runner.tags, project_id: runner.project_id, max_parallel_tasks: runner.max_parallel_tasks,
      enabled: runner.enabled, lease_sec: ctx.config.runner_lease_sec, heartbeat_ms: HEARTBEAT_MS, long_poll_sec: ctx.config.long_poll_sec,
      long_task_heartbeat_ms: longTaskHeartbeatMs(HEARTBEAT_MS, ctx.config.runner_lease_sec * 1000),
      protocol: PROTOCOL_REVISION,
    };
    sendJson(res, 200, answer);
  } },

  { method: 'POST', path: '/heartbeat', handle: async (call) => {
    const state = parseBody(runnerStateSchema, call.body);
    sendJson(call.res, 200, await core.heartbeat(claimant(call), state));
  } },

  { method: 'POST', path: '/jobs/next', handle: async ({ res, runner, body }) => {
    const state = parseBody(runnerStateSchema, body);
    if (!runner.public_key) throw new HttpError(409, 'this runner has no public key yet: POST /hello with public_key first');
    // Seen: recorded with the state it reports by the parked runners' touch (every 2 s, well inside
    // the online window), not by a write per poll.
    // The poll ends early when the client goes away or the runner's record changes (deleted,
    // disabled, edited): then the answer reflects the record as it is now.
    const end = new PollEnd();
    let clientGone = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        end.end();
        if (state.active.length === 0) void stores.runners.markOffline(runner.id);
      }
    });
    let runnerChanged = false;
    const onRunnerChange = () => {
      runnerChanged = true;
      end.end();
    };
    pollsOfRunner(runner.id).add(onRunnerChange);
    parked.set(runner.id, state);
    let claimed;
    try {
      if (!runner.enabled || state.draining) {
        // A disabled or draining runner is kept parked (not answered at once, which would make it spin).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ctx.config.long_poll_sec * 1000);
          end.addEventListener('abort', () => { clearTimeout(timer); resolve(); });
        });
      } else {
        claimed = await core.next(runnerClaimant(runner, state.active.length), ctx.config.long_poll_sec * 1000, end);
      }
    } finally {
      parked.delete(runner.id);
      leavePoll(runner.id, onRunnerChange);
    }
    if (!claimed) {
      if (clientGone) return;
      // Only a change ends a poll early; one that just ran out answers 204 without a read (a
      // deletion whose event was missed is refused on the next request: the token cache is cleared on reconnect).
      if (runnerChanged && !(await stores.runners.get(runner.id))) throw new HttpError(401, 'unknown runner token: this runner was deleted');
      sendEmpty(res, 204);
      return;
    }
    if (clientGone) {
      await core.requeueUnstarted(claimed.task, 'the runner disconnected before receiving the task; requeued');
      return;
    }
    sendJson(res, 200, sealedJob(claimed, runner.public_key));
  } },

  { method: 'POST', path: '/jobs/:task_id/running', handle: async (call) => {
    const { attempt, lines, ...commit } = parseBody(runningSchema, call.body);
    sendJson(call.res, 200, await core.running(claimant(call), taskId(call), attempt, commit, lines));
  } },

  { method: 'POST', path: '/jobs/:task_id/output', handle: async (call) => {
    const input = parseBody(outputBatchSchema, call.body);
    const acked = await core.log(claimant(call), taskId(call), input.attempt, input.lines);
    sendJson(call.res, 200, { acked });
  } },

  // Long-poll: answered when the plan is confirmed or rejected, or `pending` after long_poll_sec.
  { method: 'POST', path: '/jobs/:task_id/confirmation', handle: async (call) => {
    const input = parseBody(jobRefSchema, call.body);
    const abort = new AbortController();
    call.res.on('close', () => abort.abort());
    const answer = await core.awaitConfirmation(claimant(call), taskId(call), input.attempt, ctx.config.long_poll_sec * 1000, abort.signal);
    if (!abort.signal.aborted) sendJson(call.res, 200, answer);
  } },

  { method: 'POST', path: '/jobs/:task_id/result', handle: async (call) => {
    const input = parseBody(resultSchema, call.body);
    const { attempt, lines, next, ...result } = input;
    const { runner, res } = call;
    let clientGone = false;
    res.on('close', () => (clientGone ||= !res.writableFinished));
    // Revision 3: the runner's next job in this answer when one can be claimed now (never waiting).
    const asks = next && !next.draining && runner.enabled && runner.public_key;
    const claimed = await core.done(claimant(call), taskId(call), attempt, result, lines, asks ? runnerClaimant(runner, next.active.length) : undefined);
    // Seen with the job it takes: a status without it would show a free slot, and flip the waiting reasons.
    if (next) seen.set(runner.id, claimed ? { ...next, active: [...next.active, { task_id: claimed.task.id, attempt: claimed.task.attempt }] } : next);
    if (claimed && clientGone) {
      await core.requeueUnstarted(claimed.task, 'the runner disconnected before receiving the task; requeued');
      return;
    }
    sendJson(res, 200, (claimed ? { ok: true, job: sealedJob(claimed, runner.public_key!) } : { ok: true }) satisfies ResultAnswer);
  } },
  ];
}
