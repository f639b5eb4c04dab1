import { useState } from 'preact/hooks';
import { get } from '../api';
import { ResourceForm } from '../resource';
import type { AccessKey, Environment, Inventory, Project, Repository, Template } from '../types';
import { Dialog, ErrorBox, Loading, useAsync } from '../ui';
import { TaskHistory } from './history';
import type { Lookups } from './projects';
import { playbookLabel, RunDialog, templateSpec } from './templates';

export function TemplatePage({ projectId, templateId }: { projectId: number; templateId: number }) {
  const base = `/api/project/${projectId}`;
  const data = useAsync(async () => {
    const [project, template, keys, repositories, inventories, environments] = await Promise.all([
      get<Project>(base), get<Template>(`${base}/templates/${templateId}`), get<AccessKey[]>(`${base}/keys`),
      get<Repository[]>(`${base}/repositories`), get<Inventory[]>(`${base}/inventory`), get<Environment[]>(`${base}/environment`),
    ]);
    return { project, template, lookups: { keys, repositories, inventories, environments } as Lookups };
  }, [projectId, templateId]);
  const [running, setRunning] = useState(false);
  const [editing, setEditing] = useState(false);

  if (data.error) return <ErrorBox error={data.error} title="Could not open the template" />;
  if (!data.data) return <Loading what="Loading the template" />;
  const { project, template: t, lookups } = data.data;
  const repo = lookups.repositories.find((r) => r.id === t.repository_id);
  const spec = templateSpec(projectId, lookups, () => undefined);
  return (
    <div>
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href="/projects">Projects</a> <span aria-hidden="true">/</span> <a href={`/project/${projectId}/templates`}>{project.name}</a> <span aria-hidden="true">/</span> <span>{t.name}</span>
      </nav>
      <div class="page-head">
        <h1>{t.name}</h1>
        <div class="head-actions">
          <button type="button" onClick={() => setEditing(true)}>Edit</button>
          <button type="button" class="primary" onClick={() => setRunning(true)}>Run</button>
        </div>
      </div>
      {t.description && <p>{t.description}</p>}
      <dl class="facts">
        <div><dt>App</dt><dd>{t.app}</dd></div>
        <div><dt>{playbookLabel(t.app)}</dt><dd><code>{t.playbook || '.'}</code></dd></div>
        <div><dt>Repository</dt><dd>{repo ? <>{repo.name} <code class="url">{repo.git_url}</code></> : `#${t.repository_id}`}</dd></div>
        <div><dt>Branch</dt><dd>{t.git_branch || repo?.git_branch || <span class="muted">default</span>}</dd></div>
        <div><dt>Arguments</dt><dd>{t.arguments && t.arguments !== '[]' ? <code>{t.arguments}</code> : <span class="muted">none</span>}</dd></div>
        <div><dt>Runner tag</dt><dd>{t.runner_tag ? <span class="tag">{t.runner_tag}</span> : <span class="muted">any runner</span>}</dd></div>
      </dl>
      <TaskHistory projectId={projectId} templateId={templateId} />
      <RunDialog template={running ? t : null} onClose={() => setRunning(false)} />
      <Dialog open={editing} title="Edit template" onClose={() => setEditing(false)} wide>
        {editing && <ResourceForm spec={spec} editing={t} onCancel={() => setEditing(false)} onDone={(saved) => { setEditing(false); data.update({ ...data.data!, template: saved }); }} />}
      </Dialog>
    </div>
  );
}
