import { Transform } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

const MASK = '********';
/** Shorter values are masked only in their exact form; encoded forms of tiny values would hit innocent text. */
const MIN_EXACT = 3;
const MIN_ENCODED = 6;

/**
 * The parts of base64 text that encode `bytes` wherever they sit in the encoded data: for each
 * of the three alignments, the characters built only from bits of `bytes` (the edges also hold
 * bits of neighbouring bytes, so they differ from one text to the next).
 */
function base64Forms(bytes: Buffer, encoding: 'base64' | 'base64url'): string[] {
  const forms = [bytes.toString(encoding)];
  for (let shift = 0; shift < 3; shift++) {
    const text = Buffer.concat([Buffer.alloc(shift), bytes]).toString(encoding);
    const first = Math.ceil((8 * shift) / 6);
    const last = Math.floor((8 * (shift + bytes.length)) / 6); // exclusive
    if (last - first >= MIN_ENCODED) forms.push(text.slice(first, last));
  }
  return forms;
}

/** Every form a secret may be printed in: exact, base64, base64url, URL-encoded and hex. */
function formsOf(secret: string): string[] {
  if (secret.length < MIN_ENCODED) return [secret];
  const bytes = Buffer.from(secret);
  const url = encodeURIComponent(secret);
  const hex = bytes.toString('hex');
  return [secret, ...base64Forms(bytes, 'base64'), ...base64Forms(bytes, 'base64url'), url, url.replace(/%20/g, '+'), url.toLowerCase(), hex, hex.toUpperCase()];
}

/** The strings to mask, longest first; each line of a multi-line secret (a key file) counts on its own too. */
export function secretForms(secrets: string[]): string[] {
  const values = new Set(secrets.flatMap((s) => [s, ...s.split('\n').map((part) => part.trim())]));
  const forms = new Set([...values].filter((value) => value.length >= MIN_EXACT).flatMap(formsOf));
  return [...forms].filter((form) => form.length >= MIN_EXACT).sort((a, b) => b.length - a.length);
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface Masker {
  /** Replaces every secret in a piece of text with ********. */
  (text: string): string;
  /**
   * A stream masking a process's raw output, also where a secret is split across chunks; absent
   * when there is nothing to mask (the output is then read straight from the pipe).
   */
  stream?: () => Transform;
}

/** Masks secrets before output leaves the executor. */
export function createMasker(secrets: string[]): Masker {
  const forms = secretForms(secrets);
  const pattern = forms.length ? new RegExp(forms.map(escape).join('|'), 'g') : undefined;
  const mask = ((text: string) => (pattern ? text.replace(pattern, MASK) : text)) as Masker;
  if (pattern) mask.stream = () => maskingStream(forms, pattern, mask);
  return mask;
}

/** How many characters at the end of `text` might begin a secret that the next chunk completes. */
function heldBack(text: string, forms: string[]): number {
  let held = 0;
  for (const form of forms) {
    for (let length = Math.min(form.length - 1, text.length); length > held; length--) {
      if (text.endsWith(form.slice(0, length))) {
        held = length;
        break;
      }
    }
  }
  return held;
}

function maskingStream(forms: string[], pattern: RegExp, mask: (text: string) => string): Transform {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const text = carry + decoder.write(chunk);
      // Keep back a possible start of a secret; never cut through a secret found whole.
      let cut = text.length - heldBack(text, forms);
      for (const match of text.matchAll(pattern)) {
        const end = match.index + match[0].length;
        if (match.index < cut && end > cut) cut = end;
      }
      carry = text.slice(cut);
      done(null, cut > 0 ? mask(text.slice(0, cut)) : undefined);
    },
    flush(done) {
      const rest = carry + decoder.end();
      done(null, rest ? mask(rest) : undefined);
    },
  });
}
