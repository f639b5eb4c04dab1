/** Records as the REST API returns them (see services/common/model.ts). */

export interface User { id: number; login: string; name: string; email: string; admin: boolean; created: string }
export interface Info { version: string; use_remote_runner: boolean; web_host: string }
export interface Project { id: number; name: string; created: string; max_parallel_tasks: number; members: number[] }

export type KeyType = 'none' | 'ssh' | 'login_password';
export interface AccessKey { id: number; project_id: number; name: string; type: KeyType }
export interface Repository { id: number; project_id: number; name: string; git_url: string; git_branch: string; ssh_key_id: number | null }
export interface Inventory { id: number; project_id: number; name: string; type: 'static' | 'static-yaml' | 'file'; inventory: string; ssh_key_id: number | null; become_key_id: number | null }
export interface EnvSecret { id: number; name: string; type: 'env' | 'var' }
export interface Environment { id: number; project_id: number; name: string; json: string; env: string; password_set: boolean; secrets: EnvSecret[] }

export const APPS = ['ansible', 'terraform', 'tofu', 'bash', 'powershell', 'python'] as const;
export type App = (typeof APPS)[number];
export interface Template {
  id: number; project_id: number; name: string; description: string; app: App; playbook: string; arguments: string | null;
  repository_id: number; inventory_id: number | null; environment_id: number | null; git_branch: string;
  runner_tag: string; vault_key_id: number | null; allow_override_args_in_task: boolean; auto_approve: boolean;
}

export const TASK_STATUSES = ['waiting', 'starting', 'running', 'stopping', 'stopped', 'success', 'error'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINAL_STATUSES: TaskStatus[] = ['stopped', 'success', 'error'];

export interface Task {
  id: number; project_id: number; template_id: number; status: TaskStatus; user_id: number | null;
  created: string; start: string | null; end: string | null;
  debug: boolean; dry_run: boolean; diff: boolean; playbook: string; environment: string; limit: string; tags: string; skip_tags: string;
  git_branch: string; arguments: string | null; message: string;
  commit_hash: string; commit_message: string; runner_id: number | null; runner_name: string;
  queue: string; runner_tag: string; waiting_reason: string; attempt: number; exit_code: number | null; error: string;
}
export interface OutputLine { id: string; task_id: number; time: string; output: string }

export interface Runner {
  id: number; project_id: number | null; name: string; tags: string[]; max_parallel_tasks: number; webhook: string; enabled: boolean;
  created: string; status: 'online' | 'offline' | 'disabled'; last_seen: string | null; version: string; capabilities: string[];
  active_tasks: number; draining: boolean; public_key?: string;
}

export interface DashboardQueue {
  queue: string; project_id: number; project_name: string; tag: string; waiting: number;
  oldest_task_id: number | null; oldest_created: string | null; oldest_wait_sec: number; reason: string; runners_online: number;
}
export interface DashboardTask {
  id: number; project_id: number; project_name: string; template_id: number; template_name: string;
  status: TaskStatus; runner_name: string; created: string; start: string | null;
}
export interface Dashboard {
  generated: string; remote_runners: boolean;
  runners: { online: number; offline: number; disabled: number; total: number; draining: number; busy_slots: number; capacity: number; unlimited: number };
  local: { max_parallel_tasks: number; active: number } | null;
  queues: DashboardQueue[];
  running: DashboardTask[];
  last_hour: { since: string; bucket_sec: number; success: number; error: number; stopped: number; buckets: Array<{ start: string; success: number; error: number; stopped: number }> };
}
