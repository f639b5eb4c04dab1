import { z } from 'zod';

/** One line per problem, each naming the field it is about, e.g. `runner.max_parallel_tasks: expected number`. */
export function describeZodError(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((issue) => {
      const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      return `${path || '(root)'}: ${issue.message}`;
    })
    .join('; ');
}

export class ValidationError extends Error {
  override name = 'ValidationError';
}

export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, prefix = ''): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(describeZodError(result.error, prefix));
  return result.data;
}

/** Environment booleans as users write them: True, true, 1, yes, on. */
export const envBoolean = z.union([
  z.boolean(),
  z.string().trim().toLowerCase().transform((value, ctx) => {
    if (['true', '1', 'yes', 'on'].includes(value)) return true;
    if (['false', '0', 'no', 'off', ''].includes(value)) return false;
    ctx.addIssue({ code: 'custom', message: `expected true or false, got "${value}"` });
    return z.NEVER;
  }),
]);

export const envInt = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'expected a whole number' })
    .int('expected a whole number')
    // Own messages: the schema's `error` would otherwise name every failure "expected a whole number".
    .min(min, `expected a whole number of at least ${min}`)
    .max(max, `expected a whole number of at most ${max}`);

export const tagName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/i, 'a tag is 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit');
