import { ValidationError } from '../../protocol/validation.js';
import type { Task, Template } from '../common/model.js';
import type { Stores } from '../store/stores.js';

/** The next version after `version`: its last number goes up by one (1.0.9 → 1.0.10, v3 → v4, rc → rc.1). */
export function incrementVersion(version: string): string {
  const match = /(\d+)(\D*)$/.exec(version);
  if (!match) return `${version}.1`;
  return version.slice(0, match.index) + String(Number(match[1]) + 1) + match[2];
}

async function latestBuild(stores: Stores, templateId: number, status?: Task['status']): Promise<Task | undefined> {
  const page = await stores.tasks.list({ templateId, status: status ? [status] : undefined, limit: 200 });
  return page.tasks.find((task) => task.version);
}

/**
 * The version a new task of a build or deploy template carries. A build takes its template's
 * start_version first, then one more than the newest build task's; a deploy takes the version of the
 * build it deploys (the one given, else the build template's last successful build).
 */
export async function versionFields(stores: Stores, template: Template, buildTaskId: number | null | undefined): Promise<Pick<Task, 'version' | 'build_task_id'>> {
  if (buildTaskId && template.type !== 'deploy') throw new ValidationError('build_task_id: only tasks of deploy templates take a build');
  if (template.type === 'build') {
    const last = await latestBuild(stores, template.id);
    return { version: last?.version ? incrementVersion(last.version) : template.start_version || '1.0.0', build_task_id: null };
  }
  if (template.type === 'deploy') {
    let build: Task | undefined;
    if (buildTaskId) {
      build = await stores.tasks.get(buildTaskId);
      if (!build || build.project_id !== template.project_id || !build.version) throw new ValidationError(`build_task_id: task ${buildTaskId} is not a build of this project`);
    } else {
      if (!template.build_template_id) throw new ValidationError('build_task_id: this deploy template has no build_template_id; name the build task to deploy');
      build = await latestBuild(stores, template.build_template_id, 'success');
      if (!build) throw new ValidationError(`build_task_id: template ${template.build_template_id} has no successful build yet; run a build first`);
    }
    return { version: build.version, build_task_id: build.id };
  }
  return {};
}
