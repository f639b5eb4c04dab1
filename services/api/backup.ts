import type { Request } from 'express';
import { z } from 'zod';
import { describeZodError } from '../../protocol/validation.js';
import { APPS, INVENTORY_TYPES, hostConfigInput, surveyVar, type Project } from '../common/model.js';
import type { AppContext } from '../context.js';
import { workflowInput } from '../workflows/model.js';
import { createWorkflow, workflowsOf } from '../workflows/store.js';
import { HttpError } from './http.js';
import { parseInput } from './input.js';

/**
 * Semaphore's project backup: the project's records with references by name instead of id, and
 * no secrets (keys come back with their type only; set their secrets again after a restore).
 * Forge adds the project's host configs (their key by name) and workflows (templates by name).
 */
export async function backupProject(ctx: AppContext, project: Project) {
  const s = ctx.stores;
  const pid = project.id;
  const [keys, repositories, inventories, environments, templates, views, hostConfigs, workflows] = await Promise.all([
    s.accessKeys(pid).list(), s.repositories(pid).list(), s.inventories(pid).list(), s.environments(pid).list(), s.templates(pid).list(), s.views(pid).list(),
    s.hostConfigs(pid).list(), workflowsOf(ctx.redis, pid).list(),
  ]);
  const nameOf = <T extends { id: number }>(list: T[], name: (r: T) => string) => (id: number | null | undefined) => {
    const found = id ? list.find((r) => r.id === id) : undefined;
    return found ? name(found) : null;
  };
  const keyName = nameOf(keys, (k) => k.name);
  return {
    meta: { name: project.name, alert: project.alert ?? false, alert_chat: project.alert_chat ?? null, max_parallel_tasks: project.max_parallel_tasks, type: project.type || null },
    keys: keys.map((k) => ({ name: k.name, type: k.type })),
    repositories: repositories.map((r) => ({ name: r.name, git_url: r.git_url, git_branch: r.git_branch, ssh_key: keyName(r.ssh_key_id) })),
    inventories: inventories.map((i) => ({
      name: i.name, inventory: i.inventory, type: i.type, ssh_key: keyName(i.ssh_key_id), become_key: keyName(i.become_key_id),
      repository: nameOf(repositories, (r) => r.name)(i.repository_id),
    })),
    environments: environments.map((e) => ({ name: e.name, password: null, json: e.json, env: e.env })),
    views: views.map((v) => ({ title: v.title, position: v.position })),
    templates: templates.map((t) => ({
      name: t.name, description: t.description, app: t.app, playbook: t.playbook, arguments: t.arguments, git_branch: t.git_branch,
      runner_tag: t.runner_tag, auto_approve: t.auto_approve, allow_override_args_in_task: t.allow_override_args_in_task,
      allow_override_branch_in_task: t.allow_override_branch_in_task ?? false,
      repository: nameOf(repositories, (r) => r.name)(t.repository_id), inventory: nameOf(inventories, (i) => i.name)(t.inventory_id),
      environment: nameOf(environments, (e) => e.name)(t.environment_id), vault_key: keyName(t.vault_key_id),
      view: nameOf(views, (v) => v.title)(t.view_id), build_template: nameOf(templates, (x) => x.name)(t.build_template_id),
      type: t.type ?? '', start_version: t.start_version ?? null, autorun: t.autorun ?? false, survey_vars: t.survey_vars ?? [],
      suppress_success_alerts: t.suppress_success_alerts ?? false, suppress_error_alerts: t.suppress_error_alerts ?? false,
      working_directory: t.working_directory ?? null,
    })),
    // Forge's additions (Semaphore's backups have neither; a restore takes backups without them).
    host_configs: hostConfigs.map((h) => ({ type: h.type, host: h.host, ssh_key: keyName(h.ssh_key_id) })),
    workflows: workflows.map((w) => ({
      name: w.name, description: w.description,
      nodes: w.nodes.map(({ workflow_template_id: _w, template_id, ...node }) => ({ ...node, template: nameOf(templates, (x) => x.name)(template_id) })),
      edges: w.edges.map(({ workflow_template_id: _w, ...edge }) => edge),
    })),
  };
}

