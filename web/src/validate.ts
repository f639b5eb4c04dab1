/** Client-side checks that mirror the API's schemas, so forms can say what is wrong as you type. */

export const TAG_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/i;

export function validateName(name: string): string | undefined {
  if (!name.trim()) return 'must not be empty';
  if (name.trim().length > 200) return 'at most 200 characters';
  return undefined;
}

export function validateUrl(url: string): string | undefined {
  if (!url.trim()) return undefined;
  try {
    const u = new URL(url.trim());
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'use an http:// or https:// URL';
  } catch {
    return 'not a valid URL, e.g. https://hooks.example.com/forge';
  }
  return undefined;
}

export function validateJsonObject(text: string): string | undefined {
  if (!text.trim()) return undefined;
  try {
    const v = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'must be a JSON object, e.g. {"key": "value"}';
  } catch (err) {
    return `not valid JSON: ${(err as Error).message}`;
  }
  return undefined;
}

export function validateArgs(text: string): string | undefined {
  if (!text.trim()) return undefined;
  try {
    const v = JSON.parse(text);
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return 'must be a JSON array of strings, e.g. ["-v", "--check"]';
  } catch (err) {
    return `not valid JSON: ${(err as Error).message}`;
  }
  return undefined;
}

export function validateGitUrl(url: string): string | undefined {
  if (!url.trim()) return 'must not be empty';
  if (/\s/.test(url.trim())) return 'must not contain spaces';
  return undefined;
}
