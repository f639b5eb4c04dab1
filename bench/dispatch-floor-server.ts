/**
 * The dispatch floor's server: the hops a Forge dispatch takes between the client, the server,
 * Redis and a runner, with no Forge logic in them (plain node:http and ioredis; no Express, zod,
 * auth or metrics). bench/README.md, *The dispatch floor* and *The protocol floor*. Every key is
 * under `dfloor:`.
 *
 *   POST /tasks   {git_url, branch, playbook}: one MULTI (record, queue, task event), then 201 with the record;
 *                 with a long-poll parked, the claim of the queue's head for it rides in that MULTI
 *                 (after the event, which then wakes nobody) and its job is answered before the 201,
 *                 as Forge's hand-off does
 *   POST /next    {runner, public_key}: a runner's long-poll, parked (the longest-parked is woken
 *                 first) until a task event arrives on the subscriber connection, then one claim
 *                 script; 200 with the job sealed to the runner's key, 204 after LONG_POLL_SEC
 *   POST /running {task_id, runner}: the start report, between the clone and the app: one script
 *                 checks the lease is this runner's and marks the record `running`; 200, or 409
 *                 when the lease is not (the runner must not start the app)
 *   POST /result  {task_id, status, next?}: one MULTI (final record, lease dropped, task event), then
 *                 200, with the runner's next job when `next` asks and one is announced (as Forge's)
 *   GET /parked?count=N  answers once N long-polls are parked, with how many ran out (204) since the
 *                 start: the driver's start signal and the parked floor's count, never
 *                 called while latencies are measured
 *
 * usage: node --import tsx bench/dispatch-floor-server.ts (env PORT, REDIS_URL, LONG_POLL_SEC); prints "ready"
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Redis } from 'ioredis';
import { seal } from '../protocol/sealed-box.js';

const PREFIX = 'dfloor:';
const KEYS = { id: `${PREFIX}id`, queue: `${PREFIX}queue`, events: `${PREFIX}events`, task: `${PREFIX}task:`, lease: `${PREFIX}lease:` };
const LEASE_MS = 60_000;
const longPollMs = Number(process.env.LONG_POLL_SEC ?? 25) * 1000;

/** The queue's head claimed for a runner in one step, as Forge's claim: popped, marked `starting`, leased. */
const CLAIM_SCRIPT = `
local head = redis.call('ZPOPMIN', KEYS[1])
if #head == 0 then return false end
local task = ARGV[1] .. head[1]
redis.call('HSET', task, 'status', 'starting', 'runner', ARGV[3])
redis.call('SET', ARGV[2] .. head[1], ARGV[3], 'PX', ARGV[4])
return { head[1], redis.call('HGET', task, 'job') }
`;

/**
 * The start report's fence, as Forge's: only the runner holding the lease may start the app, so a
 * task taken away meanwhile never runs twice.
 */
const START_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'status', 'running', 'started', ARGV[2])
return 1
`;

type FloorRedis = Redis & {
  claimHead(queue: string, taskPrefix: string, leasePrefix: string, runner: string, leaseMs: number): Promise<[string, string] | null>;
  markRunning(lease: string, task: string, runner: string, at: number): Promise<number>;
};
const redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null }) as FloorRedis;
redis.defineCommand('claimHead', { numberOfKeys: 1, lua: CLAIM_SCRIPT }); // EVALSHA, EVAL the first time
redis.defineCommand('markRunning', { numberOfKeys: 2, lua: START_SCRIPT });
const subscriber = redis.duplicate();

/**
 * Task ids are taken one ahead, as Forge's server does (services/store/spare-id.ts): a create's
 * id is already here and the INCR for the next leaves in the same tick as its MULTI, so a create
 * waits for one Redis round trip, as Forge's does.
 */
let spareId: Promise<number> = redis.incr(KEYS.id);
function takeId(): Promise<number> {
  const id = spareId;
  spareId = redis.incr(KEYS.id);
  return id;
}

function readJson(req: IncomingMessage): Promise<any> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

async function createTask(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { git_url, branch, playbook } = await readJson(req);
  const id = await takeId();
  const task = { id, status: 'waiting', queue: KEYS.queue, git_url, branch, playbook };
  // The hand-off: the longest-parked poll takes the queue's head in this MULTI; the event is then no wake-up.
  const taker = takeParked();
  const multi = redis.multi()
    .hset(`${KEYS.task}${id}`, 'status', 'waiting', 'created', Date.now(), 'job', JSON.stringify({ task_id: id, url: git_url, branch, playbook }))
    .zadd(KEYS.queue, id, String(id))
    .publish(KEYS.events, JSON.stringify({ type: 'task', status: taker ? 'handed' : 'waiting', id }));
  if (taker) (multi as unknown as FloorRedis).claimHead(KEYS.queue, KEYS.task, KEYS.lease, taker.runner, LEASE_MS);
  const replies = await multi.exec();
  if (taker) {
    const claimed = replies?.[replies.length - 1]?.[1] as [string, string] | null | undefined;
    if (!claimed) throw new Error(`task ${id}: the hand-off's claim found the queue empty`);
    clearTimeout(taker.timer);
    answer(taker.res, 200, { task_id: Number(claimed[0]), sealed_payload: seal(claimed[1], taker.publicKey).toString('base64') } satisfies SealedJob);
  }
  answer(res, 201, task);
}

// ---------------------------------------------------------------------------------------------
// Long-polls.

