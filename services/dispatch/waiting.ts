import type { Task } from '../common/model.js';
import type { RunnerView } from '../store/runners.js';
import type { Stores } from '../store/stores.js';
import { mayServe } from './eligibility.js';

export const projectLimitReason = (limit: number) => `the project runs its maximum of ${limit} tasks at once; it starts when one ends`;

/** Why a waiting task has not started yet, in words an operator can act on. */
export function waitingReason(task: Pick<Task, 'project_id' | 'runner_tag'>, runners: RunnerView[] | 'local', localBusy = false): string {
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

/** Rewrites the reason on waiting tasks whose reason changed. */
export async function refreshWaitingReasons(stores: Stores, mode: { local: boolean; localBusy: boolean }): Promise<void> {
  const ids = (await stores.tasks.waitingIds()).slice(0, 2000);
  if (ids.length === 0) return;
  const runners = mode.local ? 'local' : await stores.runners.views();
  const projectFull = new Map<number, string>();
  for (const project of await stores.projects.list()) {
    if (project.max_parallel_tasks > 0 && (await stores.tasks.activeCountInProject(project.id)) >= project.max_parallel_tasks) {
      projectFull.set(project.id, projectLimitReason(project.max_parallel_tasks));
    }
  }
  for (const task of await stores.tasks.getMany(ids)) {
    if (task.status !== 'waiting') continue;
    const reason = projectFull.get(task.project_id) ?? waitingReason(task, runners, mode.localBusy);
    if (reason !== task.waiting_reason) await stores.tasks.transition(task.id, { from: ['waiting'] }, { waiting_reason: reason });
  }
}
