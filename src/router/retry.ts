import { backoffCeilingMs } from '../core/backoff.js';
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import { unknownKey } from '../core/option-schemas.js';

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
const RETRY_KEYS = ['maxAttempts', 'baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs'];
const attemptsError = `must be an integer from 1 to ${MAX_ATTEMPTS_LIMIT}`;
const delayError = 'must be a finite number of milliseconds >= 0';
const delay = () => z.number({ error: delayError }).min(0, { error: delayError }).optional();

/** Retry options as given (the `maxDelayMs >= baseDelayMs` check needs the defaults: see {@link resolveRetryPolicy}). */
export const RetryOptionsSchema = z
  .object(
    {
      maxAttempts: z.number({ error: attemptsError }).int({ error: attemptsError }).min(1, { error: attemptsError }).max(MAX_ATTEMPTS_LIMIT, { error: attemptsError }).optional(),
      baseDelayMs: delay(),
      maxDelayMs: delay(),
      maxRetryAfterMs: delay(),
    },
    { error: `must be an object like { ${RETRY_KEYS.join(', ')} }` },
  )
  .catchall(unknownKey(`unknown option (expected one of ${RETRY_KEYS.join(', ')})`));

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
  const checked = parseOptions(RetryOptionsSchema, options, field);
  const policy = { ...DEFAULT_RETRY_POLICY, ...stripUndefined(checked) };
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
