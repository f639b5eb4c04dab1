/**
 * Records as stored and as the API returns them (Semaphore field names), and the constants they
 * use. Dependency-free, so the server and the web UI share one definition.
 */

export const APPS = ['ansible', 'terraform', 'tofu', 'bash', 'powershell', 'python'] as const;
export type App = (typeof APPS)[number];

export const TASK_STATUSES = ['waiting', 'starting', 'running', 'waiting_confirmation', 'confirmed', 'stopping', 'stopped', 'success', 'error', 'rejected'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINAL_STATUSES: TaskStatus[] = ['stopped', 'success', 'error', 'rejected'];
/**
 * `waiting_confirmation`: a Terraform/OpenTofu plan waits for confirm or reject; its runner still holds it (and its lease).
 * `confirmed`: confirmed, until the executing side takes the decision and the task is `running` (applying) again.
 */
export const ACTIVE_STATUSES: TaskStatus[] = ['starting', 'running', 'waiting_confirmation', 'confirmed', 'stopping'];

export const PROJECT_ROLES = ['owner', 'manager', 'task_runner', 'guest'] as const;
export type ProjectRole = (typeof PROJECT_ROLES)[number];

/** `login` is the stored name of what the API calls `username` (Semaphore's name). */
export interface User { id: number; login: string; name: string; email: string; admin: boolean; password_hash: string; created: string; alert?: boolean; external?: boolean }
/** `members` lists who may see the project; `roles` says what each may do (a member with no entry is an owner, as before roles existed). */
export interface Project {
  id: number; name: string; created: string; max_parallel_tasks: number; members: number[]; roles?: Record<string, ProjectRole>;
  alert?: boolean; alert_chat?: string | null; type?: string;
}
export type KeyType = 'none' | 'ssh' | 'login_password';
export interface AccessKey { id: number; project_id: number; name: string; type: KeyType; secret: string /* encrypted JSON */ }
export interface KeySecret { login?: string; password?: string; private_key?: string; passphrase?: string }
export interface Repository { id: number; project_id: number; name: string; git_url: string; git_branch: string; ssh_key_id: number | null }
export const INVENTORY_TYPES = ['static', 'static-yaml', 'file', 'terraform-workspace'] as const;
export interface Inventory {
  id: number; project_id: number; name: string; type: (typeof INVENTORY_TYPES)[number]; inventory: string;
  ssh_key_id: number | null; become_key_id: number | null; repository_id?: number | null;
}
export interface EnvironmentSecret { id: number; name: string; type: 'env' | 'var'; secret: string /* encrypted */ }
export interface Environment { id: number; project_id: number; name: string; json: string; env: string; password: string /* encrypted vault password or '' */; secrets: EnvironmentSecret[] }
export interface Template {
  id: number; project_id: number; name: string; description: string; app: App; playbook: string; arguments: string | null;
  repository_id: number; inventory_id: number | null; environment_id: number | null; git_branch: string;
  runner_tag: string; vault_key_id: number | null; allow_override_args_in_task: boolean; auto_approve: boolean;
  // Semaphore's template fields (optional: older records lack them); what uses them is in their own modules.
  survey_vars?: SurveyVar[]; type?: TemplateType; start_version?: string | null; build_template_id?: number | null; autorun?: boolean;
  view_id?: number | null; vaults?: TemplateVault[]; suppress_success_alerts?: boolean; suppress_error_alerts?: boolean;
  task_params?: TaskParams; allow_override_branch_in_task?: boolean; allow_override_inventory_in_task?: boolean;
  limit?: string; working_directory?: string | null; environment_ids?: number[]; executor_image?: string;
  /** Overrides the server's max_task_duration_sec for this template's tasks (0: the server's). */
  max_task_duration_sec?: number;
}
export interface TemplateVault { id?: number; name: string; type: 'password' | 'script'; vault_key_id: number | null; script: string }
/**
 * Which key reaches a git host, for repositories without a key of their own: `url` matches a
 * prefix of the git URL, `host` the ssh host name in it (Semaphore's HostConfig).
 */
export interface HostConfig { id: number; project_id: number; type: 'host' | 'url'; host: string; ssh_key_id: number }
export interface View {
  id: number; project_id: number; title: string; position: number; hidden: boolean; type: '' | 'all';
  sort_column: string; sort_reverse: boolean;
}
export interface AuditEvent {
  id: number; created: string; project_id: number | null; user_id: number | null; object_id: number | null;
  object_type: string; description: string;
}
export const SURVEY_TYPES = ['', 'int', 'enum', 'secret', 'text'] as const;
export type SurveyType = (typeof SURVEY_TYPES)[number];
/** A question asked when a task starts; `type` '' is a string, `target` 'env' makes it an environment variable. */
export interface SurveyVar {
  name: string; title: string; description: string; type: SurveyType; target: '' | 'env'; required: boolean;
  default_value: string; values: Array<{ name: string; value: string }>;
}
export type TemplateType = '' | 'build' | 'deploy';
/** Defaults a template gives its tasks (Semaphore's TaskPrams, flattened to the fields Forge uses). */
export interface TaskParams { limit?: string; tags?: string; skip_tags?: string; debug?: boolean; dry_run?: boolean; diff?: boolean; environment?: string }
export interface Task {
  id: number; project_id: number; template_id: number; status: TaskStatus; user_id: number | null;
  created: string; start: string | null; end: string | null;
  debug: boolean; dry_run: boolean; diff: boolean; playbook: string; environment: string; limit: string; tags: string; skip_tags: string;
  git_branch: string; arguments: string | null; message: string;
  commit_hash: string; commit_message: string; runner_id: number | null; runner_name: string;
  queue: string; runner_tag: string; waiting_reason: string; attempt: number; exit_code: number | null; error: string;
  lease_until: number; stop_requested: boolean;
  /** The inventory this task runs on instead of its template's (Semaphore's per-task `inventory_id`). */
  inventory_id?: number | null;
  /** Build tasks: the version they build; deploy tasks: the version they deploy (build_task_id's). */
  version?: string; build_task_id?: number | null;
  /** Where this task's notification results are (GET), once it has ended and notifications were sent. */
  notifications_url?: string;
  /** Terraform/OpenTofu: this run's `auto_approve` (Semaphore's task param; absent: the template's), `destroy` plans a destroy. */
  auto_approve?: boolean | null; destroy?: boolean;
  /**
   * Whether the task was stored with extras (secret answers and variables kept apart from the
   * record, task-options/extras.ts): a claim reads them only then. Absent on older records: read.
   */
  has_extras?: boolean;
  /** The answer to a plan waiting for confirmation (set by confirm/reject, read by the executing side). */
  confirmation?: '' | 'confirmed' | 'rejected';
}
