import type { RedisClient } from '../redis/connection.js';
import type { AccessKey, Environment, HostConfig, Inventory, KeySecret, Project, Repository, Template, View } from '../common/model.js';
import type { KeyMaterial } from '../../protocol/wire.js';
import { SecretBox } from '../common/secrets.js';
import { AuditLog } from './audit.js';
import { Collection } from './collection.js';
import { OutputStore } from './output.js';
import { RecordCache } from './record-cache.js';
import { RunnerStore } from './runners.js';
import { TaskStore } from './tasks.js';
import { UserStore } from './users.js';

export interface StoreOptions { encryptionKey: string; outputCapBytes: number; runnerOnlineWindowMs: number; eventsRetention?: number }

/**
 * Every record store over one Redis connection. Project-scoped kinds live in one hash per project;
 * the ones a task's creation and claim read are kept in memory (`cache`, record-cache.ts).
 */
export class Stores {
  readonly users: UserStore;
  readonly tasks: TaskStore;
  readonly output: OutputStore;
  readonly runners: RunnerStore;
  readonly projects: Collection<Project>;
  readonly secrets: SecretBox;
  /** max_output_bytes: enforced here and, through the job payload, by executors before they send. */
  readonly outputCapBytes: number;
  readonly audit: AuditLog;
  /** The project records (and credentials) every task's creation and claim read, kept in memory (record-cache.ts). */
  readonly cache: RecordCache;

  constructor(readonly redis: RedisClient, options: StoreOptions) {
    this.cache = new RecordCache(redis);
    this.users = new UserStore(redis, this.cache);
    this.tasks = new TaskStore(redis);
    this.output = new OutputStore(redis, options.outputCapBytes);
    this.runners = new RunnerStore(redis, options.runnerOnlineWindowMs);
    this.projects = new Collection<Project>(redis, 'projects', '', this.cache);
    this.secrets = new SecretBox(options.encryptionKey);
    this.outputCapBytes = options.outputCapBytes;
    this.audit = new AuditLog(redis, options.eventsRetention ?? 10_000);
  }

  accessKeys(projectId: number) {
    return new Collection<AccessKey>(this.redis, 'keys', `p${projectId}`, this.cache);
  }
  repositories(projectId: number) {
    return new Collection<Repository>(this.redis, 'repositories', `p${projectId}`, this.cache);
  }
  inventories(projectId: number) {
    return new Collection<Inventory>(this.redis, 'inventory', `p${projectId}`, this.cache);
  }
  environments(projectId: number) {
    return new Collection<Environment>(this.redis, 'environment', `p${projectId}`, this.cache);
  }
  templates(projectId: number) {
    return new Collection<Template>(this.redis, 'templates', `p${projectId}`, this.cache);
  }
  hostConfigs(projectId: number) {
    return new Collection<HostConfig>(this.redis, 'host-configs', `p${projectId}`, this.cache);
  }

  views(projectId: number) {
    return new Collection<View>(this.redis, 'views', `p${projectId}`);
  }

  /** The decrypted secret of a key, for building a job payload; never for an API answer. */
  async keyMaterial(projectId: number, keyId: number | null): Promise<KeyMaterial> {
    if (!keyId) return { type: 'none' };
    const key = await this.accessKeys(projectId).get(keyId);
    if (!key) throw new Error(`access key ${keyId} no longer exists`);
    const secret = key.secret ? (JSON.parse(this.secrets.decrypt(key.secret)) as KeySecret) : {};
    return { type: key.type, ...secret };
  }
}
