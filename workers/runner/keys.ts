import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type BoxKeyPair, decodeKeyPair, encodeKeyPair, generateBoxKeyPair } from '../../protocol/sealed-box.js';

/** The runner's X25519 key pair, kept in a 0600 file; only the public half ever leaves the machine. */
export function loadKeyPair(path: string): BoxKeyPair | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return decodeKeyPair(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`private key file ${path} is unreadable (${(err as Error).message}); delete it and run forge runner register again`);
  }
}

export function createKeyPair(path: string): BoxKeyPair {
  const keys = generateBoxKeyPair();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, encodeKeyPair(keys), { mode: 0o600 });
  return keys;
}

export function loadOrCreateKeyPair(path: string): { keys: BoxKeyPair; created: boolean } {
  const existing = loadKeyPair(path);
  return existing ? { keys: existing, created: false } : { keys: createKeyPair(path), created: true };
}
