import { backoffCeilingMs } from '../core/backoff.js';
import { ValidationError } from '../core/errors.js';

/** How the router retries a failed call. */
export interface RetryOptions {
  /** Total attempts per call, the first included (1 = never retry). Default 3, at most 20. */
  maxAttempts?: number;
  /** Base of the exponential backoff, ms. Default 250. */
  baseDelayMs?: number;
  /** Cap of one backoff delay, ms. Default 10 000. */
  maxDelayMs?: number;
  /** Longest `Retry-After` the router honours, ms; longer requests are cut to this. Default 30 000. */
  maxRetryAfterMs?: number;
}

/** {@link RetryOptions} with every default filled in. */
export type RetryPolicy = Required<RetryOptions>;

/** The defaults: 3 attempts, 250 ms base, 10 s cap, Retry-After honoured up to 30 s. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 3,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 30_000,
});

const MAX_ATTEMPTS_LIMIT = 20;

/**
 * Validates retry options (naming the bad one) and fills in the defaults.
 *
 * @example
 * ```ts
 * resolveRetryPolicy({ maxAttempts: 5 }); // { maxAttempts: 5, baseDelayMs: 250, maxDelayMs: 10000, maxRetryAfterMs: 30000 }
 * ```
 */
export function resolveRetryPolicy(options: RetryOptions | undefined, field = 'retries'): RetryPolicy {
  if (options === undefined) return { ...DEFAULT_RETRY_POLICY };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ValidationError(field, options, 'must be an object like { maxAttempts, baseDelayMs, maxDelayMs, maxRetryAfterMs }');
  }
  const known = ['maxAttempts', 'baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs'];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new ValidationError(`${field}.${key}`, (options as Record<string, unknown>)[key], `unknown option (expected one of ${known.join(', ')})`);
    }
  }
  const policy = { ...DEFAULT_RETRY_POLICY, ...stripUndefined(options) };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1 || policy.maxAttempts > MAX_ATTEMPTS_LIMIT) {
    throw new ValidationError(`${field}.maxAttempts`, policy.maxAttempts, `must be an integer from 1 to ${MAX_ATTEMPTS_LIMIT}`);
  }
  for (const key of ['baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs'] as const) {
    const v = policy[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new ValidationError(`${field}.${key}`, v, 'must be a finite number of milliseconds >= 0');
    }
  }
  if (policy.maxDelayMs < policy.baseDelayMs) {
    throw new ValidationError(`${field}.maxDelayMs`, policy.maxDelayMs, `must be >= baseDelayMs (${policy.baseDelayMs})`);
  }
  return policy;
}

/**
 * Exponential backoff with full jitter: a uniformly random delay in `[0, min(maxDelayMs, baseDelayMs * 2^(retry-1)))`.
 * `retry` counts from 1 (the first retry).
 *
 * @example
 * ```ts
 * backoffDelayMs(3, { baseDelayMs: 100, maxDelayMs: 10_000 }, () => 0.5); // 200 (half of 100 * 2^2)
 * ```
 */
export function backoffDelayMs(
  retry: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number {
  return Math.floor(backoffCeilingMs(retry, policy.baseDelayMs, policy.maxDelayMs) * clamp01(random()));
}

function clamp01(x: number): number {
  if (!Number.isFinite(x) || x < 0) return 0;
  return x >= 1 ? 0.999999 : x;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
