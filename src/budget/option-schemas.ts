import { z } from 'zod';
import { validateThresholds } from './thresholds.js';
import { DEFAULT_THRESHOLDS, type Threshold } from './types.js';

/**
 * Zod pieces of the ledgers' constructor options (the registry, the memory and Redis ledgers), checked once
 * by `parseOptions` when a ledger is built. Their messages are those of the hand-written validators in
 * `core/validate.ts`, which stay on the per-call paths (reserve, settle).
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

const NOT_POSITIVE_INTEGER = 'must be an integer >= 1';

/** A size or a duration in ms (as `assertPositiveInteger`): an integer of at least 1. */
export const positiveIntegerOption = z
  .number({ error: NOT_POSITIVE_INTEGER })
  .refine(Number.isInteger, { error: NOT_POSITIVE_INTEGER })
  .refine((n) => n >= 1, { error: NOT_POSITIVE_INTEGER });

/** A callback option. */
export function functionOption<F extends (...args: never[]) => unknown>() {
  return z.custom<F>((value) => typeof value === 'function', { error: 'must be a function' });
}

/** Warning thresholds, validated and sorted by `validateThresholds` (which names the entry at fault); default 75/90/95 %. */
export const thresholdsOption = z
  .custom<readonly Threshold[]>()
  .optional()
  .transform((thresholds) => validateThresholds(thresholds ?? DEFAULT_THRESHOLDS));
