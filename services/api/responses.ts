import { z } from 'zod';
import { APPS, INVENTORY_TYPES, PROJECT_ROLES, TASK_STATUSES } from '../common/model.js';

/**
 * What the API answers, as zod schemas for the OpenAPI description (services/api/openapi.ts).
 * Objects are loose: Forge may add fields; the listed ones are always there.
 */
const int = z.number().int();
const ref = int.nullable();
const time = z.string();

export const errorResponse = z.object({ error: z.string() });

export const userResponse = z.looseObject({
  id: int, name: z.string(), username: z.string(), email: z.string(), created: time, alert: z.boolean(), admin: z.boolean(), external: z.boolean(),
});
export const tokenResponse = z.looseObject({ id: z.string(), created: time, expired: z.boolean(), user_id: int, name: z.string().optional() });
export const optionResponse = z.object({ key: z.string(), value: z.string() });
export const optionsResponse = z.record(z.string(), z.string());
export const projectResponse = z.looseObject({
  id: int, name: z.string(), created: time, alert: z.boolean(), alert_chat: z.string().nullable(), max_parallel_tasks: int, type: z.string(),
});
export const projectUserResponse = z.looseObject({ id: int, name: z.string(), username: z.string(), email: z.string(), role: z.enum(PROJECT_ROLES) });
export const roleResponse = z.object({ role: z.enum(PROJECT_ROLES), permissions: int });
export const keyResponse = z.looseObject({ id: int, name: z.string(), type: z.enum(['none', 'ssh', 'login_password']), project_id: int });
export const repositoryResponse = z.looseObject({ id: int, name: z.string(), project_id: int, git_url: z.string(), git_branch: z.string(), ssh_key_id: ref });
export const inventoryResponse = z.looseObject({
  id: int, name: z.string(), project_id: int, inventory: z.string(), ssh_key_id: ref, become_key_id: ref, repository_id: ref, type: z.enum(INVENTORY_TYPES),
});
export const environmentResponse = z.looseObject({
  id: int, name: z.string(), project_id: int, password: z.null(), password_set: z.boolean(), json: z.string(), env: z.string(),
  secrets: z.array(z.looseObject({ id: int, name: z.string(), type: z.enum(['env', 'var']) })),
});
export const taskResponse = z.looseObject({
  id: int, project_id: int, template_id: int, status: z.enum(TASK_STATUSES), user_id: ref, created: time, start: time.nullable(), end: time.nullable(),
  playbook: z.string(), environment: z.string(), secret: z.string(), arguments: z.string().nullable(), git_branch: z.string(), message: z.string(),
  inventory_id: ref, limit: z.string(), params: z.looseObject({}), waiting_reason: z.string(), runner_tag: z.string(),
});
export const templateResponse = z.looseObject({
  id: int, project_id: int, name: z.string(), description: z.string(), app: z.enum(APPS), playbook: z.string(), arguments: z.string().nullable(),
  repository_id: int, inventory_id: ref, environment_id: ref, environment_ids: z.array(int), view_id: ref, vault_key_id: ref, git_branch: z.string(),
  runner_tag: z.string(), working_directory: z.string().nullable(), allow_override_args_in_task: z.boolean(), suppress_success_alerts: z.boolean(),
  suppress_error_alerts: z.boolean(), type: z.enum(['', 'build', 'deploy']), start_version: z.string().nullable(), build_template_id: ref,
  autorun: z.boolean(), survey_vars: z.array(z.looseObject({ name: z.string() })), vaults: z.array(z.looseObject({})), task_params: z.looseObject({}),
  executor_image: z.string(),
});
export const templateListItem = templateResponse.extend({ last_task: taskResponse.nullable() });
export const outputLineResponse = z.object({ id: z.string(), task_id: int, time: time, output: z.string() });
export const viewResponse = z.looseObject({
  id: int, project_id: int, title: z.string(), position: int, hidden: z.boolean(), type: z.enum(['', 'all']), sort_column: z.string(), sort_reverse: z.boolean(),
});
export const hostConfigResponse = z.looseObject({ id: int, project_id: int, type: z.enum(['host', 'url']), host: z.string(), ssh_key_id: int, name: z.string() });
export const runnerResponse = z.looseObject({
  id: int, project_id: ref, name: z.string(), webhook: z.string(), max_parallel_tasks: int, active: z.boolean(), is_default: z.boolean(),
  tags: z.array(z.string()), touched: time.nullable(), cleaning_requested: z.null(), registered: z.boolean(),
  status: z.enum(['online', 'offline', 'disabled']), version: z.string(), capabilities: z.array(z.string()), active_tasks: int, draining: z.boolean(),
});
export const runnerWithTokenResponse = runnerResponse.extend({ token: z.string() });
export const runnerTagResponse = z.object({ tag: z.string(), number_of_runners: int });
export const eventResponse = z.looseObject({
  id: int, created: time, project_id: ref, user_id: ref, object_id: ref, object_type: z.string(), description: z.string(),
  username: z.string().nullable(), project_name: z.string().nullable(),
});
const named = z.looseObject({ name: z.string() });
export const backupResponse = z.object({
  meta: z.looseObject({ name: z.string(), alert: z.boolean(), alert_chat: z.string().nullable(), max_parallel_tasks: int, type: z.string().nullable() }),
  keys: z.array(named), repositories: z.array(named), inventories: z.array(named), environments: z.array(named),
  views: z.array(z.looseObject({ title: z.string(), position: int })), templates: z.array(named),
  host_configs: z.array(z.looseObject({ type: z.enum(['host', 'url']), host: z.string(), ssh_key: z.string().nullable() })),
  workflows: z.array(named),
});
export const infoResponse = z.looseObject({
  version: z.string(), ansible: z.string(), web_host: z.string(), use_remote_runner: z.boolean(), git_client: z.string(),
  schedule_timezone: z.string(), auth_methods: z.looseObject({}), features: z.looseObject({}),
});
export const loginMetadataResponse = z.looseObject({ oidc_providers: z.array(z.object({ id: z.string(), name: z.string() })) });
export const appResponse = z.looseObject({ id: z.enum(APPS), title: z.string(), active: z.boolean() });
export const dashboardResponse = z.looseObject({ generated: time, remote_runners: z.boolean(), runners: z.looseObject({}), queues: z.array(z.looseObject({})) });

