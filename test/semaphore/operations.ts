/**
 * The operations of Semaphore's API description (api-docs.yml, version 2.16.14: 132 operations),
 * as compact data for the table-driven compatibility test: method, path (Semaphore's, with its
 * path parameters), the success status the document gives, the response fields it names, and a
 * request body built from the document's examples (placeholders such as "{project_id}" are
 * filled with real ids; a password is added where the document gives none and Forge needs one).
 *
 * `forge: 'yes'`: implemented, checked by the test (all 132 are).
 */

export type Support = 'yes';

export interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  status: number;
  /** Field names of the response object, or of each item when `array`. */
  fields?: readonly string[];
  array?: boolean;
  body?: unknown;
  forge: Support;
}

const USER = ['id', 'name', 'username', 'email', 'created', 'alert', 'admin', 'external'] as const;
const PROJECT = ['id', 'name', 'created', 'alert', 'alert_chat', 'max_parallel_tasks', 'type'] as const;
const TOKEN = ['id', 'created', 'expired', 'user_id', 'name'] as const;
const EVENT = ['project_id', 'user_id', 'object_id', 'object_type', 'description'] as const;
const KEY = ['id', 'name', 'type', 'project_id'] as const;
const REPOSITORY = ['id', 'name', 'project_id', 'git_url', 'git_branch', 'ssh_key_id'] as const;
const INVENTORY = ['id', 'name', 'project_id', 'inventory', 'ssh_key_id', 'become_key_id', 'repository_id', 'type'] as const;
const ENVIRONMENT = ['id', 'name', 'project_id', 'password', 'json', 'env', 'secrets'] as const;
const TEMPLATE = [
  'id', 'project_id', 'inventory_id', 'repository_id', 'environment_id', 'environment_ids', 'view_id', 'name', 'playbook', 'working_directory',
  'arguments', 'description', 'allow_override_args_in_task', 'suppress_success_alerts', 'suppress_error_alerts', 'app', 'git_branch', 'type',
  'start_version', 'build_template_id', 'autorun', 'survey_vars', 'vaults', 'task_params', 'executor_image',
] as const;
const TASK = ['id', 'template_id', 'status', 'playbook', 'environment', 'secret', 'arguments', 'git_branch', 'message', 'inventory_id', 'params', 'limit'] as const;
const HOST_CONFIG = ['id', 'project_id', 'type', 'host', 'ssh_key_id'] as const;
const VIEW = ['id', 'title', 'project_id', 'position', 'hidden', 'type', 'sort_column', 'sort_reverse'] as const;
const RUNNER = ['id', 'project_id', 'name', 'webhook', 'max_parallel_tasks', 'active', 'is_default', 'tags', 'touched', 'cleaning_requested', 'registered'] as const;
const RUNNER_TAG = ['tag', 'number_of_runners'] as const;
const WORKFLOW = ['id', 'project_id', 'name', 'description', 'nodes', 'edges'] as const;
const WORKFLOW_RUN = ['id', 'project_id', 'workflow_template_id', 'status', 'start', 'end', 'root_task_id'] as const;
const WORKFLOW_APPROVAL = ['id', 'project_id', 'workflow_run_id', 'workflow_node_id', 'status', 'created', 'resolved', 'resolved_by_user_id'] as const;
const INTEGRATION = ['id', 'name', 'project_id', 'template_id', 'auth_method', 'auth_secret_id', 'auth_header', 'searchable', 'task_params'] as const;
const EXTRACT_VALUE = ['id', 'name', 'value_source', 'body_data_type', 'key', 'variable', 'variable_type', 'integration_id'] as const;
const MATCHER = ['id', 'integration_id', 'name', 'match_type', 'method', 'body_data_type', 'key', 'value'] as const;
const ALIAS = ['id', 'url'] as const;
const SCHEDULE = ['id', 'cron_format', 'project_id', 'template_id', 'name', 'active', 'run_at', 'type', 'task_params'] as const;
const REGISTRATION_TOKEN = ['registration_token', 'runner_id', 'project_id'] as const;
const BACKUP = ['meta', 'templates', 'repositories', 'keys', 'views', 'inventories', 'environments'] as const;

const P = '/project/{project_id}';