interface Poll { runner: string; publicKey: Buffer; res: ServerResponse; timer: NodeJS.Timeout; expired: boolean }
/** Parked polls in parking order (a Set iterates in insertion order): the longest-parked first. */
const parked = new Set<Poll>();
/**
 * Tasks announced by a task event and not yet claimed here: as Forge's queue marks do, this tells
 * whether a claim can find anything, so a poll with nothing to claim parks without asking Redis.
 * Below zero for a moment when a claim's answer overtakes its task's event.
 */
let unclaimed = 0;
const parkedWatchers = new Set<() => void>();

interface Claimant { runner: string; publicKey: Buffer }
interface SealedJob { task_id: number; sealed_payload: string }

/**
 * The queue's head claimed for `claimant`, sealed to its key, while a task is announced and
 * unclaimed here; null when none is (without asking Redis) or the queue was empty: a claim in
 * flight took the announced task and will count it.
 */
async function claimNow(claimant: Claimant): Promise<SealedJob | null> {
  if (unclaimed <= 0) return null;
  const claimed = await redis.claimHead(KEYS.queue, KEYS.task, KEYS.lease, claimant.runner, LEASE_MS);
  if (!claimed) return null;
  unclaimed--;
  const [taskId, job] = claimed;
  return { task_id: Number(taskId), sealed_payload: seal(job, claimant.publicKey).toString('base64') };
}

/** Claims the queue's head for `poll` and answers it, or parks it until a task event or its timeout. */
async function claimFor(poll: Poll): Promise<void> {
  const job = await claimNow(poll);
  if (job) {
    clearTimeout(poll.timer);
    return answer(poll.res, 200, job);
  }
  if (poll.expired || poll.res.closed) return expire(poll);
  parked.add(poll);
  for (const notify of parkedWatchers) notify();
}

/** Long-polls answered 204 because they ran out (the parked floor's count of idle polls). */
let expiredPolls = 0;

function expire(poll: Poll): void {
  poll.expired = true;
  clearTimeout(poll.timer);
  parked.delete(poll);
  if (poll.res.headersSent || poll.res.closed) return;
  expiredPolls++;
  answer(poll.res, 204);
}

async function nextJob(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { runner, public_key } = await readJson(req);
  const poll: Poll = { runner: String(runner), publicKey: Buffer.from(public_key, 'base64'), res, timer: setTimeout(() => {
    // Mid-claim it is answered by its claim instead.
    if (parked.has(poll)) expire(poll);
    else poll.expired = true;
  }, longPollMs), expired: false };
  res.once('close', () => {
    clearTimeout(poll.timer);
    parked.delete(poll);
  });
  await claimFor(poll);
}

subscriber.on('message', (_channel: string, text: string) => {
  const event = JSON.parse(text) as { status: string };
  if (event.status !== 'waiting') return;
  // At zero or below, a poll arriving meanwhile has claimed it already.
  if (++unclaimed <= 0) return;
  const poll = takeParked();
  if (poll) void claimFor(poll).catch(fail);
});

/** The longest-parked poll, out of parking; undefined when none is parked. */
function takeParked(): Poll | undefined {
  const first = parked.values().next();
  if (first.done) return undefined;
  parked.delete(first.value);
  return first.value;
}

function whenParked(count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (parked.size < count) return;
      parkedWatchers.delete(check);
      resolve();
    };
    parkedWatchers.add(check);
    check();
  });
}

// ---------------------------------------------------------------------------------------------

async function reportRunning(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { task_id, runner } = await readJson(req);
  const ours = await redis.markRunning(`${KEYS.lease}${task_id}`, `${KEYS.task}${task_id}`, String(runner), Date.now());
  if (ours) answer(res, 200, {});
  else answer(res, 409, { error: `task ${task_id} is not leased to runner ${runner}` });
}

/**
 * The result: one MULTI. With `next` (the runner's id and key, as Forge's runner protocol revision
 * 3 asks), the answer carries the runner's next job when one is announced and unclaimed, so a busy
 * runner needs no poll between tasks, as Forge's does not.
 */
async function reportResult(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { task_id, status, next } = await readJson(req);
  await redis.multi()
    .hset(`${KEYS.task}${task_id}`, 'status', status, 'finished', Date.now())
    .del(`${KEYS.lease}${task_id}`)
    .publish(KEYS.events, JSON.stringify({ type: 'task', status, id: task_id }))
    .exec();
  const job = next ? await claimNow({ runner: String(next.runner), publicKey: Buffer.from(next.public_key, 'base64') }) : null;
  answer(res, 200, job ?? {});
}

function fail(err: unknown): void {
  process.stderr.write(`dispatch floor server: ${(err as Error).stack ?? err}\n`);
}

async function answerWhenParked(req: IncomingMessage, res: ServerResponse): Promise<void> {
  await whenParked(Number(new URL(req.url!, 'http://localhost').searchParams.get('count')));
  answer(res, 200, { parked: parked.size, expired: expiredPolls });
}

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>> = {
  'POST /tasks': createTask, 'POST /next': nextJob, 'POST /running': reportRunning, 'POST /result': reportResult, 'GET /parked': answerWhenParked,
};

const server = http.createServer((req, res) => {
  const route = `${req.method} ${req.url?.split('?')[0]}`;
  const handler = routes[route];
  if (!handler) return answer(res, 404, { error: `no route ${route}` });
  handler(req, res).catch((err) => {
    fail(err);
    if (!res.headersSent) answer(res, 500, { error: String(err) });
  });
});
// As Forge's server: long-polls outlive the default request timeout; idle keep-alive sockets stay.
server.requestTimeout = 0;
server.headersTimeout = 60_000;
server.keepAliveTimeout = 65_000;

await subscriber.subscribe(KEYS.events);
await spareId;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
