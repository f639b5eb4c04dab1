import { createHmac, randomBytes } from 'node:crypto';
import type { Response } from 'express';
import { hashToken, constantTimeEqual } from '../common/secrets.js';
import type { RedisClient } from '../redis/connection.js';
import { keys } from '../redis/keys.js';

/** Failed logins allowed per window, per client address and per account. */
export const LOGIN_FAILURES_PER_WINDOW = 10;
export const LOGIN_WINDOW_MS = 60_000;
export const DEVICE_COOKIE = 'forge_device';
const DEVICE_TTL_SEC = 365 * 24 * 3600;

/**
 * Login throttling. Failures are counted per client address and per account (fixed windows in
 * Redis, so all replicas agree); either over the limit answers 429 with Retry-After.
 *
 * The per-account limit alone would let anyone lock the admin out by failing on purpose. So a
 * browser that has logged in to an account before carries a device cookie (signed, naming that
 * account): it is exempt from the account's limit and only bound by its own address's.
 */
export class LoginThrottle {
  private secret: Promise<string> | undefined;

  constructor(private readonly redis: RedisClient) {}

  /** Seconds to wait when this login attempt must be refused now; undefined when it may go ahead. */
  async retryAfter(address: string, account: string, trustedDevice: boolean): Promise<number | undefined> {
    const counters = [addressKey(address), ...(trustedDevice ? [] : [accountKey(account)])];
    let wait = 0;
    for (const key of counters) {
      const [count, ttl] = await Promise.all([this.redis.get(key), this.redis.pttl(key)]);
      if (Number(count ?? 0) >= LOGIN_FAILURES_PER_WINDOW) wait = Math.max(wait, Math.ceil(Math.max(ttl, 1000) / 1000));
    }
    return wait > 0 ? wait : undefined;
  }

  async failed(address: string, account: string, trustedDevice: boolean): Promise<void> {
    const counters = [addressKey(address), ...(trustedDevice ? [] : [accountKey(account)])];
    const multi = this.redis.multi();
    for (const key of counters) multi.incr(key).pexpire(key, LOGIN_WINDOW_MS, 'NX');
    await multi.exec();
  }

  /** Whether the request carries a device cookie issued for this account. */
  async isTrustedDevice(cookies: Record<string, string | undefined>, account: string): Promise<boolean> {
    const [nonce, signature] = cookies[DEVICE_COOKIE]?.split('.') ?? [];
    if (!nonce || !signature) return false;
    return constantTimeEqual(signature, await this.sign(nonce, account));
  }

  async issueDeviceCookie(res: Response, account: string, secure: boolean): Promise<void> {
    const nonce = randomBytes(12).toString('base64url');
    res.cookie(DEVICE_COOKIE, `${nonce}.${await this.sign(nonce, account)}`, {
      httpOnly: true, sameSite: 'lax', secure, maxAge: DEVICE_TTL_SEC * 1000, path: '/api/auth',
    });
  }

  private async sign(nonce: string, account: string): Promise<string> {
    return createHmac('sha256', await this.signingSecret()).update(`${nonce}\n${account.toLowerCase()}`).digest('base64url');
  }

  /** One secret for every replica, created by whichever needs it first. */
  private signingSecret(): Promise<string> {
    this.secret ??= (async () => {
      const key = keys.rateLimit('device-cookie-secret');
      await this.redis.set(key, randomBytes(32).toString('hex'), 'NX');
      return (await this.redis.get(key))!;
    })();
    this.secret.catch(() => (this.secret = undefined));
    return this.secret;
  }
}

const addressKey = (address: string) => keys.rateLimit(`login-address:${address}`);
const accountKey = (account: string) => keys.rateLimit(`login-account:${hashToken(account.toLowerCase())}`);
