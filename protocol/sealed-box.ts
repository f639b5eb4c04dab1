import sodium from 'sodium-native';

/**
 * libsodium sealed boxes (crypto_box_seal): the wire format tweetsodium, libsodium.js and
 * sodium-native share. The server seals each job to the runner that claimed it; only that
 * runner's private key opens it.
 */
export interface BoxKeyPair {
  publicKey: Buffer;
  secretKey: Buffer;
}

export function generateBoxKeyPair(): BoxKeyPair {
  const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
  const secretKey = Buffer.alloc(sodium.crypto_box_SECRETKEYBYTES);
  sodium.crypto_box_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

export function isValidPublicKey(base64: string): boolean {
  return Buffer.from(base64, 'base64').length === sodium.crypto_box_PUBLICKEYBYTES;
}

export function seal(message: Buffer | string, publicKey: Buffer): Buffer {
  const plain = Buffer.isBuffer(message) ? message : Buffer.from(message, 'utf8');
  const box = Buffer.alloc(plain.length + sodium.crypto_box_SEALBYTES);
  sodium.crypto_box_seal(box, plain, publicKey);
  return box;
}

export class SealedBoxError extends Error {
  override name = 'SealedBoxError';
}

/** Opens a sealed box, or throws SealedBoxError when it was tampered with or sealed to another key. */
export function open(box: Buffer, keys: BoxKeyPair): Buffer {
  if (box.length < sodium.crypto_box_SEALBYTES) throw new SealedBoxError('sealed payload is too short to be a sealed box');
  const plain = Buffer.alloc(box.length - sodium.crypto_box_SEALBYTES);
  if (!sodium.crypto_box_seal_open(plain, box, keys.publicKey, keys.secretKey)) {
    throw new SealedBoxError('sealed payload does not open with this runner\'s private key: it was tampered with or sealed for another runner');
  }
  return plain;
}

/** The private key file holds both halves, base64, so the runner can re-derive nothing and lose nothing. */
export function encodeKeyPair(keys: BoxKeyPair): string {
  return JSON.stringify({ public_key: keys.publicKey.toString('base64'), private_key: keys.secretKey.toString('base64') }) + '\n';
}

export function decodeKeyPair(text: string): BoxKeyPair {
  const parsed = JSON.parse(text) as { public_key?: string; private_key?: string };
  if (!parsed.public_key || !parsed.private_key) throw new Error('key file must hold public_key and private_key');
  const keys = { publicKey: Buffer.from(parsed.public_key, 'base64'), secretKey: Buffer.from(parsed.private_key, 'base64') };
  if (keys.publicKey.length !== sodium.crypto_box_PUBLICKEYBYTES || keys.secretKey.length !== sodium.crypto_box_SECRETKEYBYTES) {
    throw new Error('key file holds keys of the wrong length');
  }
  return keys;
}