// Workflows (services/workflows): Semaphore's WorkflowTemplate, WorkflowRun, WorkflowApproval, WorkflowRunDetails.
const workflowNode = z.looseObject({
  id: int, workflow_template_id: int, kind: z.enum(['task', 'approval', 'note', 'delay']), template_id: ref, convergence_mode: z.enum(['all', 'any']),
  approval_timeout: int, approval_message: z.string(), delay_seconds: ref, task_params: z.looseObject({}),
});
const workflowEdge = z.looseObject({ id: int, workflow_template_id: int, source_node_id: int, destination_node_id: int, condition: z.enum(['on_success', 'on_failure', 'always']) });
export const workflowResponse = z.looseObject({ id: int, project_id: int, name: z.string(), description: z.string(), nodes: z.array(workflowNode), edges: z.array(workflowEdge) });
export const workflowRunResponse = z.looseObject({
  id: int, project_id: int, workflow_template_id: int, status: z.enum(['running', 'approval', 'success', 'failed', 'rejected']),
  start: time, end: time.nullable(), root_task_id: ref,
});
export const workflowApprovalResponse = z.looseObject({
  id: int, project_id: int, workflow_run_id: int, workflow_node_id: int, status: z.enum(['pending', 'approved', 'rejected']),
  created: time, resolved: time.nullable(), resolved_by_user_id: ref,
});
export const workflowRunDetailsResponse = z.looseObject({
  run: workflowRunResponse,
  nodes: z.array(z.looseObject({
    node: workflowNode, task: taskResponse.nullable(), approval: workflowApprovalResponse.nullable(),
    state: z.enum(['pending', 'starting', 'running', 'waiting', 'success', 'failed', 'rejected', 'skipped']), error: z.string(),
    due_at: time.nullable(),
  })),
});
export const workflowArtifactsResponse = z.record(z.string(), z.looseObject({
  node_id: int, template_id: int, task_id: int, status: z.enum(TASK_STATUSES), output: z.string(), raw_output: z.string(),
}));

// Schedules, integrations and runner registration (Semaphore's Schedule, Integration*, RunnerRegistrationToken).
const taskParams = z.looseObject({});
export const scheduleResponse = z.looseObject({
  id: int, cron_format: z.string(), project_id: int, template_id: int, name: z.string(), active: z.boolean(),
  run_at: z.string().nullable(), type: z.enum(['', 'run_at']), task_params: taskParams, timezone: z.string(), next_run: z.string().nullable().optional(),
});
export const integrationResponse = z.looseObject({
  id: int, name: z.string(), project_id: int, template_id: int, auth_method: z.string(), auth_secret_id: ref, auth_header: z.string(),
  searchable: z.boolean(), task_params: taskParams,
});
export const matcherResponse = z.looseObject({
  id: int, integration_id: int, name: z.string(), match_type: z.enum(['body', 'header']), method: z.enum(['equals', 'unequals', 'contains']),
  body_data_type: z.string(), key: z.string(), value: z.string(),
});
export const extractValueResponse = z.looseObject({
  id: int, integration_id: int, name: z.string(), value_source: z.enum(['body', 'header']), body_data_type: z.string(), key: z.string(),
  variable: z.string(), variable_type: z.enum(['environment', 'task']),
});
export const aliasResponse = z.looseObject({ id: int, url: z.string() });
export const registrationTokenResponse = z.object({ registration_token: z.string(), runner_id: int, project_id: ref, expires: time });
