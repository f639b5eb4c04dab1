import { Router, type Request } from 'express';
import { rateLimit } from 'express-rate-limit';
import { logger } from '../../protocol/log.js';
import { isValidPublicKey, seal } from '../../protocol/sealed-box.js';
import { constantTimeEqual } from '../common/secrets.js';
import {
  helloSchema, jobRefSchema, longTaskHeartbeatMs, PROTOCOL_REVISION, outputBatchSchema, registerSchema, resultSchema, runnerStateSchema, runningSchema,
  type ClaimAnswer, type HelloAnswer, type RegisterAnswer, type RunnerState,
} from '../../protocol/wire.js';
import type { AppContext } from '../context.js';
import { HttpError, idParam, parseBody } from '../api/http.js';
import type { Runner } from '../store/runners.js';
import { channels } from '../redis/keys.js';
import { runnerClaimant } from './claimant.js';
import { authenticateRunner } from './runner-auth.js';

const log = logger('gateway');

declare module 'express-serve-static-core' {
  interface Request {
    runner?: Runner;
  }
}

export const HEARTBEAT_MS = 1000;

/**
 * The runner-facing endpoints under /api/internal/runners. Runners authenticate with their token
 * in X-Runner-Token; jobs leave only as sealed boxes to the claiming runner's public key.
 */
export function runnerGatewayRouter(ctx: AppContext): Router {
  const router = Router();
  const { stores, core } = ctx;
  const parked = new Map<number, RunnerState>();

  // Parked long-polls keep their runners online; one write per interval for all of them.
  const touchTimer = setInterval(() => void stores.runners.touch(parked).catch(() => {}), 2000);
  touchTimer.unref();

  const registrationLimit = rateLimit({
    windowMs: 60_000, limit: 20, standardHeaders: 'draft-7', legacyHeaders: false,
    handler: (_req, res) => res.status(429).json({ error: 'too many registration attempts from this address; wait a minute and try again' }),
  });

  router.post('/', registrationLimit, async (req, res) => {
    const input = parseBody(registerSchema, req.body);
    // A one-time token issued for one runner (POST /api/runners/{id}/registration-token) registers that runner.
    if (await stores.runners.isRegistrationToken(input.registration_token)) {
      if (!isValidPublicKey(input.public_key)) throw new HttpError(400, 'public_key: expected a base64 X25519 public key (32 bytes)');
      const issued = await stores.runners.registerWithToken(input.registration_token, input.public_key);
      if (!issued) throw new HttpError(401, 'this one-time registration token was used or has expired: issue a new one (POST /api/runners/{id}/registration-token)');
      log.info('runner registered with its one-time token', { id: issued.runner.id, name: issued.runner.name });
      const answer: RegisterAnswer = { id: issued.runner.id, token: issued.token };
      res.status(201).json(answer);
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
    res.status(201).json(answer);
  });

  router.use(authenticateRunner(ctx));

  router.delete('/', async (req, res) => {
    await stores.runners.delete(req.runner!.id);
    log.info('runner unregistered itself', { id: req.runner!.id });
    res.status(204).end();
  });

  router.post('/hello', async (req, res) => {
    const runner = req.runner!;
    const input = parseBody(helloSchema, req.body);
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
    res.json(answer);
  });

  router.post('/heartbeat', async (req, res) => {
    const state = parseBody(runnerStateSchema, req.body);
    res.json(await core.heartbeat(runnerClaimant(req.runner!), state));
  });

  router.post('/jobs/next', async (req, res) => {
    const runner = req.runner!;
    const state = parseBody(runnerStateSchema, req.body);
    if (!runner.public_key) throw new HttpError(409, 'this runner has no public key yet: POST /hello with public_key first');
    // Seen: recorded with the state it reports by the parked runners' touch (every 2 s, well inside
    // the online window), not by a write per poll.
    // The poll ends early when the client goes away or the runner's record changes (deleted,
    // disabled, edited): then the answer reflects the record as it is now.
    const abort = new AbortController();
    let clientGone = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        abort.abort();
        if (state.active.length === 0) void stores.runners.markOffline(runner.id);
      }
    });
    let runnerChanged = false;
    const offRunnerEvents = ctx.bus.on(channels.runnerEvents, (message) => {
      if ((message as { id?: number }).id !== runner.id) return;
      runnerChanged = true;
      abort.abort();
    });
    parked.set(runner.id, state);
    let claimed;
    try {
      if (!runner.enabled || state.draining) {
        // A disabled or draining runner is kept parked (not answered at once, which would make it spin).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ctx.config.long_poll_sec * 1000);
          abort.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
        });
      } else {
        claimed = await core.next(runnerClaimant(runner, state.active.length), ctx.config.long_poll_sec * 1000, abort.signal);
      }
    } finally {
      parked.delete(runner.id);
      offRunnerEvents();
    }
    if (!claimed) {
      if (clientGone) return;
      // Only a change ends a poll early; one that just ran out answers 204 without a read (a
      // deletion whose event was missed is refused on the next request: the token cache is cleared on reconnect).
      if (runnerChanged && !(await stores.runners.get(runner.id))) throw new HttpError(401, 'unknown runner token: this runner was deleted');
      res.status(204).end();
      return;
    }
    if (clientGone) {
      await core.requeueUnstarted(claimed.task, 'the runner disconnected before receiving the task; requeued');
      return;
    }
    const answer: ClaimAnswer = {
      task_id: claimed.task.id, attempt: claimed.task.attempt,
      sealed_payload: seal(JSON.stringify(claimed.payload), Buffer.from(runner.public_key, 'base64')).toString('base64'),
    };
    res.json(answer);
  });

  const claimant = (req: Request) => runnerClaimant(req.runner!);

  router.post('/jobs/:task_id/running', async (req, res) => {
    const { attempt, lines, ...commit } = parseBody(runningSchema, req.body);
    res.json(await core.running(claimant(req), idParam(req, 'task_id'), attempt, commit, lines));
  });

  router.post('/jobs/:task_id/output', async (req, res) => {
    const input = parseBody(outputBatchSchema, req.body);
    const acked = await core.log(claimant(req), idParam(req, 'task_id'), input.attempt, input.lines);
    res.json({ acked });
  });

  // Long-poll: answered when the plan is confirmed or rejected, or `pending` after long_poll_sec.
  router.post('/jobs/:task_id/confirmation', async (req, res) => {
    const input = parseBody(jobRefSchema, req.body);
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const answer = await core.awaitConfirmation(claimant(req), idParam(req, 'task_id'), input.attempt, ctx.config.long_poll_sec * 1000, abort.signal);
    if (!abort.signal.aborted) res.json(answer);
  });

  router.post('/jobs/:task_id/result', async (req, res) => {
    const input = parseBody(resultSchema, req.body);
    const { attempt, lines, ...result } = input;
    await core.done(claimant(req), idParam(req, 'task_id'), attempt, result, lines);
    res.json({ ok: true });
  });

  return router;
}
