import type { RedisClient } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { script } from '../redis/scripts.js';
import type { User } from '../common/model.js';
import { constantTimeEqual, hashPassword, hashToken, newToken, verifyPassword } from '../common/secrets.js';
import { Collection } from './collection.js';
import type { RecordCache } from './record-cache.js';

export interface ApiToken { id: string; user_id: number; created: string; expired: boolean; name?: string }

/** Semaphore's User: `username` is the stored `login`. */
export const publicUser = ({ password_hash: _hidden, login, ...user }: User) => ({ alert: false, external: false, ...user, username: login });
export type PublicUser = ReturnType<typeof publicUser>;

/** Another user already has this login or e-mail address. */
export class UserNameTakenError extends Error {
  constructor(readonly field: 'login' | 'email', value: string) {
    super(`a user with ${field === 'login' ? 'login' : 'e-mail'} "${value}" exists already`);
  }
}

/** A user's login and e-mail address as the indexes hold them (lower-case; '' for none). */
const indexedNames = (user: User | undefined): [login: string, email: string] => [user?.login.toLowerCase() ?? '', (user?.email ?? '').toLowerCase()];

/** At most this many stored options per user. */
const MAX_OPTIONS = 100;
/**
 * How long a credential that resolved is used without asking Redis again, if no change to users,
 * API tokens or sessions is announced meanwhile: what a session that runs out on its TTL (or a
 * missed announcement) may outlive by.
 */
const CREDENTIAL_KEEP_MS = 10_000;

/** Users, their API tokens and login sessions. Tokens and session ids are kept only as hashes. */
export class UserStore {
  private readonly users: Collection<User>;

  private readonly authUser;
  private readonly writeUser;
  private readonly deleteUser;

  constructor(private readonly redis: RedisClient, private readonly cache?: RecordCache) {
    this.users = new Collection<User>(redis, 'users', '', cache);
    this.authUser = script(redis, 'auth-user');
    this.writeUser = script(redis, 'user-write');
    this.deleteUser = script(redis, 'user-delete');
  }

  async create(input: { login: string; name: string; email: string; password: string; admin: boolean; alert?: boolean; external?: boolean }): Promise<User> {
    const password_hash = await hashPassword(input.password);
    const user: User = {
      id: await this.users.nextId(), login: input.login, name: input.name || input.login, email: input.email, admin: input.admin,
      alert: input.alert ?? false, external: input.external ?? false, password_hash, created: new Date().toISOString(),
    };
    // A new id cannot be held by another record: 'changed' here would be a bug, not a race.
    if (!(await this.users.writeWith(user, (hash, _field, json) => this.write(hash, user, json)))) throw new Error(`user ${user.id} exists already`);
    return user;
  }

  /** Changes profile fields, keeping the login and e-mail indexes in step. */
  update(id: number, patch: Partial<Pick<User, 'login' | 'name' | 'email' | 'admin' | 'alert' | 'external'>>): Promise<User | undefined> {
    return this.users.change(id, (user) => ({ ...user, ...patch }), ({ hash, json, record, before, read }) => this.write(hash, record, json, before, read));
  }

  /**
   * Writes the record and claims its login and e-mail in one step, if the record is still `read`
   * (the JSON it was changed from; none for a new user): false when it changed since. Throws
   * UserNameTakenError when another user holds the login or e-mail.
   */
  private async write(hash: string, user: User, json: string, before?: User, read = ''): Promise<boolean> {
    const outcome = await this.writeUser(keys.index('user-login'), keys.index('user-email'), hash,
      String(user.id), ...indexedNames(user), ...indexedNames(before), json, read);
    if (outcome === 'login') throw new UserNameTakenError('login', user.login);
    if (outcome === 'email') throw new UserNameTakenError('email', user.email);
    return outcome === 'ok';
  }

  async setPassword(id: number, password: string): Promise<boolean> {
    return Boolean(await this.users.update(id, { password_hash: await hashPassword(password) }));
  }

  /** Deletes a user with their API tokens and options (their sessions stop resolving). */
  async delete(id: number): Promise<boolean> {
    const deleted = await this.users.deleteWith(id, async ({ hash, field, read, before }) =>
      (await this.deleteUser(keys.index('user-login'), keys.index('user-email'), hash, field, read, ...indexedNames(before))) === 'ok');
    if (!deleted) return false;
    for (const [hash, raw] of Object.entries(await this.redis.hgetall(keys.apiTokens()))) {
      if ((JSON.parse(raw) as ApiToken).user_id === id) await this.redis.hdel(keys.apiTokens(), hash);
    }
    await this.redis.del(keys.userOptions(id));
    return true;
  }

