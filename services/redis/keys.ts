/**
 * Every Redis key Forge writes, in one place. Records share the `{forge}` hash tag so multi-key
 * transactions stay in one Cluster slot; each task's output has its own tag so output spreads
 * across shards; each task queue name carries its own tag (see dispatch/queues.ts).
 */
const R = '{forge}';

export const keys = {
  seq: (kind: string) => `${R}:seq:${kind}`,
  collection: (kind: string, scope = '') => (scope ? `${R}:rec:${kind}:${scope}` : `${R}:rec:${kind}`),
  index: (name: string) => `${R}:idx:${name}`,
  task: (id: number) => `${R}:task:${id}`,
  tasksByProject: (projectId: number) => `${R}:tasks:p${projectId}`,
  tasksByTemplate: (templateId: number) => `${R}:tasks:t${templateId}`,
  tasksFinished: () => `${R}:tasks:finished`,
  projectActive: (projectId: number) => `${R}:tasks:active:p${projectId}`,
  session: (tokenHash: string) => `${R}:session:${tokenHash}`,
  oidcState: (stateHash: string) => `${R}:oidc-state:${stateHash}`,
  apiTokens: () => `${R}:api-tokens`,
  runnerStatus: () => `${R}:runner-status`,
  queueRegistry: () => `${R}:queues`,
  rateLimit: (name: string) => `${R}:rl:${name}`,
  leases: () => `${R}:leases`,
  leaseExpiry: () => `${R}:lease-expiry`,
  leaseClock: () => `${R}:lease-clock`,
  /** Set (for a lease) by a heartbeat that arrived after going unanswered for a third of a lease: verdicts wait. */
  leasesLate: () => `${R}:leases-late`,
  runnerTasks: (runnerId: number) => `${R}:runner-tasks:${runnerId}`,
  /** Prefix of a key family whose id is appended inside a Lua script. */
  prefix: (key: string) => key.replace(/0$/, ''),
  events: (projectId?: number) => (projectId === undefined ? `${R}:events` : `${R}:events:p${projectId}`),
  userOptions: (userId: number) => `${R}:user-options:${userId}`,
  scheduleFired: (jobId: string) => `${R}:schedule-fired:${jobId}`,
  taskExtras: (taskId: number) => `${R}:task-extras:${taskId}`,
  integrationAliases: () => `${R}:integration-aliases`,
  integrationDeliveries: (integrationId: number) => `${R}:integration-deliveries:${integrationId}`,
  taskNotifications: (taskId: number) => `${R}:task-notifications:${taskId}`,
  workflowRun: (runId: number) => `${R}:wf-run:${runId}`,
  workflowRuns: (workflowId: number) => `${R}:wf-runs:w${workflowId}`,
  workflowRunsActive: () => `${R}:wf-runs:active`,
  /** Which workflow run and node a task belongs to ("runId:nodeId"). */
  workflowTask: (taskId: number) => `${R}:wf-task:${taskId}`,
  /** A task queue's waiting tasks (score = order) and claimed ones (score = claimed-at ms); `name` carries its hash tag. */
  queueWait: (name: string) => `${name}:wait`,
  queueActive: (name: string) => `${name}:active`,
  output: (taskId: number) => `{out-${taskId}}:lines`,
  outputMeta: (taskId: number) => `{out-${taskId}}:meta`,
};

/** Pub/sub channels: wake-ups for parked long-polls, task events for live views, record changes for kept records. */
export const channels = {
  wake: 'forge:wake',
  taskEvents: 'forge:task-events',
  runnerEvents: 'forge:runner-events',
  /** A project record hash was written: processes drop what they keep of it (record-cache.ts). */
  recordChanges: 'forge:record-changes',
};