/** Request bodies from the document's examples. */
export const BODIES = {
  user: { name: 'Integration Test User', username: 'test-user', email: 'test@ansiblesemaphore.test', password: 'test-user-password', alert: false, admin: false, external: false },
  userPut: { name: 'Integration Test User2', username: 'test-user2', email: 'test2@ansiblesemaphore.test', alert: false, admin: false },
  project: { name: 'Test', alert: true, alert_chat: 'Test', max_parallel_tasks: 0, type: '', demo: false },
  key: { id: null, name: 'None', type: 'none', project_id: '{project_id}', override_secret: false, login_password: { password: 'password', login: 'username' } },
  repository: { name: 'Test', project_id: '{project_id}', git_url: 'git@example.com', git_branch: 'master', ssh_key_id: '{key_id}' },
  inventory: { name: 'Test', project_id: '{project_id}', inventory: '', ssh_key_id: '{key_id}', become_key_id: '{key_id}', type: 'static' },
  environment: { name: 'Test', project_id: '{project_id}', password: null, json: '{}', env: '{}', secrets: [{ name: 'Test', secret: 'value', type: 'env', operation: 'create' }] },
  template: {
    project_id: '{project_id}', inventory_id: '{inventory_id}', repository_id: '{repository_id}', environment_id: '{environment_id}', view_id: '{view_id}',
    name: 'Test', playbook: 'test.yml', working_directory: '.', arguments: '[]', description: 'Hello, World!', allow_override_args_in_task: false, limit: '',
    suppress_success_alerts: false, suppress_error_alerts: false, app: 'ansible', git_branch: 'main', survey_vars: [], type: '', start_version: null, autorun: false,
    vaults: [], task_params: {},
  },
  integration: { name: 'deploy', project_id: '{project_id}', template_id: '{template_id}', auth_method: 'none', auth_secret_id: null, auth_header: '', searchable: false, task_params: {} },
  values: { name: 'extract this value', value_source: 'body', body_data_type: 'json', key: 'key', variable: 'variable', variable_type: 'environment' },
  matchers: { name: 'deploy', match_type: 'body', method: 'equals', body_data_type: 'json', key: 'key', value: 'value' },
  schedule: { cron_format: '* * * 1 *', project_id: '{project_id}', template_id: '{template_id}', name: 'Test', active: true, type: '', task_params: {} },
  view: { title: 'Test', project_id: '{project_id}', position: 1 },
  hostConfig: { project_id: '{project_id}', type: 'host', host: 'github.com', ssh_key_id: '{ssh_key_id}' },
  task: { template_id: '{template_id}', debug: false, dry_run: false, diff: false, playbook: '', environment: '', limit: '', git_branch: '', message: '', arguments: '[]' },
  workflow: {
    project_id: '{project_id}', name: 'Test', description: 'Approve, then run',
    nodes: [
      { id: 1, kind: 'approval', template_id: null, convergence_mode: 'all', approval_timeout: 0, approval_message: 'Go ahead?' },
      { id: 2, kind: 'task', template_id: '{quick_template_id}', convergence_mode: 'all', task_params: { message: 'from a workflow' } },
    ],
    edges: [{ source_node_id: 1, destination_node_id: 2, condition: 'on_success' }],
  },
  runner: { name: 'runner', webhook: '', max_parallel_tasks: 1, active: true, tags: ['linux'] },
  backup: {
    meta: { name: 'homelab', alert: true, alert_chat: 'Test', max_parallel_tasks: 0, type: null },
    templates: [{
      inventory: 'Build', repository: 'Demo', environment: 'Empty', name: 'Build', playbook: 'build.yml', app: 'ansible', working_directory: '.', arguments: '[]',
      allow_override_args_in_task: false, description: 'Build Job', vault_key: null, type: 'build', start_version: '1.0.0', build_template: null, view: 'Build',
      autorun: false, survey_vars: [], suppress_success_alerts: false, suppress_error_alerts: false, cron: '* * * * *',
    }],
    repositories: [{ name: 'Demo', git_url: 'https://github.com/semaphoreui/semaphore-demo.git', git_branch: 'main', ssh_key: 'None' }],
    keys: [{ name: 'None', type: 'none' }, { name: 'Vault Password', type: 'login_password' }],
    views: [{ title: 'Build', position: 0 }],
    inventories: [
      { name: 'Build', inventory: '', ssh_key: 'None', become_key: 'None', type: 'static' },
      { name: 'Dev', inventory: '', ssh_key: 'None', become_key: 'None', type: 'file' },
    ],
    environments: [{ name: 'Empty', password: null, json: '{}', env: null }],
  },
};

