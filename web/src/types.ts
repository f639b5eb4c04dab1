/** Records as the REST API returns them: the server's own definitions (services/common/records.ts) where they match. */

import type {
  AccessKey as StoredAccessKey, Environment as StoredEnvironment, EnvironmentSecret, Task, TaskStatus, User as StoredUser,
} from '../../protocol/records.js';

export { APPS, FINAL_STATUSES, PROJECT_ROLES, TASK_STATUSES } from '../../protocol/records.js';
export type { App, Inventory, KeyType, Project, ProjectRole, Repository, Task, TaskStatus, Template } from '../../protocol/records.js';
import type { HostConfig as StoredHostConfig } from '../../protocol/records.js';
/** A host config as listed: `name` (its type and host) is for display. */
export type HostConfig = StoredHostConfig & { name: string };
import type { ProjectRole } from '../../protocol/records.js';
export type { SurveyType, SurveyVar } from '../../protocol/records.js';

/** The API never returns secrets: these are the stored records less their secret fields; the login is `username`, as in Semaphore. */
export type User = Omit<StoredUser, 'password_hash' | 'login'> & { username: string };
export interface ProjectMember { id: number; username: string; name: string; email: string; role: ProjectRole }
export type AccessKey = Omit<StoredAccessKey, 'secret'>;
export type EnvSecret = Omit<EnvironmentSecret, 'secret'>;
export type Environment = Omit<StoredEnvironment, 'password' | 'secrets'> & { password_set: boolean; secrets: EnvSecret[] };

export interface Info { version: string; use_remote_runner: boolean; web_host: string }

export interface OutputLine { id: string; task_id: number; time: string; output: string }

export interface Runner {
  id: number; project_id: number | null; name: string; tags: string[]; max_parallel_tasks: number; webhook: string; active: boolean;
  created: string; status: 'online' | 'offline' | 'disabled'; touched: string | null; version: string; capabilities: string[];
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

/** A task with what the history shows beside it (services/api/ui-history.ts). */
export interface TaskRow extends Task { template_name: string; user_name: string; branch: string }
export interface HistoryPage { tasks: TaskRow[]; total: number; users: Array<{ id: number; name: string }>; searched_all: boolean }
export interface LastTask { template_id: number; task: TaskRow | null }

/** Where a task of a template would go if started now (services/api/ui-placement.ts). */
export interface Placement {
  mode: 'local' | 'runners'; will_wait: boolean; reason: string; waiting_ahead: number; free_slots: number | null;
  runners: Array<{ id: number; name: string; status: string; draining: boolean; active: number; max: number; free: number | null }>;
  local: { active: number; max: number } | null;
}

export interface QueueRow {
  name: string; kind: 'tasks' | 'completions'; project_id: number | null; project_name: string; tag: string;
  waiting: number; claimed: number; delayed: number; completed: number; failed: number; reason: string; runners_online: number;
}

export interface ApiToken { id: string; user_id: number; created: string; expired: boolean }
