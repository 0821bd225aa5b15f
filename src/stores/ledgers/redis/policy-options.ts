import type { Redis } from 'ioredis';
import { z } from 'zod';
import { functionOption, positiveIntegerOption } from '../../../core/option-schemas.js';
import { optionsPrefix, parseOptions } from '../../../core/options.js';
import type { RestorePolicySpend } from '../../../budget/policy-types.js';
import { MAX_BATCH } from './ledger-options.js';
import { rateLimitedWarn, type RedisLedgerOperation } from './ledger-support.js';

/** Options of {@link RedisPolicyLedger}. */
export interface RedisPolicyLedgerOptions {
  /**
   * An ioredis client you already have (the ledger never closes it; it may be the thread ledger's).
   * Exclusive with `url`. The ledger registers its scripts on it (`defineCommand`, named after their hash).
   */
  client?: Redis;
  /** Redis to connect to when no `client` is given. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prefix of every key the ledger writes. Default `tw:`. */
  keyPrefix?: string;
  /** Clock, epoch ms (hold expiry). Default `Date.now`. Instances sharing a Redis should keep their clocks in step. */
  now?: () => number;
  /** A hold lapses by itself after this many ms, so a crashed caller or instance never pins a budget. Default 600 000. */
  reservationTtlMs?: number;
  /**
   * The recorded spend of a budget line that is not in Redis (first use, a Redis restart, an evicted key),
   * e.g. from a usage store's `summary()`. Concurrent first touches on this instance share one restore;
   * instances restoring the same line at once create it once. A failing restore fails the call with
   * `LedgerUnavailableError`. Default: none (a missing line starts at zero). Rate lines are never restored.
   */
  restore?: RestorePolicySpend;
  /**
   * When Redis cannot be reached: `false` (default) rejects with `LedgerUnavailableError`; `true` lets calls
   * through unmetered: `reserve` returns a reservation that holds nothing (its id starts with
   * `FAIL_OPEN_RESERVATION_PREFIX`; standings at zero), `settle` and `release` do nothing, and the error goes
   * to `onError`. `standing`, `top` and the overrides always reject.
   */
  failOpen?: boolean;
  /** A command that gets no answer within this many ms fails with `LedgerUnavailableError`. Default 1 000. */
  commandTimeoutMs?: number;
  /** Most reserve/settle/release calls of one tick sent as one script call (at most 1 000; 1 turns batching off). Default 128. */
  maxBatch?: number;
  /** Receives errors no caller sees (connection errors, listeners' throws). Default: `console.warn`, at most one line per 10 s. */
  onError?: (error: Error, operation: RedisLedgerOperation) => void;
}

type ErrorHook = (error: Error, operation: RedisLedgerOperation) => void;

const PolicyLedgerOptions = z
  .object(
    {
      client: z
        .custom<Redis>((c) => typeof c === 'object' && c !== null && typeof (c as { defineCommand?: unknown }).defineCommand === 'function', {
          error: 'must be an ioredis Redis client',
        })
        .optional(),
      url: z.string({ error: 'must be a redis:// or rediss:// URL' }).regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' }).optional(),
      keyPrefix: z.string({ error: 'must be a string' }).default('tw:'),
      now: functionOption<() => number>().default(() => Date.now),
      reservationTtlMs: positiveIntegerOption.default(600_000),
      restore: functionOption<RestorePolicySpend>().optional(),
      failOpen: z.boolean({ error: 'must be a boolean' }).default(false),
      commandTimeoutMs: positiveIntegerOption.default(1_000),
      maxBatch: positiveIntegerOption.refine((n) => n <= MAX_BATCH, { error: `must be at most ${MAX_BATCH}` }).default(128),
      onError: functionOption<ErrorHook>().default(() => rateLimitedWarn()),
    },
    { error: 'must be an object' },
  )
  .superRefine((o, ctx) => {
    if (o.client !== undefined && o.url !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'cannot be combined with client (the client already names its server)' });
    }
  });

/** The policy ledger's options, checked, with their defaults. */
export type ResolvedPolicyLedgerOptions = z.output<typeof PolicyLedgerOptions>;

/** Checks the options (a `ValidationError` names the first one at fault) and fills in defaults. */
export function resolvePolicyLedgerOptions(options: RedisPolicyLedgerOptions): ResolvedPolicyLedgerOptions {
  return parseOptions(PolicyLedgerOptions, options, optionsPrefix(options));
}
