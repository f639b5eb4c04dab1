import type { RedisClient } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import type { User } from '../common/model.js';
import { hashPassword, hashToken, newToken, verifyPassword } from '../common/secrets.js';
import { Collection } from './collection.js';

export interface ApiToken { id: string; user_id: number; created: string; expired: boolean }
export type PublicUser = Omit<User, 'password_hash'>;

export const publicUser = ({ password_hash: _hidden, ...user }: User): PublicUser => user;

/** Users, their API tokens and login sessions. Tokens and session ids are kept only as hashes. */
export class UserStore {
  private readonly users: Collection<User>;

  constructor(private readonly redis: RedisClient) {
    this.users = new Collection<User>(redis, 'users');
  }

  async create(input: { login: string; name: string; email: string; password: string; admin: boolean }): Promise<User> {
    const index = keys.index('user-login');
    if (await this.redis.hexists(index, input.login.toLowerCase())) throw new Error(`a user with login "${input.login}" exists already`);
    const user = await this.users.create({
      login: input.login, name: input.name || input.login, email: input.email, admin: input.admin,
      password_hash: await hashPassword(input.password), created: new Date().toISOString(),
    });
    await this.redis.hset(index, user.login.toLowerCase(), String(user.id));
    if (user.email) await this.redis.hset(keys.index('user-email'), user.email.toLowerCase(), String(user.id));
    return user;
  }

  get(id: number) {
    return this.users.get(id);
  }

  list() {
    return this.users.list();
  }

  async setPassword(id: number, password: string): Promise<void> {
    await this.users.update(id, { password_hash: await hashPassword(password) });
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

  async createApiToken(userId: number): Promise<{ token: string; record: ApiToken }> {
    const token = newToken();
    const hash = hashToken(token);
    const record: ApiToken = { id: hash.slice(0, 16), user_id: userId, created: new Date().toISOString(), expired: false };
    await this.redis.hset(keys.apiTokens(), hash, JSON.stringify(record));
    return { token, record };
  }

  async userForApiToken(token: string): Promise<User | undefined> {
    const raw = await this.redis.hget(keys.apiTokens(), hashToken(token));
    if (!raw) return undefined;
    const record = JSON.parse(raw) as ApiToken;
    return record.expired ? undefined : this.users.get(record.user_id);
  }

  async listApiTokens(userId: number): Promise<ApiToken[]> {
    const all = await this.redis.hvals(keys.apiTokens());
    return all.map((raw) => JSON.parse(raw) as ApiToken).filter((t) => t.user_id === userId);
  }

  /** Revokes by the public id (a prefix of the hash) shown in listings. */
  async expireApiToken(userId: number, publicId: string): Promise<boolean> {
    const all = await this.redis.hgetall(keys.apiTokens());
    for (const [hash, raw] of Object.entries(all)) {
      const record = JSON.parse(raw) as ApiToken;
      if (record.user_id === userId && record.id === publicId) {
        await this.redis.hdel(keys.apiTokens(), hash);
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
    const id = await this.redis.get(keys.session(hashToken(session)));
    return id ? this.users.get(Number(id)) : undefined;
  }

  async deleteSession(session: string): Promise<void> {
    await this.redis.del(keys.session(hashToken(session)));
  }
}
