import type { QueueScope } from './queues.js';

/** What decides where a runner may take work from: its project (null: any) and its tags. */
export interface Placement { project_id: number | null; tags: string[] }

/**
 * The one rule of placement: a runner serves a queue when it belongs to the queue's project (or
 * to none) and carries the queue's tag (an untagged queue takes any runner).
 */
export function mayServe(runner: Placement, scope: QueueScope): boolean {
  return (runner.project_id === null || runner.project_id === scope.project_id) && (scope.tag === '' || runner.tags.includes(scope.tag));
}
