import { ValidationError } from '../core/errors.js';

/**
 * The rules every string and number of a usage event follows before it reaches a store or a log. They
 * are the union of what the stores refuse or silently alter: PostgreSQL refuses U+0000 in `text` and
 * `jsonb` and a lone surrogate escape in `jsonb`, and both drivers turn a lone surrogate into U+FFFD in
 * `text`; control characters garble logs and terminals. Checking them once, at the edge, means a store
 * never refuses an event that was acknowledged to the tracker, so one caller's input cannot fail a
 * batch it shares with others.
 *
 * Hand-written, not zod: they run on every `record()`. A zod schema of the same event fields parsed in
 * about 1.3 µs, more than a whole `tracker.record` (about 1.0 µs, measured on the 2-core build machine).
 */

/** Longest id-like string (thread, agent, model, provider, user): 256 characters. */
export const MAX_ID_TEXT = 256;
/** Most metadata entries per event. */
export const MAX_METADATA_KEYS = 32;
/** Longest metadata key. */
export const MAX_METADATA_KEY = 64;
/** Longest metadata string value. */
export const MAX_METADATA_VALUE = 1024;
/** Largest metadata as JSON (bytes of UTF-16 code units, close enough for a bound). */
export const MAX_METADATA_JSON = 8192;

/** C0 controls (NUL included), DEL and C1 controls. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Printable ASCII only: the common case, settled by one cheap test (with the JSON-size shortcut below,
 * tracker.record went from 0.76 to 1.12 M/s in `node bench/run.js core`). */
const PLAIN = /^[\x20-\x7e]*$/;

/** What is wrong with `value` as event text, or undefined when it is fine. */
export function textProblem(value: string, maxLength: number): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > maxLength) return `must be at most ${maxLength} characters`;
  if (PLAIN.test(value)) return undefined;
  const bad = CONTROL.exec(value);
  if (bad) return `must not contain control characters (found U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')})`;
  if (LONE_SURROGATE.test(value)) return 'must be well-formed Unicode (found a lone surrogate)';
  return undefined;
}

/**
 * A string safe to store and log: non-empty, at most `maxLength` UTF-16 units, no control characters
 * (C0, DEL, C1), no lone surrogates. Throws a {@link ValidationError} naming `field`.
 *
 * @example
 * ```ts
 * assertEventText('model', 'gpt-4o');        // ok
 * assertEventText('user', 'a\u0000b');       // throws: user must not contain control characters (found U+0000)
 * ```
 */
export function assertEventText(field: string, value: unknown, maxLength = MAX_ID_TEXT): asserts value is string {
  if (typeof value !== 'string') throw new ValidationError(field, value, 'must be a string');
  const problem = textProblem(value, maxLength);
  if (problem) throw new ValidationError(field, value, problem);
}

/**
 * Event metadata: a plain object of at most {@link MAX_METADATA_KEYS} entries whose keys and string
 * values pass {@link assertEventText}, whose numbers are finite and whose values are otherwise
 * booleans or null, at most {@link MAX_METADATA_JSON} characters as JSON. Throws naming
 * `metadata.<key>` (empty strings are fine there).
 */
export function assertEventMetadata(field: string, value: unknown): asserts value is Record<string, string | number | boolean | null> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype &&
    Object.getPrototypeOf(value) !== null) {
    throw new ValidationError(field, value, 'must be a plain object');
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_METADATA_KEYS) throw new ValidationError(field, `${entries.length} keys`, `must have at most ${MAX_METADATA_KEYS} keys`);
  // Characters of the entries as they are; JSON escaping at most doubles a string (control characters are
  // refused), so only metadata this large needs the exact size from JSON.stringify.
  let raw = 2;
  for (const [key, v] of entries) {
    const keyProblem = textProblem(key, MAX_METADATA_KEY);
    // The key itself is the bad input: show only a safe prefix of it in the field name.
    if (keyProblem) throw new ValidationError(`${field} key`, key, keyProblem);
    raw += key.length + 4;
    if (typeof v === 'string') {
      if (v.length > 0) assertEventText(`${field}.${key}`, v, MAX_METADATA_VALUE);
      raw += v.length + 2;
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new ValidationError(`${field}.${key}`, v, 'must be a finite number');
      raw += 24;
    } else if (v === null || typeof v === 'boolean') {
      raw += 5;
    } else {
      throw new ValidationError(`${field}.${key}`, v, 'must be a string, a number, a boolean or null');
    }
  }
  if (2 * raw <= MAX_METADATA_JSON) return;
  const size = JSON.stringify(value).length;
  if (size > MAX_METADATA_JSON) throw new ValidationError(field, `${size} characters`, `must be at most ${MAX_METADATA_JSON} characters as JSON`);
}