const ref = z.string().nullable().optional();
const backupInput = z.object({
  meta: z.object({
    name: z.string().trim().min(1, 'must not be empty').max(200),
    alert: z.boolean().nullable().optional(), alert_chat: z.string().nullable().optional(),
    max_parallel_tasks: z.number().int().min(0).max(1000).nullable().optional(), type: z.string().nullable().optional(),
  }),
  keys: z.array(z.object({ name: z.string().min(1), type: z.enum(['none', 'ssh', 'login_password']) })).nullable().default([]),
  repositories: z.array(z.object({ name: z.string().min(1), git_url: z.string().min(1), git_branch: z.string().nullable().optional(), ssh_key: ref })).nullable().default([]),
  inventories: z.array(z.object({
    name: z.string().min(1), inventory: z.string().nullable().optional(), type: z.enum(INVENTORY_TYPES).default('static'),
    ssh_key: ref, become_key: ref, repository: ref,
  })).nullable().default([]),
  environments: z.array(z.object({ name: z.string().min(1), json: z.string().nullable().optional(), env: z.string().nullable().optional() })).nullable().default([]),
  views: z.array(z.object({ title: z.string().min(1), position: z.number().int().min(0).nullable().optional() })).nullable().default([]),
  templates: z.array(z.object({
    name: z.string().min(1), description: z.string().nullable().optional(), app: z.enum(APPS).nullable().optional(), playbook: z.string().nullable().optional(),
    arguments: z.string().nullable().optional(), git_branch: z.string().nullable().optional(), runner_tag: z.string().nullable().optional(),
    auto_approve: z.boolean().nullable().optional(), allow_override_args_in_task: z.boolean().nullable().optional(),
    allow_override_branch_in_task: z.boolean().nullable().optional(),
    repository: z.string().min(1, 'a template needs its repository'), inventory: ref, environment: ref, vault_key: ref, view: ref, build_template: ref,
    type: z.enum(['', 'build', 'deploy']).nullable().optional(), start_version: z.string().nullable().optional(), autorun: z.boolean().nullable().optional(),
    survey_vars: z.array(surveyVar).nullable().optional(),
    suppress_success_alerts: z.boolean().nullable().optional(), suppress_error_alerts: z.boolean().nullable().optional(),
    working_directory: z.string().nullable().optional(),
  })).nullable().default([]),
  host_configs: z.array(z.object({ type: z.string(), host: z.string(), ssh_key: z.string().min(1, 'a host config needs its ssh key') })).nullable().default([]),
  /** Each workflow as POST /workflows takes it, with `template` (a template's name) in place of `template_id`; checked as a graph below. */
  workflows: z.array(z.object({
    name: z.string(), nodes: z.array(z.looseObject({ template: ref })), edges: z.array(z.looseObject({})).nullable().optional(),
  }).loose()).nullable().default([]),
});

/** A backup's workflow as POST /workflows takes it, its template names turned into ids. */
const workflowBody = ({ nodes, ...workflow }: { nodes: Array<{ template?: string | null }> }, templateId: (name: string | null | undefined) => number | null) => ({
  ...workflow, nodes: nodes.map(({ template, ...node }) => ({ ...node, template_id: templateId(template) })),
});

