import { z } from 'zod';
import { ValidationError } from './errors.js';
import { formatPath } from './format-path.js';

/**
 * Checks a constructor's options object against a zod schema, once, when the object is built (never on a
 * hot path). The first problem becomes a {@link ValidationError} naming the option by its path, e.g.
 * `retries.maxAttempts: must be an integer from 1 to 20 (got 0)`: give each schema check the message that
 * should follow the colon (`z.number().int().min(1, { error: 'must be ...' })`); a check naming the value at
 * fault itself passes it as `params: { got }`. `prefix` is a name or a
 * path (`['backends', 0]` reads `backends[0].…`). A key refused by `unknownKey` (see `option-schemas.ts`) is
 * named before any bad value of the object holding it, as the hand-written checks did.
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
  const issue = firstProblem(result.error.issues);
  const path = prefix === undefined ? issue.path : [...(typeof prefix === 'string' ? [prefix] : prefix), ...issue.path];
  // A check may name the value at fault itself (`params: { got }`), e.g. a list's length.
  const params = issue.code === 'custom' ? (issue.params as { got?: unknown } | undefined) : undefined;
  const got = params !== undefined && 'got' in params ? params.got : valueAt(options, issue.path);
  throw new ValidationError(formatPath(path), got, issue.message);
}

/**
 * The issue to report: the first one, unless an unknown key sits in an object on its path (zod reports
 * catchall keys after the shape's); then that key, the outermost first.
 */
function firstProblem(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue {
  const first = issues[0]!;
  let chosen = first;
  for (const issue of issues) {
    const parent = issue.path.slice(0, -1);
    if (!isUnknownKey(issue) || !startsWith(first.path, parent)) continue;
    if (chosen === first || parent.length < chosen.path.length - 1) chosen = issue;
  }
  return chosen;
}

function isUnknownKey(issue: z.core.$ZodIssue): boolean {
  return issue.code === 'custom' && (issue.params as { unknownKey?: unknown } | undefined)?.unknownKey === true;
}

function startsWith(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((key, i) => key === path[i]);
}

/**
 * The `prefix` for a constructor's whole options object: `options` when it is not an object (the message
 * then reads `options: must be an object`), none when it is (its options are named bare).
 */
export function optionsPrefix(options: unknown): 'options' | undefined {
  return typeof options === 'object' && options !== null && !Array.isArray(options) ? undefined : 'options';
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
