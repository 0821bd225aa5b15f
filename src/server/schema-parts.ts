import { z } from 'zod';
import { isPlainObject } from '../core/objects.js';
import { describeValue, parseByteSize, parseDuration, suggestKey } from './config-values.js';

/**
 * The zod building blocks of the configuration schemas, each with the message the configuration has
 * always given (`must be an integer >= 1 (got "lots")`), so that `config-schema.ts` and
 * `router-schema.ts` read as a list of fields.
 */

/** How unknown keys are reported: the YAML file's sections hint at a near key, the providers section lists them. */
export type UnknownKeyStyle = 'config' | 'router';

/** `<text> (got <value>)`: an issue message naming the bad value. */
export function mustBe(text: string): (issue: { input?: unknown }) => string {
  return (issue) => `${text} (got ${describeValue(issue.input)})`;
}

/** An integer from `min` to `max`; one message for every way of missing it. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  const error = mustBe(`must be an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}`);
  return z.number({ error }).refine((n) => Number.isInteger(n) && n >= min && n <= max, { error });
}

/** A non-empty string; with `pattern`, one matching it (`must be <patternText>`). */
export function text(pattern?: RegExp, patternText?: string) {
  const base = z.string({ error: mustBe('must be a non-empty string') }).refine((s) => s.length > 0, {
    error: mustBe('must be a non-empty string'),
    abort: true,
  });
  if (!pattern) return base;
  return base.refine((s) => pattern.test(s), { error: mustBe(`must be ${patternText ?? `a string matching ${pattern}`}`) });
}

/** `true` or `false`. */
export function flag() {
  return z.boolean({ error: mustBe('must be true or false') });
}

const MAX_SECONDS = 2_147_483;

/** Seconds as YAML writes them (`0.5`, `60`) → whole milliseconds; `allowZero` false means > 0. */
export function seconds(allowZero: boolean) {
  const error = mustBe(`must be a number of seconds ${allowZero ? '>= 0' : '> 0'}`);
  return z
    .number({ error })
    .refine((s) => s >= 0 && (allowZero || s > 0) && s <= MAX_SECONDS, { error, abort: true })
    .refine((s) => allowZero || Math.round(s * 1000) > 0, { error: mustBe('must be at least 0.001 seconds') })
    .transform((s) => Math.round(s * 1000));
}

/** A byte size (`4mb`, `512kb`, or bytes) from `min` to `max` → bytes. */
export function byteSize(min: number, max: number, problem: string) {
  const inRange = (v: unknown): boolean => {
    const n = parseByteSize(v);
    return n !== undefined && n >= min && n <= max;
  };
  return z.unknown().refine(inRange, { error: mustBe(problem) }).transform((v) => parseByteSize(v)!);
}

/** A duration with its unit (`24h`, `90s`) from `min` to `max` ms → milliseconds. */
export function duration(min: number, max: number, problem: string) {
  const inRange = (v: unknown): boolean => {
    const ms = parseDuration(v);
    return ms !== undefined && ms >= min && ms <= max;
  };
  return z.unknown().refine(inRange, { error: mustBe(problem) }).transform((v) => parseDuration(v)!);
}

/** Options of {@link mapping}. */
export interface MappingOptions {
  /** What a value that is not a mapping must be: `must be a mapping with keys host, port`. */
  notMapping?: string;
  /** The message for `null` where a mapping must be (e.g. a list item written `-`). */
  ifNull?: string;
  style?: UnknownKeyStyle;
  /** The order the allowed keys are listed in messages, when it differs from the order they are checked in. */
  listed?: readonly string[];
}

/**
 * A YAML mapping with the keys of `shape`. Unknown keys are reported one by one under their own path,
 * checked even when a known key is bad, so one run lists every problem.
 */
export function mapping<T extends z.core.$ZodLooseShape>(shape: T, options: MappingOptions = {}) {
  const allowed = options.listed ?? Object.keys(shape);
  const style = options.style ?? 'config';
  const notMapping = options.notMapping ?? `must be a mapping with keys ${allowed.join(', ')}`;
  const error = (issue: { input?: unknown }): string =>
    issue.input === null && options.ifNull ? options.ifNull : mustBe(notMapping)(issue);
  return z.looseObject(shape, { error }).superRefine(
    (value, ctx) => {
      for (const key of Object.keys(value)) {
        if (allowed.includes(key)) continue;
        ctx.addIssue({ code: 'custom', path: [key], message: unknownKeyProblem(key, allowed, style), params: { unknownKey: true } });
      }
    },
    { when: (payload) => isPlainObject(payload.value) },
  );
}

function unknownKeyProblem(key: string, allowed: readonly string[], style: UnknownKeyStyle): string {
  if (style === 'router') {
    if (key === 'api_key') return 'API keys are not accepted in the config; name the environment variable holding it with api_key_env';
    return `unknown key (expected one of ${allowed.join(', ')})`;
  }
  const hint = suggestKey(key, allowed);
  return `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; allowed: ${allowed.join(', ')}`;
}
