import test from 'ava';
import { createRequire } from 'node:module';
import { generateBoxKeyPair, open, seal, SealedBoxError } from '../protocol/sealed-box.js';

// tweetsodium is the reference for the wire format the design card names (libsodium crypto_box_seal).
const tweetsodium = createRequire(import.meta.url)('tweetsodium') as {
  seal(message: Uint8Array, publicKey: Uint8Array): Uint8Array;
  sealOpen(box: Uint8Array, publicKey: Uint8Array, secretKey: Uint8Array): Uint8Array | null;
};

const message = JSON.stringify({ task: { id: 7 }, repository: { auth: { private_key: '-----BEGIN KEY-----' } }, filler: 'x'.repeat(4096) });

test('a box sealed by tweetsodium opens in Forge', (t) => {
  const keys = generateBoxKeyPair();
  const box = Buffer.from(tweetsodium.seal(Buffer.from(message), keys.publicKey));
  t.is(open(box, keys).toString('utf8'), message);
});

test('a box Forge seals opens with tweetsodium', (t) => {
  const keys = generateBoxKeyPair();
  const box = seal(message, keys.publicKey);
  t.is(box.length, Buffer.byteLength(message) + 48);
  const opened = tweetsodium.sealOpen(box, keys.publicKey, keys.secretKey);
  t.truthy(opened);
  t.is(Buffer.from(opened!).toString('utf8'), message);
});

test('a tampered box or one sealed for another runner is refused with a clear error', (t) => {
  const keys = generateBoxKeyPair();
  const other = generateBoxKeyPair();
  const box = seal(message, keys.publicKey);
  const tampered = Buffer.from(box);
  tampered[60]! ^= 0xff;
  t.throws(() => open(tampered, keys), { instanceOf: SealedBoxError, message: /tampered with or sealed for another runner/ });
  t.throws(() => open(box, other), { instanceOf: SealedBoxError });
  t.throws(() => open(Buffer.alloc(10), keys), { instanceOf: SealedBoxError, message: /too short/ });
  t.false(box.includes(Buffer.from('BEGIN KEY')));
});
