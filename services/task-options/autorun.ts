import { logger } from '../../protocol/log.js';
import { taskInput, type Task } from '../common/model.js';
import type { AppContext } from '../context.js';
import { createTask } from '../dispatch/tasks.js';

const log = logger('autorun');

/** A successful build starts every deploy template of its project that names it with `autorun`, deploying its version. */
export async function autorunDeploys(ctx: AppContext, task: Task): Promise<void> {
  if (task.status !== 'success' || !task.version || task.build_task_id) return;
  const project = await ctx.stores.projects.get(task.project_id);
  if (!project) return;
  const deploys = (await ctx.stores.templates(project.id).list()).filter((t) => t.type === 'deploy' && t.autorun && t.build_template_id === task.template_id);
  for (const template of deploys) {
    try {
      const deploy = await createTask(ctx, project, template, taskInput.parse({ template_id: template.id, build_task_id: task.id, message: `autorun after build ${task.version} (task ${task.id})` }), null);
      log.info('deploy started after a successful build', { build_task_id: task.id, task_id: deploy.id, version: task.version });
    } catch (err) {
      log.warn('autorun deploy could not start', { build_task_id: task.id, template_id: template.id, error: (err as Error).message });
    }
  }
}
