import { z } from 'zod';
import { parseOptions } from '../core/options.js';
import { integerAtLeast, unknownKey } from '../core/option-schemas.js';

/** When a failing backend is set aside. */
export interface CooldownOptions {
  /** Consecutive retryable failures after which a backend cools down. Default 5. */
  failureThreshold?: number;
  /** How long a cooling backend is skipped, ms. Default 30 000. */
  cooldownMs?: number;
}

/** {@link CooldownOptions} with defaults filled in. */
export type CooldownPolicy = Required<CooldownOptions>;

/** The defaults: 5 consecutive failures cool a backend down for 30 s. */
export const DEFAULT_COOLDOWN_POLICY: Readonly<CooldownPolicy> = Object.freeze({ failureThreshold: 5, cooldownMs: 30_000 });

const cooldownError = 'must be a finite number of milliseconds >= 0';
/** Cooldown options as given. */
export const CooldownOptionsSchema = z
  .object(
    {
      // integerAtLeast checks Number.isInteger, not z.int(): a threshold above 2^53 still means "never" as it always did.
      failureThreshold: integerAtLeast(1).nullish(),
      cooldownMs: z.number({ error: cooldownError }).min(0, { error: cooldownError }).nullish(),
    },
    { error: 'must be an object like { failureThreshold, cooldownMs }' },
  )
  .catchall(unknownKey('unknown option (expected failureThreshold or cooldownMs)'));

/**
 * Validates cooldown options (naming the bad one) and fills in the defaults.
 *
 * @example
 * ```ts
 * resolveCooldownPolicy({ failureThreshold: 2 }); // { failureThreshold: 2, cooldownMs: 30000 }
 * ```
 */
export function resolveCooldownPolicy(options: CooldownOptions | undefined, field = 'cooldown'): CooldownPolicy {
  if (options === undefined) return { ...DEFAULT_COOLDOWN_POLICY };
  const checked = parseOptions(CooldownOptionsSchema, options, field);
  return {
    failureThreshold: checked.failureThreshold ?? DEFAULT_COOLDOWN_POLICY.failureThreshold,
    cooldownMs: checked.cooldownMs ?? DEFAULT_COOLDOWN_POLICY.cooldownMs,
  };
}

/**
 * Health of one backend as the router sees it: consecutive failures (a cooldown once they reach the
 * threshold) and the time before which the provider asked not to be called again (Retry-After).
 * A success clears both. A backend still failing after its cooldown cools down again at its next
 * failure, since the failure count is only reset by a success.
 *
 * @example
 * ```ts
 * const health = new BackendHealth();
 * health.recordFailure(now, { failureThreshold: 3, cooldownMs: 10_000 });
 * health.isCooling(now); // false until the third consecutive failure
 * ```
 */
export class BackendHealth {
  consecutiveFailures = 0;
  /** Epoch ms until which the backend is skipped (0 = not cooling). */
  coolingUntil = 0;
  /** Epoch ms before which the provider asked not to be called (0 = no request). */
  retryNotBefore = 0;

  /** Whether the backend is cooling down at `now`. */
  isCooling(now: number): boolean {
    return this.coolingUntil > now;
  }

  /** Milliseconds from `now` until the provider's Retry-After has passed. */
  retryAfterRemaining(now: number): number {
    return Math.max(0, this.retryNotBefore - now);
  }

  /** Counts a retryable failure; cools the backend down when the threshold is reached. */
  recordFailure(now: number, policy: CooldownPolicy, retryAfterMs?: number): void {
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= policy.failureThreshold) this.coolingUntil = now + policy.cooldownMs;
    if (retryAfterMs !== undefined && retryAfterMs > 0) {
      this.retryNotBefore = Math.max(this.retryNotBefore, now + retryAfterMs);
    }
  }

  /** A call succeeded: the backend is healthy again. */
  recordSuccess(): void {
    this.consecutiveFailures = 0;
    this.coolingUntil = 0;
    this.retryNotBefore = 0;
  }
}
