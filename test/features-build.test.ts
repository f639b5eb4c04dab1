/** Build and deploy templates: versions from start_version up, a deploy takes a build's version, autorun after a successful build. */
import test from 'ava';
import { cleanup, makeBareRepo, outputText, runTask, setupTemplate, startForge, waitFor, waitForTask, type Task } from './helpers/index.js';

test.after.always(cleanup);

test('build 1.0.0 starts its autorun deploy with version 1.0.0; later builds count up and a deploy can name its build', async (t) => {
  const forge = await startForge();
  const api = forge.api;
  const repo = await makeBareRepo({ 'build.sh': 'echo "building $FORGE_TASK_VERSION"\n', 'deploy.sh': 'echo "deploying $FORGE_TASK_VERSION"\n' });
  const build = await setupTemplate(api, { gitUrl: repo.path, playbook: 'build.sh', template: { name: 'build', type: 'build', start_version: '1.0.0' } });
  const deploy = await setupTemplate(api, {
    gitUrl: repo.path, playbook: 'deploy.sh', projectId: build.projectId,
    template: { name: 'deploy', type: 'deploy', build_template_id: build.templateId, autorun: true },
  });

  const first = await runTask(api, build);
  t.is(first.status, 'success');
  t.is(first.version, '1.0.0');
  t.true((await outputText(api, build.projectId, first.id)).includes('building 1.0.0'));
  const autorun = await waitFor(async () => (await api.json<Task[]>('GET', `/api/project/${build.projectId}/templates/${deploy.templateId}/tasks`))[0], 30_000, { what: 'the autorun deploy' });
  const deployed = await waitForTask(api, build.projectId, autorun.id);
  t.is(deployed.status, 'success');
  t.is(deployed.version, '1.0.0');
  t.is(deployed.build_task_id, first.id);
  t.true((await outputText(api, build.projectId, deployed.id)).includes('deploying 1.0.0'));

  const second = await runTask(api, build);
  t.is(second.version, '1.0.1');
  const manual = await runTask(api, deploy, { build_task_id: first.id });
  t.is(manual.version, '1.0.0', 'a deploy of a named build gets that build\'s version');

  const refused = await api.post(`/api/project/${build.projectId}/tasks`, { template_id: build.templateId, build_task_id: first.id });
  t.is(refused.status, 400);
  t.regex(refused.body.error, /^build_task_id: /);
});
