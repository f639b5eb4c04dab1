import { readFileSync } from 'node:fs';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';

/** Reads a JSON file that may carry // and /* comments and trailing commas, as the seed's examples do. */
export function readJsoncFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  return parseJsonc(text, path);
}

export function parseJsonc(text: string, source = 'input'): unknown {
  const errors: ParseError[] = [];
  const value = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length > 0) {
    const first = errors[0]!;
    const line = text.slice(0, first.offset).split('\n').length;
    throw new Error(`${source}: invalid JSON at line ${line}: ${printParseErrorCode(first.error)}`);
  }
  return value ?? {};
}
