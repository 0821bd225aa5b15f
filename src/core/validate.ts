import { ValidationError } from './errors.js';

/**
 * Validators shared by every layer. Each throws a {@link ValidationError} naming the field and the
 * value, so a caller always learns which argument was wrong and why.
 */

/**
 * A token count: a non-negative integer of at most 2^53 - 1 (`Number.MAX_SAFE_INTEGER`), above which
 * sums stop being exact (the Redis ledger's Lua doubles have the same bound).
 */
export function assertTokenCount(field: string, value: unknown): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new ValidationError(field, value, describeTokenProblem(value));
  }
}

/** A positive token maximum (at least 1). */
export function assertPositiveTokens(field: string, value: unknown): asserts value is number {
  assertTokenCount(field, value);
  if (value < 1) throw new ValidationError(field, value, 'must be at least 1');
}

/** A thread id: a non-empty string of at most 256 characters. */
export function assertThreadId(field: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new ValidationError(field, value, 'must be a string');
  if (value.length === 0) throw new ValidationError(field, value, 'must not be empty');
  if (value.length > 256) throw new ValidationError(field, value, 'must be at most 256 characters');
}

/** A positive integer option (sizes, limits). */
export function assertPositiveInteger(field: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ValidationError(field, value, 'must be an integer >= 1');
  }
}

function describeTokenProblem(value: unknown): string {
  if (typeof value !== 'number') return 'must be a number of tokens';
  if (Number.isNaN(value)) return 'must be a number, not NaN';
  if (!Number.isFinite(value)) return 'must be finite';
  if (value < 0) return 'must not be negative';
  if (value > Number.MAX_SAFE_INTEGER) return `must be at most ${Number.MAX_SAFE_INTEGER}`;
  return 'must be a whole number of tokens';
}
