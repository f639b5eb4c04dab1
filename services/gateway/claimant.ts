import { mayServe } from '../dispatch/eligibility.js';
import type { QueueScope } from '../dispatch/queues.js';
import type { Runner } from '../store/runners.js';

/** Who claims jobs: a registered remote runner, or the server's own local worker (runner id 0). */
export interface Claimant {
  runnerId: number;
  name: string;
  runner: Runner | null;
  maxParallel: number;
  /**
   * How many tasks the claimant said it runs when it asked for work (a runner's poll reports them),
   * if it said: a parked poll with a free slot by its own report needs no slot count from Redis
   * until there is work to claim (the claim itself always counts).
   */
  reportedActive?: number;
  eligible(scope: QueueScope): boolean;
}

export function runnerClaimant(runner: Runner, reportedActive?: number): Claimant {
  return { runnerId: runner.id, name: runner.name, runner, maxParallel: runner.max_parallel_tasks, reportedActive, eligible: (scope) => mayServe(runner, scope) };
}

/** The local worker serves every queue. */
export function localClaimant(maxParallel: number): Claimant {
  return { runnerId: 0, name: 'local', runner: null, maxParallel, eligible: () => true };
}
