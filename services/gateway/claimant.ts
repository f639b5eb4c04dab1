import { mayServe } from '../dispatch/eligibility.js';
import type { QueueScope } from '../dispatch/queues.js';
import type { Runner } from '../store/runners.js';

/** Who claims jobs: a registered remote runner, or the server's own local worker (runner id 0). */
export interface Claimant {
  runnerId: number;
  name: string;
  runner: Runner | null;
  maxParallel: number;
  eligible(scope: QueueScope): boolean;
}

export function runnerClaimant(runner: Runner): Claimant {
  return { runnerId: runner.id, name: runner.name, runner, maxParallel: runner.max_parallel_tasks, eligible: (scope) => mayServe(runner, scope) };
}

/** The local worker serves every queue. */
export function localClaimant(maxParallel: number): Claimant {
  return { runnerId: 0, name: 'local', runner: null, maxParallel, eligible: () => true };
}
