import { z } from 'zod';

/**
 * Zod pieces shared by the constructors' option schemas (checked once by `parseOptions`, never per call).
 * Their messages are those of the hand-written validators in `validate.ts`, which stay on the per-call paths.
 */

const MAX_TOKENS = Number.MAX_SAFE_INTEGER;

function notATokenNumber(issue: { input?: unknown }): string {
  if (typeof issue.input !== 'number') return 'must be a number of tokens';
  return Number.isNaN(issue.input) ? 'must be a number, not NaN' : 'must be finite';
}

/** A token count (as `assertTokenCount`): a whole number from 0 to 2^53 - 1. */
export const tokenCountOption = z
  .number({ error: notATokenNumber })
  .min(0, { error: 'must not be negative' })
  .max(MAX_TOKENS, { error: `must be at most ${MAX_TOKENS}` })
  .int({ error: 'must be a whole number of tokens' });

/** A token maximum (as `assertPositiveTokens`): a token count of at least 1. */
export const positiveTokensOption = tokenCountOption.min(1, { error: 'must be at least 1' });

/**
 * An integer of at least `min`: `must be an integer >= min`, whatever is wrong. `Number.isInteger`, not
 * zod's `.int()` (which refuses integers above 2^53), as `assertPositiveInteger` does.
 */
export function integerAtLeast(min: number) {
  const error = `must be an integer >= ${min}`;
  return z
    .number({ error })
    .refine(Number.isInteger, { error })
    .refine((n) => n >= min, { error });
}

/** A size, a limit or a duration in ms (as `assertPositiveInteger`): an integer of at least 1. */
export const positiveIntegerOption = integerAtLeast(1);

/** A function option: `must be a function`. */
export function functionOption<F>() {
  return z.custom<F>((value) => typeof value === 'function', { error: 'must be a function' });
}

/**
 * Keys outside a schema's shape (`.catchall(unknownKey(...))`), each reported at its own path with
 * `message`. `parseOptions` names such a key before any bad value of the same object, although zod
 * reports catchall keys after the shape's.
 */
export function unknownKey(message: string) {
  return z.custom<never>(() => false, { error: message, params: { unknownKey: true } });
}
