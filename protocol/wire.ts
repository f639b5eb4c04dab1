import { z } from 'zod';
import type { App } from './records.js';

/**
 * What crosses between the server and whoever executes a task (a remote runner over HTTPS, or the
 * in-process local worker). The job payload is the only part that carries secrets; for remote
 * runners it travels only as a sealed box.
 */
export interface KeyMaterial { type: 'none' | 'ssh' | 'login_password'; login?: string; password?: string; private_key?: string; passphrase?: string }

export interface JobPayload {
  task: {
    id: number; attempt: number; project_id: number; debug: boolean; dry_run: boolean; diff: boolean;
    limit: string; tags: string; skip_tags: string; message: string;
  };
  app: App;
  playbook: string;
  arguments: string[];
  auto_approve: boolean;
  /** Terraform/OpenTofu: plan (and apply) a destroy (absent from older servers). */
  destroy?: boolean;
  repository: { git_url: string; git_branch: string; auth: KeyMaterial };
  inventory: { type: 'static' | 'static-yaml' | 'file' | 'terraform-workspace'; inventory: string; ssh: KeyMaterial | null; become: KeyMaterial | null } | null;
  extra_vars: Record<string, unknown>;
  env: Record<string, string>;
  secret_env: Record<string, string>;
  vault_password: string;
  max_duration_sec: number;
  /** Output kept for this task; the executor stops sending past it and reports how much it dropped (absent from older servers). */
  max_output_bytes?: number;
  /** Every secret value, so the executor can mask it in output. */
  mask: string[];
}

/** One numbered line of task output, as a runner sends it. */
export interface OutputLine { seq: number; time: string; output: string }

export interface TaskResult {
  /** `rejected`: a Terraform/OpenTofu plan was rejected, nothing was applied. */
  status: 'success' | 'error' | 'stopped' | 'rejected';
  exit_code: number | null;
  error: string;
  commit_hash: string;
  commit_message: string;
  start: string | null;
  end: string;
}

export interface ClaimedJob { task_id: number; attempt: number; payload: JobPayload }
export interface JobRef { task_id: number; attempt: number }

/** Line numbers become Redis stream ids; above this Lua would print them in exponent form. */
export const MAX_LINE_SEQ = 1e12;

export const outputLineSchema = z.object({
  seq: z.number().int().positive().max(MAX_LINE_SEQ),
  time: z.string().max(64),
  output: z.string().max(64 * 1024),
});

export const jobRefSchema = z.object({ attempt: z.number().int().positive().max(1e9) });

/**
 * Revisions of the runner protocol. A server names the one it speaks in its hello answer; a runner
 * uses a feature only when the server's revision has it, so either side may be the older one.
 * 1: the first (no `protocol` in the hello answer).
 * 2: output lines may also travel inside the start report and the result (`lines`), stored before
 *    the report takes effect, in order and under the same lease check; both answer `acked`.
 * 3: a result may ask for the runner's next job (`next`: its state once this task is done); the
 *    answer then carries one (`job`) when there is one to claim at once, so a runner kept busy by
 *    its queue needs no poll between tasks. It never waits: no job, and the runner polls as before.
 */
export const PROTOCOL_REVISION = 3;

/** Batches are bounded in bytes too: by the output routes' body limit (OUTPUT_BODY_BYTES on the server). */
const outputLinesSchema = z.array(outputLineSchema).max(5000);

export const outputBatchSchema = jobRefSchema.extend({ lines: outputLinesSchema });

export const runningSchema = jobRefSchema.extend({
  commit_hash: z.string().max(64).default(''),
  commit_message: z.string().max(4096).default(''),
  lines: outputLinesSchema.default([]),
});

/** The apps an executor can run, and `no-sandbox` when its tasks run without isolation (sandbox: none). */
export const CAPABILITIES = ['bash', 'python', 'ansible', 'terraform', 'tofu', 'powershell', 'no-sandbox'] as const;

/**
 * Heartbeats unanswered this long (a third of the lease) are late: the runner drops a beat stuck
 * that long and warns, and the server, seeing a beat that waited that long, judges no lease for a
 * lease. One figure for both sides, so the runner's warning and the server's verdicts agree.
 */
export const lateHeartbeatMs = (leaseMs: number): number => leaseMs / 3;

/** The largest `unanswered_ms` a heartbeat carries (a week): a runner clamps what it measures to it. */
export const MAX_UNANSWERED_MS = 7 * 86_400_000;

