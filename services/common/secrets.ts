import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import sodium from 'sodium-native';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

/** A new random token, URL-safe. */
export function newToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Tokens are stored only as this hash; lookups go by hash, then compare in constant time. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right) && a.length === b.length;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const derived = await scrypt(password, salt, 32);
  return `scrypt$${salt.toString('base64')}$${derived.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, saltB64, hashB64] = stored.split('$');
  if (scheme !== 'scrypt' || !saltB64 || !hashB64) return false;
  const expected = Buffer.from(hashB64, 'base64');
  const derived = await scrypt(password, Buffer.from(saltB64, 'base64'), expected.length);
  return timingSafeEqual(derived, expected);
}

/**
 * Encrypts secrets at rest (key store, secret env vars) with XSalsa20-Poly1305 under a key derived
 * from `access_key_encryption`.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(passphrase: string) {
    if (!passphrase) throw new Error('access_key_encryption is empty: set it to a long random string');
    this.key = Buffer.alloc(sodium.crypto_secretbox_KEYBYTES);
    sodium.crypto_generichash(this.key, Buffer.from(passphrase, 'utf8'));
  }

  encrypt(plain: string): string {
    const nonce = randomBytes(sodium.crypto_secretbox_NONCEBYTES);
    const message = Buffer.from(plain, 'utf8');
    const box = Buffer.alloc(message.length + sodium.crypto_secretbox_MACBYTES);
    sodium.crypto_secretbox_easy(box, message, nonce, this.key);
    return `v1:${nonce.toString('base64')}:${box.toString('base64')}`;
  }

  decrypt(stored: string): string {
    const [version, nonceB64, boxB64] = stored.split(':');
    if (version !== 'v1' || !nonceB64 || !boxB64) throw new Error('secret is not in a known format');
    const box = Buffer.from(boxB64, 'base64');
    const plain = Buffer.alloc(box.length - sodium.crypto_secretbox_MACBYTES);
    if (!sodium.crypto_secretbox_open_easy(plain, box, Buffer.from(nonceB64, 'base64'), this.key)) {
      throw new Error('secret does not decrypt: access_key_encryption differs from the one it was written with');
    }
    return plain.toString('utf8');
  }
}
