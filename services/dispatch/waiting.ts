import type { Project, Task } from '../common/model.js';
import type { RunnerView } from '../store/runners.js';
import type { Stores } from '../store/stores.js';
import { mayServe } from './eligibility.js';
import type { TaskQueues } from './queues.js';

export const projectLimitReason = (limit: number) => `the project runs its maximum of ${limit} tasks at once; it starts when one ends`;

/** The reason a project's tasks wait when it runs as many as its `max_parallel_tasks`, else undefined. */
export async function projectFullReason(stores: Stores, project: Pick<Project, 'id' | 'max_parallel_tasks'>): Promise<string | undefined> {
  const limit = project.max_parallel_tasks;
  return limit > 0 && (await stores.tasks.activeCountInProject(project.id)) >= limit ? projectLimitReason(limit) : undefined;
}

/** Why a waiting task has not started yet, in words an operator can act on. */
export function waitingReason(task: Pick<Task, 'project_id' | 'runner_tag'>, runners: readonly RunnerView[] | 'local', localBusy = false): string {
  if (runners === 'local') return localBusy ? 'all local worker slots are busy (max_parallel_tasks); it starts when one frees' : 'queued';
  const tag = task.runner_tag;
  const fits = runners.filter((r) => mayServe(r, { project_id: task.project_id, tag }));
  const which = tag ? `runner has tag "${tag}"` : 'runner is registered';
  if (fits.length === 0) return `no ${which} for this project: add one on the Runners page or with forge runner register`;
  const enabled = fits.filter((r) => r.status !== 'disabled');
  if (enabled.length === 0) return tag ? `every runner with tag "${tag}" is disabled` : 'every runner is disabled';
  const online = enabled.filter((r) => r.status === 'online' && !r.draining);
  if (online.length === 0) return tag ? `no online runner has tag "${tag}": start one with forge runner start` : 'no runner is online: start one with forge runner start';
  const free = online.filter((r) => r.max_parallel_tasks === 0 || r.active_tasks < r.max_parallel_tasks);
  if (free.length === 0) return `all ${online.length} matching runners are busy; it starts when a slot frees`;
  return 'queued';
}

/**
 * Keeps the reason each waiting task gives up to date. A reason depends only on the task's queue
 * (its project and runner tag) and the project's limit, so a pass works out one reason per queue
 * holding waiting tasks, and reads that queue's tasks only when its reason changed since the last
 * pass here: a fleet with thousands of tasks queued costs one ZCARD per queue a pass, not a read of
 * every waiting record. Every `fullEvery` passes it reads them all, which also corrects a task
 * created with a reason worked out from runners that changed meanwhile.
 */
export class WaitingReasons {
  private readonly last = new Map<string, string>();
  private passes = 0;

  constructor(
    private readonly stores: Stores,
    private readonly queues: TaskQueues,
    private readonly fullEvery = 30,
  ) {}

  async refresh(mode: { local: boolean; localBusy: boolean }): Promise<void> {
    const full = this.passes++ % this.fullEvery === 0;
    const all = this.queues.list();
    const counts = await this.queues.waitingCounts(all.map(([name]) => name));
    const busy = all.filter((_, i) => (counts[i] ?? 0) > 0);
    const busyNames = new Set(busy.map(([name]) => name));
    for (const name of [...this.last.keys()]) if (!busyNames.has(name)) this.last.delete(name);
    if (busy.length === 0) return;
    // The views POST /tasks keeps (statuses at most 1 s old, activity as the runners report it): a
    // pass over a fleet of 1,000 runners read every runner's lease set (1,000 SMEMBERS a second).
    const runners = mode.local ? 'local' : await this.stores.runners.reportedViews();
    const limited = await this.fullProjects([...new Set(busy.map(([, scope]) => scope.project_id))]);
    for (const [name, scope] of busy) {
      const reason = limited.get(scope.project_id) ?? waitingReason({ project_id: scope.project_id, runner_tag: scope.tag }, runners, mode.localBusy);
      if (!full && this.last.get(name) === reason) continue;
      this.last.set(name, reason);
      for (const task of await this.stores.tasks.getMany(await this.queues.waitingIds(name, 2000))) {
        if (task.status === 'waiting' && task.waiting_reason !== reason) await this.stores.tasks.transition(task.id, { from: ['waiting'] }, { waiting_reason: reason });
      }
    }
  }

  /** The reason of each of these projects that runs as many tasks as it may. */
  private async fullProjects(projectIds: number[]): Promise<Map<number, string>> {
    const reasons = new Map<number, string>();
    await Promise.all(projectIds.map(async (id) => {
      const project = await this.stores.projects.get(id);
      const reason = project && (await projectFullReason(this.stores, project));
      if (reason) reasons.set(id, reason);
    }));
    return reasons;
  }
}
