import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';

export interface Head { commit_hash: string; commit_message: string }

const SHA = /^[0-9a-f]{40}$/;

/**
 * The checked-out commit and its subject (what `git log -1 --format=%H%n%s` prints), read from
 * the fresh clone's .git without starting a process: HEAD, its ref (loose or packed), then the
 * commit object (loose, or whole in a version-2 pack). Anything else (a deltified commit, an
 * unknown format) answers undefined and the caller asks git.
 */
export function readHead(repoDir: string): Head | undefined {
  try {
    const gitDir = join(repoDir, '.git');
    const hash = resolveHead(gitDir);
    const body = hash ? (looseObject(gitDir, hash) ?? packedObject(gitDir, hash)) : undefined;
    return hash && body !== undefined ? { commit_hash: hash, commit_message: subject(body) } : undefined;
  } catch {
    return undefined;
  }
}

function resolveHead(gitDir: string): string | undefined {
  const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
  if (SHA.test(head)) return head;
  if (!head.startsWith('ref: ')) return undefined;
  const ref = head.slice(5);
  if (!/^refs\/[\w./-]+$/.test(ref) || ref.includes('..')) return undefined;
  const loose = join(gitDir, ref);
  if (existsSync(loose)) {
    const hash = readFileSync(loose, 'utf8').trim();
    return SHA.test(hash) ? hash : undefined;
  }
  const packed = existsSync(join(gitDir, 'packed-refs')) ? readFileSync(join(gitDir, 'packed-refs'), 'utf8') : '';
  for (const line of packed.split('\n')) {
    const [hash, name] = line.split(' ');
    if (name === ref && hash && SHA.test(hash)) return hash;
  }
  return undefined;
}

/** A loose commit object's body (after "commit <size>\0"). */
function looseObject(gitDir: string, hash: string): string | undefined {
  const path = join(gitDir, 'objects', hash.slice(0, 2), hash.slice(2));
  if (!existsSync(path)) return undefined;
  const raw = inflateSync(readFileSync(path));
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul).toString('latin1').startsWith('commit ') ? raw.subarray(nul + 1).toString('utf8') : undefined;
}

/** A commit stored whole (not as a delta) in one of the packs, found through its .idx (version 2). */
function packedObject(gitDir: string, hash: string): string | undefined {
  const packDir = join(gitDir, 'objects', 'pack');
  if (!existsSync(packDir)) return undefined;
  const wanted = Buffer.from(hash, 'hex');
  for (const name of readdirSync(packDir).filter((n) => n.endsWith('.idx'))) {
    const offset = offsetInIndex(readFileSync(join(packDir, name)), wanted);
    if (offset !== undefined) return commitAt(join(packDir, name.replace(/\.idx$/, '.pack')), offset);
  }
  return undefined;
}

function offsetInIndex(idx: Buffer, wanted: Buffer): number | undefined {
  if (idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2) return undefined;
  const fanout = (byte: number) => (byte < 0 ? 0 : idx.readUInt32BE(8 + byte * 4));
  const count = fanout(255);
  const names = 8 + 256 * 4;
  let low = fanout(wanted[0]! - 1);
  let high = fanout(wanted[0]!) - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const order = idx.compare(wanted, 0, 20, names + mid * 20, names + mid * 20 + 20) * -1;
    if (order === 0) {
      const offsets = names + count * 20 + count * 4;
      const small = idx.readUInt32BE(offsets + mid * 4);
      if (!(small & 0x80000000)) return small;
      return Number(idx.readBigUInt64BE(offsets + count * 4 + (small & 0x7fffffff) * 8));
    }
    if (order < 0) high = mid - 1;
    else low = mid + 1;
  }
  return undefined;
}

function commitAt(packPath: string, offset: number): string | undefined {
  const fd = openSync(packPath, 'r');
  try {
    const header = Buffer.alloc(16);
    readSync(fd, header, 0, header.length, offset);
    if (((header[0]! >> 4) & 7) !== 1) return undefined; // not a whole commit (a delta): ask git
    let size = header[0]! & 15;
    let at = 1;
    for (let shift = 4, byte = header[0]!; byte & 0x80; shift += 7) {
      byte = header[at++]!;
      size += (byte & 0x7f) * 2 ** shift;
    }
    // zlib stores a commit in at most its size plus a little; inflate stops at the stream's end.
    const length = Math.min(size + 1024, fstatSync(fd).size - offset - at);
    const compressed = Buffer.alloc(length);
    readSync(fd, compressed, 0, length, offset + at);
    return inflateSync(compressed).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** git's %s: the message's first paragraph, its lines joined by spaces. */
function subject(body: string): string {
  const end = body.indexOf('\n\n');
  if (end < 0) return '';
  const message = body.slice(end + 2);
  const paragraph = message.replace(/^\n+/, '').split(/\n[ \t]*\n/)[0] ?? '';
  return paragraph.split('\n').map((line) => line.trim()).filter(Boolean).join(' ');
}
