import { z } from 'zod';
import { ValidationError } from './errors.js';
import { formatPath } from './format-path.js';

/**
 * Checks a constructor's options object against a zod schema, once, when the object is built (never on a
 * hot path). The first problem becomes a {@link ValidationError} naming the option by its path, e.g.
 * `retry.maxAttempts: must be an integer from 1 to 10 (got 0)`: give each schema check the message that
 * should follow the colon (`z.number().int().min(1, { error: 'must be ...' })`). `prefix` is a name or a
 * path (`['backends', 0]` reads `backends[0].…`).
 *
 * @example
 * ```ts
 * const Options = z.object({ maxTokens: z.number().int().positive({ error: 'must be a positive integer' }) });
 * const { maxTokens } = parseOptions(Options, options, 'options');
 * ```
 */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, prefix?: string | readonly PropertyKey[]): z.output<S> {
  const result = schema.safeParse(options);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = prefix === undefined ? issue.path : [...(typeof prefix === 'string' ? [prefix] : prefix), ...issue.path];
  throw new ValidationError(formatPath(path), valueAt(options, issue.path), issue.message);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
