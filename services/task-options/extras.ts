import type { ChainableCommander } from 'ioredis';
import type { JobPayload } from '../../protocol/wire.js';
import { keys } from '../redis/keys.js';
import type { Stores } from '../store/stores.js';
import { emptyExtras, type TaskExtras } from './survey.js';

/** Kept until the task ends (its final move deletes them: task-transition.lua); the expiry only catches tasks that never reach the reconciler (stopped while waiting). */
const EXTRAS_TTL_SEC = 30 * 24 * 3600;

/**
 * A task's extras, encrypted at rest like every secret, added to the MULTI that stores the task
 * (the key is in the records' slot); nothing is written when there are none.
 */
/** Whether there is anything to keep apart from the record (most tasks have none). */
export function hasExtras(extras: TaskExtras): boolean {
  return Object.values(extras).some((group) => Object.keys(group).length > 0);
}

export function saveExtrasIn(multi: ChainableCommander, stores: Stores, taskId: number, extras: TaskExtras): void {
  if (!hasExtras(extras)) return;
  multi.set(keys.taskExtras(taskId), stores.secrets.encrypt(JSON.stringify(extras)), 'EX', EXTRAS_TTL_SEC);
}

export async function loadExtras(stores: Stores, taskId: number): Promise<TaskExtras> {
  return decodeExtras(stores, await stores.redis.get(keys.taskExtras(taskId)));
}

/** The extras as stored (null: none), e.g. as a claim's move read them (TaskStore.move's `read_extras`). */
export function decodeExtras(stores: Stores, stored: string | null | undefined): TaskExtras {
  return stored ? { ...emptyExtras(), ...(JSON.parse(stores.secrets.decrypt(stored)) as TaskExtras) } : emptyExtras();
}

/** Adds the extras to a job payload; secret values join the mask so the executor hides them in output. */
export function mergeExtras(payload: JobPayload, extras: TaskExtras): void {
  Object.assign(payload.env, extras.env);
  Object.assign(payload.secret_env, extras.secret_env);
  Object.assign(payload.extra_vars, extras.secret_vars);
  const secrets = [...Object.values(extras.secret_env), ...Object.values(extras.secret_vars)].filter((value) => value.length >= 3);
  payload.mask.push(...secrets);
}