  async options(userId: number): Promise<Record<string, string>> {
    return this.redis.hgetall(keys.userOptions(userId));
  }

  async setOption(userId: number, key: string, value: string): Promise<void> {
    const key_ = keys.userOptions(userId);
    if (!(await this.redis.hexists(key_, key)) && (await this.redis.hlen(key_)) >= MAX_OPTIONS) throw new Error(`a user keeps at most ${MAX_OPTIONS} options`);
    await this.redis.hset(key_, key, value);
  }

  get(id: number) {
    return this.users.get(id);
  }

  list() {
    return this.users.list();
  }

  /** The user with this login or e-mail address (case-insensitive). */
  async findBy(field: 'login' | 'email', value: string): Promise<User | undefined> {
    const id = await this.redis.hget(keys.index(`user-${field}`), value.toLowerCase());
    return id ? this.users.get(Number(id)) : undefined;
  }

  async count(): Promise<number> {
    return this.redis.hlen(keys.index('user-login'));
  }

  async authenticate(auth: string, password: string): Promise<User | undefined> {
    const lookup = auth.toLowerCase();
    const id = (await this.redis.hget(keys.index('user-login'), lookup)) ?? (await this.redis.hget(keys.index('user-email'), lookup));
    const user = id ? await this.users.get(Number(id)) : undefined;
    // Verify against a dummy hash when the user is unknown, so timing does not reveal which logins exist.
    const ok = await verifyPassword(password, user?.password_hash ?? 'scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=');
    return ok && user ? user : undefined;
  }

  async createApiToken(userId: number, name = ''): Promise<{ token: string; record: ApiToken }> {
    const token = newToken();
    const hash = hashToken(token);
    const record: ApiToken = { id: hash.slice(0, 16), user_id: userId, created: new Date().toISOString(), expired: false, name };
    await this.redis.hset(keys.apiTokens(), hash, JSON.stringify(record));
    return { token, record };
  }

  async userForApiToken(token: string): Promise<User | undefined> {
    return this.userFor(keys.apiTokens(), hashToken(token));
  }

  async listApiTokens(userId: number): Promise<ApiToken[]> {
    const all = await this.redis.hvals(keys.apiTokens());
    return all.map((raw) => JSON.parse(raw) as ApiToken).filter((t) => t.user_id === userId);
  }

  /** Revokes by the public id (a prefix of the hash) shown in listings, or by the token itself (the id creation answered). */
  async expireApiToken(userId: number, idOrToken: string): Promise<boolean> {
    const all = await this.redis.hgetall(keys.apiTokens());
    const tokenHash = hashToken(idOrToken);
    for (const [hash, raw] of Object.entries(all)) {
      const record = JSON.parse(raw) as ApiToken;
      if (record.user_id === userId && (record.id === idOrToken || constantTimeEqual(hash, tokenHash))) {
        await this.redis.hdel(keys.apiTokens(), hash);
        await this.credentialsChanged();
        return true;
      }
    }
    return false;
  }

  async createSession(userId: number, ttlSec: number): Promise<string> {
    const session = newToken();
    await this.redis.set(keys.session(hashToken(session)), String(userId), 'EX', ttlSec);
    return session;
  }

  async userForSession(session: string): Promise<User | undefined> {
    return this.userFor(keys.session(hashToken(session)), '');
  }

  /**
   * Credential and user read in one script (auth-user.lua). Every authenticated request asks, so
   * a credential that resolved is kept CREDENTIAL_KEEP_MS under the users hash: a write to a user
   * (Collection), an API token or a session drops every kept credential, here and on every other
   * server (record-cache.ts). Unknown credentials are not kept (a flood of them evicts nothing).
   */
  private async userFor(credentialKey: string, tokenHash: string): Promise<User | undefined> {
    const field = `credential ${credentialKey} ${tokenHash}`;
    const kept = this.cache?.lookup(keys.collection('users'), field);
    if (typeof kept === 'string') return JSON.parse(kept) as User;
    const mark = this.cache?.mark() ?? 0;
    const raw = (await this.authUser(credentialKey, keys.collection('users'), tokenHash)) as string | null;
    if (!raw) return undefined;
    this.cache?.keep(keys.collection('users'), field, raw, mark, CREDENTIAL_KEEP_MS);
    return JSON.parse(raw) as User;
  }

  /** A credential stopped working: no server may go on using a kept copy of it. */
  private async credentialsChanged(): Promise<void> {
    await this.cache?.changed(keys.collection('users'));
  }

  async deleteSession(session: string): Promise<void> {
    await this.redis.del(keys.session(hashToken(session)));
    await this.credentialsChanged();
  }
}