export const runnerStateSchema = z.object({
  version: z.string().max(64).default(''),
  capabilities: z.array(z.enum(CAPABILITIES)).default([]),
  active: z.array(z.object({ task_id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER), attempt: z.number().int().positive().max(1e9) })).max(1000).default([]),
  draining: z.boolean().default(false),
  /**
   * In a heartbeat: how long (ms) since the runner's last beat was answered, or since its first
   * task began. One that arrives after a third of the lease unanswered says the server or Redis is
   * behind, not the runner gone: lease verdicts wait (lease-heartbeat.lua). Older servers ignore it.
   */
  unanswered_ms: z.number().int().min(0).max(MAX_UNANSWERED_MS).optional(),
});
export type RunnerState = z.infer<typeof runnerStateSchema>;

export const resultSchema = jobRefSchema.extend({
  status: z.enum(['success', 'error', 'stopped', 'rejected']),
  exit_code: z.number().int().min(-(2 ** 31)).max(2 ** 32).nullable().default(null),
  error: z.string().max(4096).default(''),
  commit_hash: z.string().max(64).default(''),
  commit_message: z.string().max(4096).default(''),
  start: z.string().nullable().default(null),
  end: z.string().default(() => new Date().toISOString()),
  lines: outputLinesSchema.default([]),
  /** Revision 3: this runner's state once the task is done, asking for its next job in the answer. */
  next: runnerStateSchema.optional(),
});

export const helloSchema = runnerStateSchema.extend({ public_key: z.string().max(200).optional() });
export type HelloRequest = z.input<typeof helloSchema>;

/**
 * Heartbeat cadence. A runner beats every `heartbeat_ms` while any of its tasks is younger than
 * this (a stop soon after the start, and short tasks, stay snappy), and every
 * `long_task_heartbeat_ms` once all of them are older: each beat is an HTTP request, and a
 * long-running task's lease and stop need no more.
 */
export const YOUNG_TASK_MS = 10_000;

/**
 * The long-task interval a server offers: two beats' time when the lease still spans at least ten
 * such beats (30 s default: 2 s, 15 beats a lease), else one. Kept a multiple of the beat, as a
 * runner's timer ticks every `heartbeat_ms`.
 */
export function longTaskHeartbeatMs(heartbeatMs: number, leaseMs: number): number {
  return leaseMs >= 10 * 2 * heartbeatMs ? 2 * heartbeatMs : heartbeatMs;
}

/** Who the server says a runner is, and the timings it must keep. */
export interface HelloAnswer {
  id: number; name: string; tags: string[]; project_id: number | null; max_parallel_tasks: number; enabled: boolean;
  lease_sec: number; heartbeat_ms: number; long_poll_sec: number;
  /**
   * How often to beat once every task of the runner is older than YOUNG_TASK_MS (see
   * longTaskHeartbeatMs); absent from older servers: then every `heartbeat_ms`, as before.
   */
  long_task_heartbeat_ms?: number;
  /** The runner protocol revision this server speaks (PROTOCOL_REVISION); absent from servers of revision 1. */
  protocol?: number;
}

export interface RegisterAnswer { id: number; token: string }

export const registerSchema = z
  .object({
    registration_token: z.string().min(1, 'the registration token is required'),
    name: z.string().trim().min(1).max(200).default('runner'),
    tags: z.array(z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/i, 'a tag is 1-63 letters, digits, ".", "_" or "-"')).max(64).default([]),
    max_parallel_tasks: z.number().int().min(0).max(1000).default(0),
    webhook: z.string().url().or(z.literal('')).default(''),
    public_key: z.string().min(1, 'the public key is required'),
    project_id: z.number().int().positive().nullable().optional(),
    replaces_token: z.string().max(200).optional(),
  })
  .strict();

/**
 * The answer to "this plan waits for confirmation": `pending` when the long-poll ended with no
 * decision yet (ask again), else the decision someone took in the UI or API.
 */
export interface ConfirmationAnswer { decision: 'confirmed' | 'rejected' | 'pending' }

export interface HeartbeatAnswer { stop: number[]; lost: number[] }
/** The answer to the start report; `acked` (revision 2) is the highest output line number the server holds. */
export interface RunningAnswer { stop: boolean; acked?: number }
export interface ClaimAnswer { task_id: number; attempt: number; sealed_payload: string }
/** The answer to a result; `job` (revision 3) when the result asked for the next job and one was claimed. */
export interface ResultAnswer { ok: true; job?: ClaimAnswer }