/** Creates a new project from a backup; the caller becomes its owner. */
export async function restoreProject(ctx: AppContext, req: Request): Promise<Project> {
  const backup = parseInput(backupInput, req);
  const s = ctx.stores;
  // Resolve every reference before writing anything, so a bad backup creates nothing.
  const names = (list: Array<{ name?: string; title?: string }> | null) => new Set((list ?? []).map((x) => x.name ?? x.title));
  const known = { key: names(backup.keys), repository: names(backup.repositories), inventory: names(backup.inventories), environment: names(backup.environments), view: names(backup.views), template: names(backup.templates) };
  const check = (kind: keyof typeof known, name: string | null | undefined, where: string) => {
    if (name && name !== 'None' && !known[kind].has(name)) throw new HttpError(400, `${where}: no ${kind} named "${name}" in this backup`);
  };
  for (const [i, r] of (backup.repositories ?? []).entries()) check('key', r.ssh_key, `repositories.${i}.ssh_key`);
  for (const [i, inv] of (backup.inventories ?? []).entries()) {
    check('key', inv.ssh_key, `inventories.${i}.ssh_key`);
    check('key', inv.become_key, `inventories.${i}.become_key`);
    check('repository', inv.repository, `inventories.${i}.repository`);
  }
  for (const [i, t] of (backup.templates ?? []).entries()) {
    check('repository', t.repository, `templates.${i}.repository`);
    check('inventory', t.inventory, `templates.${i}.inventory`);
    check('environment', t.environment, `templates.${i}.environment`);
    check('key', t.vault_key, `templates.${i}.vault_key`);
    check('view', t.view, `templates.${i}.view`);
    check('template', t.build_template, `templates.${i}.build_template`);
  }
  for (const [i, h] of (backup.host_configs ?? []).entries()) {
    check('key', h.ssh_key, `host_configs.${i}.ssh_key`);
    const key = backup.keys?.find((k) => k.name === h.ssh_key);
    if (key?.type !== 'ssh') throw new HttpError(400, `host_configs.${i}.ssh_key: key "${h.ssh_key}" is a "${key?.type}" key; a host config needs an ssh key`);
    const valid = hostConfigInput.safeParse({ type: h.type, host: h.host, ssh_key_id: 1 });
    if (!valid.success) throw new HttpError(400, describeZodError(valid.error, `host_configs.${i}`));
  }
  // Workflows are checked as graphs against the backup's templates (by position, as their ids do not exist yet).
  const templatePlace = (name: string | null | undefined) => (name ? (backup.templates ?? []).findIndex((t) => t.name === name) + 1 || null : null);
  for (const [i, w] of (backup.workflows ?? []).entries()) {
    for (const [j, node] of w.nodes.entries()) check('template', node.template, `workflows.${i}.nodes.${j}.template`);
    const valid = workflowInput(new Set((backup.templates ?? []).map((_, place) => place + 1))).safeParse(workflowBody(w, templatePlace));
    if (!valid.success) throw new HttpError(400, describeZodError(valid.error, `workflows.${i}`));
  }

  const meta = backup.meta;
  const project = await s.projects.create({
    name: meta.name, created: new Date().toISOString(), max_parallel_tasks: meta.max_parallel_tasks ?? 0, alert: meta.alert ?? false,
    alert_chat: meta.alert_chat ?? null, type: meta.type ?? '', members: [req.user!.id], roles: { [req.user!.id]: 'owner' },
  });
  const pid = project.id;
  const ids = (pairs: Array<[string, number]>) => {
    const map = new Map(pairs);
    return (name: string | null | undefined) => (name ? (map.get(name) ?? null) : null);
  };
  const keyId = ids(await Promise.all((backup.keys ?? []).map(async (k) => [k.name, (await s.accessKeys(pid).create({ project_id: pid, name: k.name, type: k.type, secret: '' })).id] as [string, number])));
  const repoId = ids(await Promise.all((backup.repositories ?? []).map(async (r) => [r.name, (await s.repositories(pid).create({
    project_id: pid, name: r.name, git_url: r.git_url, git_branch: r.git_branch ?? '', ssh_key_id: keyId(r.ssh_key),
  })).id] as [string, number])));
  const inventoryId = ids(await Promise.all((backup.inventories ?? []).map(async (i) => [i.name, (await s.inventories(pid).create({
    project_id: pid, name: i.name, type: i.type, inventory: i.inventory ?? '', ssh_key_id: keyId(i.ssh_key), become_key_id: keyId(i.become_key), repository_id: repoId(i.repository),
  })).id] as [string, number])));
  const environmentId = ids(await Promise.all((backup.environments ?? []).map(async (e) => [e.name, (await s.environments(pid).create({
    project_id: pid, name: e.name, json: e.json || '{}', env: e.env || '{}', password: '', secrets: [],
  })).id] as [string, number])));
  const viewId = ids(await Promise.all((backup.views ?? []).map(async (v) => [v.title, (await s.views(pid).create({
    project_id: pid, title: v.title, position: v.position ?? 0, hidden: false, type: '', sort_column: '', sort_reverse: false,
  })).id] as [string, number])));
  const created: Array<[string, number, string | null | undefined]> = [];
  for (const t of backup.templates ?? []) {
    const template = await s.templates(pid).create({
      project_id: pid, name: t.name, description: t.description ?? '', app: t.app ?? 'ansible', playbook: t.playbook ?? '', arguments: t.arguments ?? null,
      repository_id: repoId(t.repository)!, inventory_id: inventoryId(t.inventory), environment_id: environmentId(t.environment), git_branch: t.git_branch ?? '',
      runner_tag: t.runner_tag ?? '', vault_key_id: keyId(t.vault_key), allow_override_args_in_task: t.allow_override_args_in_task ?? false,
      auto_approve: t.auto_approve ?? true, allow_override_branch_in_task: t.allow_override_branch_in_task ?? false, view_id: viewId(t.view),
      type: t.type ?? '', start_version: t.start_version ?? null, autorun: t.autorun ?? false, build_template_id: null,
      survey_vars: t.survey_vars ?? [], suppress_success_alerts: t.suppress_success_alerts ?? false,
      suppress_error_alerts: t.suppress_error_alerts ?? false, working_directory: t.working_directory ?? null,
    });
    created.push([t.name, template.id, t.build_template]);
  }
  const templateId = ids(created.map(([name, id]) => [name, id]));
  for (const [, id, buildTemplate] of created) if (buildTemplate) await s.templates(pid).update(id, { build_template_id: templateId(buildTemplate) });
  for (const h of backup.host_configs ?? []) {
    const { type, host } = hostConfigInput.parse({ type: h.type, host: h.host, ssh_key_id: 1 });
    await s.hostConfigs(pid).create({ project_id: pid, type, host, ssh_key_id: keyId(h.ssh_key)! });
  }
  const templateIds = new Set(created.map(([, id]) => id));
  for (const w of backup.workflows ?? []) await createWorkflow(ctx.redis, pid, workflowInput(templateIds).parse(workflowBody(w, templateId)));
  return project;
}
