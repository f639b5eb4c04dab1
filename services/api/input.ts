import type { Request } from 'express';
import { z } from 'zod';
import { logger } from '../../protocol/log.js';
import { HttpError, parseBody } from './http.js';

const log = logger('api');

/** Fields a body may carry that no schema lists: the record's own ids, checked against the path. */
const PATH_FIELDS = new Set(['id', 'project_id']);

/** The top-level fields of an object schema (through preprocess pipes), or undefined for others. */
function shapeOf(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const def = (schema as unknown as { _zod: { def: { type: string; shape?: Record<string, z.ZodType>; out?: z.ZodType; in?: z.ZodType } } })._zod.def;
  if (def.shape) return def.shape;
  if (def.type === 'pipe') return shapeOf(def.out!) ?? shapeOf(def.in!);
  return undefined;
}

export interface InputOptions {
  /** On an update: the id in the path, which a body's `id` must match. */
  id?: number;
  /** The project in the path, which a body's `project_id` must match. */
  projectId?: number;
}

/**
 * Reads a request body the way Semaphore's server does: unknown fields are ignored (and listed in
 * a debug log), a null for a field that takes no null counts as absent, and `id` / `project_id`
 * may be sent but must match the path. Errors still name the field.
 */
export function parseInput<T extends z.ZodType>(schema: T, req: Pick<Request, 'body' | 'headers' | 'method' | 'path'>, options: InputOptions = {}): z.infer<T> {
  let body: unknown = req.body;
  // Bodies are optional on some operations (stop, tokens): none at all is an empty object. A body
  // that was sent but not parsed (not JSON) is still refused with a message saying so.
  const sentBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (body === undefined && !sentBody) body = {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return parseBody(schema, body);
  const shape = shapeOf(schema);
  const given = body as Record<string, unknown>;
  checkPathField(given, 'id', options.id);
  checkPathField(given, 'project_id', options.projectId);
  if (!shape) return parseBody(schema, given);
  const kept: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const [field, value] of Object.entries(given)) {
    const fieldSchema = shape[field];
    if (!fieldSchema) {
      // `login` is the old name of `username`: the user schemas rename it themselves.
      if (field === 'login' && shape.username) {
        kept[field] = value;
        continue;
      }
      if (!PATH_FIELDS.has(field)) ignored.push(field);
      continue;
    }
    if (value === null && fieldSchema && !fieldSchema.safeParse(null).success) continue;
    kept[field] = value;
  }
  if (ignored.length) log.debug('ignored unknown request fields', { method: req.method, path: req.path, fields: ignored });
  return parseBody(schema, kept);
}

function checkPathField(body: Record<string, unknown>, field: string, expected: number | undefined): void {
  const value = body[field];
  if (expected === undefined || value === undefined || value === null) return;
  if (value !== expected) throw new HttpError(400, `${field}: must match the ${field === 'id' ? 'id' : 'project'} in the path (${expected}), got ${JSON.stringify(value)}`);
}
