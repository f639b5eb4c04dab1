/** At most this many runs remembered; the oldest go first (a forgotten run only costs a lease check again). */
const MAX_RUNS = 20_000;

/**
 * The runs (runner, task, attempt) whose start report this server process accepted. Such a run
 * stays its runner's for good: a started attempt is never requeued (a lost one ends as "runner
 * lost"), so its later lines are always that run's own and need no lease check of their own;
 * its result's lease check is part of the final move. Per process, so another replica simply
 * checks the lease as before.
 */
export class StartedRuns {
  private readonly runs = new Set<string>();

  add(runnerId: number, taskId: number, attempt: number): void {
    const key = `${runnerId}:${taskId}:${attempt}`;
    if (this.runs.has(key)) return;
    if (this.runs.size >= MAX_RUNS) this.runs.delete(this.runs.values().next().value!);
    this.runs.add(key);
  }

  has(runnerId: number, taskId: number, attempt: number): boolean {
    return this.runs.has(`${runnerId}:${taskId}:${attempt}`);
  }

  delete(runnerId: number, taskId: number, attempt: number): void {
    this.runs.delete(`${runnerId}:${taskId}:${attempt}`);
  }
}