const crud = (path: string, fields: readonly string[], body: unknown, forge: Support = 'yes', get = true): Operation[] => [
  { method: 'GET', path, status: 200, fields, array: true, forge },
  { method: 'POST', path, status: 201, fields, body, forge },
  ...(get ? [{ method: 'GET' as const, path: `${path}/{id}`, status: 200, fields, forge }] : []),
  { method: 'PUT', path: `${path}/{id}`, status: 204, body, forge },
  { method: 'DELETE', path: `${path}/{id}`, status: 204, forge },
];

export const OPERATIONS: Operation[] = [
  { method: 'GET', path: '/ping', status: 200, forge: 'yes' },
  // A WebSocket upgrade (101), checked by test/server-websocket.test.ts with a real client rather than by this table.
  { method: 'GET', path: '/ws', status: 101, forge: 'yes' },
  { method: 'GET', path: '/info', status: 200, fields: ['version', 'ansible', 'web_host', 'use_remote_runner', 'auth_methods', 'git_client', 'schedule_timezone', 'features'], forge: 'yes' },
  { method: 'GET', path: '/auth/login', status: 200, fields: ['oidc_providers'], forge: 'yes' },
  { method: 'POST', path: '/auth/login', status: 204, body: { auth: '{admin_login}', password: '{admin_password}' }, forge: 'yes' },
  { method: 'POST', path: '/auth/logout', status: 204, forge: 'yes' },
  // The redirect is the callback a browser makes after the provider: the test walks a real provider to it.
  { method: 'GET', path: '/auth/oidc/{provider_id}/login', status: 302, forge: 'yes' },
  { method: 'GET', path: '/auth/oidc/{provider_id}/redirect', status: 302, forge: 'yes' },
  { method: 'GET', path: '/user/', status: 200, fields: USER, forge: 'yes' },
  { method: 'GET', path: '/user/tokens', status: 200, fields: TOKEN, array: true, forge: 'yes' },
  { method: 'POST', path: '/user/tokens', status: 201, fields: TOKEN, body: { name: 'my CI token' }, forge: 'yes' },
  { method: 'DELETE', path: '/user/tokens/{api_token_id}', status: 204, forge: 'yes' },
  { method: 'GET', path: '/user/options', status: 200, forge: 'yes' },
  { method: 'POST', path: '/user/options', status: 200, fields: ['key', 'value'], body: { key: 'nav.unpinnedItems', value: '["dashboard","history"]' }, forge: 'yes' },
  { method: 'GET', path: '/users', status: 200, fields: USER, array: true, forge: 'yes' },
  { method: 'POST', path: '/users', status: 201, fields: USER, body: BODIES.user, forge: 'yes' },
  { method: 'GET', path: '/users/{user_id}/', status: 200, fields: USER, forge: 'yes' },
  { method: 'PUT', path: '/users/{user_id}/', status: 204, body: BODIES.userPut, forge: 'yes' },
  { method: 'DELETE', path: '/users/{user_id}/', status: 204, forge: 'yes' },
  { method: 'POST', path: '/users/{user_id}/password', status: 204, body: { password: 'a-new-password-1' }, forge: 'yes' },
  { method: 'GET', path: '/projects', status: 200, fields: PROJECT, array: true, forge: 'yes' },
  { method: 'POST', path: '/projects', status: 201, fields: PROJECT, body: BODIES.project, forge: 'yes' },
  { method: 'POST', path: '/projects/restore', status: 200, fields: PROJECT, body: BODIES.backup, forge: 'yes' },
  { method: 'GET', path: '/events', status: 200, fields: EVENT, array: true, forge: 'yes' },
  { method: 'GET', path: '/events/last', status: 200, fields: EVENT, array: true, forge: 'yes' },
  { method: 'GET', path: `${P}/`, status: 200, fields: PROJECT, forge: 'yes' },
  { method: 'PUT', path: `${P}/`, status: 204, body: { ...BODIES.project, id: '{project_id}' }, forge: 'yes' },
  { method: 'DELETE', path: `${P}/`, status: 204, forge: 'yes' },
  { method: 'GET', path: `${P}/backup`, status: 200, fields: BACKUP, forge: 'yes' },
  { method: 'GET', path: `${P}/role`, status: 200, fields: ['role', 'permissions'], forge: 'yes' },
  { method: 'GET', path: `${P}/events`, status: 200, fields: EVENT, array: true, forge: 'yes' },
  { method: 'GET', path: `${P}/users?sort=email&order=desc`, status: 200, fields: ['id', 'name', 'username', 'role'], array: true, forge: 'yes' },
  { method: 'POST', path: `${P}/users`, status: 204, body: { user_id: '{user_id}', role: 'owner' }, forge: 'yes' },
  { method: 'DELETE', path: `${P}/users/{user_id}`, status: 204, forge: 'yes' },
  { method: 'PUT', path: `${P}/users/{user_id}`, status: 204, body: { role: 'owner' }, forge: 'yes' },
  // Integrations (19 operations). Creates come before the reads that need a record to check.
  { method: 'POST', path: `${P}/integrations`, status: 201, fields: INTEGRATION, body: BODIES.integration, forge: 'yes' },
  { method: 'GET', path: `${P}/integrations`, status: 200, fields: INTEGRATION, array: true, forge: 'yes' },
  { method: 'GET', path: `${P}/integrations/{integration_id}`, status: 200, fields: INTEGRATION, forge: 'yes' },
  { method: 'PUT', path: `${P}/integrations/{integration_id}`, status: 204, body: { ...BODIES.integration, id: '{integration_id}' }, forge: 'yes' },
  { method: 'DELETE', path: `${P}/integrations/{integration_id}`, status: 204, forge: 'yes' },
  ...(['values', 'matchers'] as const).flatMap((sub) => [
    { method: 'POST', path: `${P}/integrations/{integration_id}/${sub}`, status: sub === 'values' ? 201 : 200, fields: sub === 'values' ? EXTRACT_VALUE : MATCHER, body: BODIES[sub], forge: 'yes' },
    { method: 'GET', path: `${P}/integrations/{integration_id}/${sub}`, status: 200, fields: sub === 'values' ? EXTRACT_VALUE : MATCHER, array: true, forge: 'yes' },
    { method: 'PUT', path: `${P}/integrations/{integration_id}/${sub}/{id}`, status: 204, body: BODIES[sub], forge: 'yes' },
    { method: 'DELETE', path: `${P}/integrations/{integration_id}/${sub}/{id}`, status: 204, forge: 'yes' },
  ] as Operation[]),
  { method: 'POST', path: `${P}/integrations/aliases`, status: 200, fields: ALIAS, forge: 'yes' },
  { method: 'GET', path: `${P}/integrations/aliases`, status: 200, fields: ALIAS, array: true, forge: 'yes' },
  { method: 'DELETE', path: `${P}/integrations/aliases/{alias_id}`, status: 204, forge: 'yes' },
  { method: 'POST', path: `${P}/integrations/{integration_id}/aliases`, status: 200, fields: ALIAS, forge: 'yes' },
  { method: 'GET', path: `${P}/integrations/{integration_id}/aliases`, status: 200, fields: ALIAS, array: true, forge: 'yes' },
  { method: 'DELETE', path: `${P}/integrations/{integration_id}/aliases/{alias_id}`, status: 204, forge: 'yes' },
  // Keys: the document has no GET of one key (Forge has it as an extra).
  ...crud(`${P}/keys`, KEY, BODIES.key, 'yes', false),
  ...crud(`${P}/repositories`, REPOSITORY, BODIES.repository),
  ...crud(`${P}/host_configs`, HOST_CONFIG, BODIES.hostConfig),
  ...crud(`${P}/inventory`, INVENTORY, BODIES.inventory),
  ...crud(`${P}/environment`, ENVIRONMENT, BODIES.environment),
  ...crud(`${P}/templates`, TEMPLATE, BODIES.template),
  { method: 'POST', path: `${P}/templates/{template_id}/stop_all_tasks`, status: 204, body: { force: false }, forge: 'yes' },
  // Workflows: the document gives no example body; this one uses its WorkflowTemplate fields (an approval gate, then a task).
  { method: 'POST', path: `${P}/workflows`, status: 201, fields: WORKFLOW, body: BODIES.workflow, forge: 'yes' },
  { method: 'GET', path: `${P}/workflows`, status: 200, fields: WORKFLOW, array: true, forge: 'yes' },
  { method: 'GET', path: `${P}/workflows/{workflow_id}`, status: 200, fields: WORKFLOW, forge: 'yes' },
  { method: 'PUT', path: `${P}/workflows/{workflow_id}`, status: 204, body: BODIES.workflow, forge: 'yes' },
  { method: 'POST', path: `${P}/workflows/{workflow_id}/run`, status: 201, fields: WORKFLOW_RUN, forge: 'yes' },
  { method: 'GET', path: `${P}/workflows/{workflow_id}/runs`, status: 200, fields: WORKFLOW_RUN, array: true, forge: 'yes' },
  { method: 'GET', path: `${P}/workflows/{workflow_id}/runs/{run_id}`, status: 200, fields: ['run', 'nodes'], forge: 'yes' },
  { method: 'GET', path: `${P}/workflows/{workflow_id}/runs/{run_id}/approvals`, status: 200, fields: WORKFLOW_APPROVAL, array: true, forge: 'yes' },
  { method: 'POST', path: `${P}/workflows/{workflow_id}/runs/{run_id}/approvals/{node_id}`, status: 200, fields: WORKFLOW_APPROVAL, body: { status: 'approved' }, forge: 'yes' },
  { method: 'GET', path: `${P}/workflows/{workflow_id}/runs/{run_id}/artifacts`, status: 200, forge: 'yes' },
  { method: 'DELETE', path: `${P}/workflows/{workflow_id}`, status: 204, forge: 'yes' },
  { method: 'POST', path: `${P}/schedules`, status: 201, fields: SCHEDULE, body: BODIES.schedule, forge: 'yes' },
  { method: 'GET', path: `${P}/schedules/{schedule_id}`, status: 200, fields: SCHEDULE, forge: 'yes' },
  { method: 'PUT', path: `${P}/schedules/{schedule_id}`, status: 204, body: { ...BODIES.schedule, id: '{schedule_id}' }, forge: 'yes' },
  { method: 'DELETE', path: `${P}/schedules/{schedule_id}`, status: 204, forge: 'yes' },
  ...crud(`${P}/views`, VIEW, BODIES.view),
  { method: 'GET', path: `${P}/tasks`, status: 200, fields: TASK, array: true, forge: 'yes' },
  { method: 'POST', path: `${P}/tasks`, status: 201, fields: TASK, body: BODIES.task, forge: 'yes' },
  { method: 'GET', path: `${P}/tasks/last`, status: 200, fields: TASK, array: true, forge: 'yes' },
  { method: 'POST', path: `${P}/tasks/{task_id}/stop`, status: 204, body: { force: true }, forge: 'yes' },
  { method: 'GET', path: `${P}/tasks/{task_id}`, status: 200, fields: TASK, forge: 'yes' },
  { method: 'DELETE', path: `${P}/tasks/{task_id}`, status: 204, forge: 'yes' },
  { method: 'GET', path: `${P}/tasks/{task_id}/output`, status: 200, fields: ['task_id', 'time', 'output'], array: true, forge: 'yes' },
  { method: 'GET', path: `${P}/tasks/{task_id}/raw_output`, status: 200, forge: 'yes' },
  { method: 'GET', path: '/apps', status: 200, array: true, forge: 'yes' },
  { method: 'POST', path: `${P}/notifications/test`, status: 409, forge: 'yes' },
  ...['/runners', `${P}/runners`].flatMap((base) => [
    { method: 'GET', path: base, status: 200, fields: RUNNER, array: true, forge: 'yes' },
    { method: 'POST', path: base, status: 201, fields: [...RUNNER, 'token'], body: BODIES.runner, forge: 'yes' },
    { method: 'GET', path: `${base}/{runner_id}`, status: 200, fields: RUNNER, forge: 'yes' },
    { method: 'PUT', path: `${base}/{runner_id}`, status: 204, body: BODIES.runner, forge: 'yes' },
    { method: 'DELETE', path: `${base}/{runner_id}`, status: 204, forge: 'yes' },
    { method: 'POST', path: `${base}/{runner_id}/active`, status: 204, body: { active: false }, forge: 'yes' },
    { method: 'POST', path: `${base}/{runner_id}/registration-token`, status: 200, fields: REGISTRATION_TOKEN, forge: 'yes' },
    { method: 'DELETE', path: `${base}/{runner_id}/cache`, status: 204, forge: 'yes' },
  ] as Operation[]),
  { method: 'GET', path: '/runner_tags', status: 200, fields: RUNNER_TAG, array: true, forge: 'yes' },
  { method: 'GET', path: `${P}/runner_tags`, status: 200, fields: RUNNER_TAG, array: true, forge: 'yes' },
];
