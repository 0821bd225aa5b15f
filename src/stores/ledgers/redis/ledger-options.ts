import type { Redis } from 'ioredis';
import { z } from 'zod';
import { functionOption, positiveIntegerOption, positiveTokensOption } from '../../../core/option-schemas.js';
import { optionsPrefix, parseOptions } from '../../../core/options.js';
import { thresholdsOption } from '../../../budget/option-schemas.js';
import type { RestoreSpend } from '../../../budget/spend-restorer.js';
import type { Reservation, Threshold } from '../../../budget/types.js';
import { rateLimitedWarn, type RedisLedgerOperation } from './ledger-support.js';

export type { RedisLedgerOperation } from './ledger-support.js';


/** Options of {@link RedisBudgetLedger}. */
export interface RedisBudgetLedgerOptions {
  /**
   * An ioredis client you already have. The ledger never closes it. Exclusive with `url`. The ledger
   * registers its scripts on it as custom commands (`defineCommand`) named `tokenwarden_<sha1 of the
   * script>`, and adds an 'error' and a 'ready' listener (removed by `close()`).
   */
  client?: Redis;
  /** Redis to connect to when no `client` is given. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prefix of every key the ledger writes. Default `tw:`. */
  keyPrefix?: string;
  /** Maximum tokens of a thread without its own limit (fixed when the thread is created). Default 100 000. */
  maxTokensPerThread?: number;
  /** Warning thresholds. Default 75 % warning, 90 % critical, 95 % final. */
  thresholds?: readonly Threshold[];
  /**
   * The group a thread counts under for `maxThreadsPerGroup` (e.g. its tenant), or `undefined` for none.
   * Default: no groups.
   */
  groupOf?: (threadId: string) => string | undefined;
  /**
   * Rebuilds the spend of a thread that is not in Redis (its keys idled out, or Redis lost its data) from
   * the durable record, e.g. a usage store's `summary({ threadId }).totals`; consulted when a reserve,
   * setBudget, usage or endThread finds the thread missing. Concurrent first calls on this instance share
   * one restore; instances that restore the same thread at once create it once (the first wins). A failing
   * restore fails the call with `LedgerUnavailableError` (so `failOpen` lets the call through unmetered).
   * Default: none (a missing thread starts afresh).
   */
  restore?: RestoreSpend;
  /**
   * Most threads one group holds at once across every instance: a reserve that would create one more
   * rejects with `ThreadLimitError` (`scope: 'group'`) while other groups go on. A thread counts until it
   * ends or is unused for `groupWindowMs`. Each group keeps a sorted set `<prefix>{<group>}:g`. Needs
   * `groupOf`. Default: no limit.
   */
  maxThreadsPerGroup?: number;
  /**
   * A thread counts toward `maxThreadsPerGroup` until unused this long (its spend stays until its keys
   * idle out, `threadTtlMs`; used again, it counts again). Last uses are known to within the lazy refresh
   * of the keys' expiry (at most an hour, a tenth of `threadTtlMs`). From 60 000 to `threadTtlMs`.
   * Default `threadTtlMs`.
   */
  groupWindowMs?: number;
  /** A hold lapses by itself after this many ms, so a dead instance's holds come back. Default 600 000 (10 min). */
  reservationTtlMs?: number;
  /**
   * A thread's keys expire after about this many ms without a reserve, settle or setBudget (at least 90 %
   * of it, or all of it less one hour, whichever is more; never before a hold taken on it lapses).
   * At least `reservationTtlMs`. Default 7 days.
   */
  threadTtlMs?: number;
  /**
   * When Redis cannot be reached: `false` (default) rejects with `LedgerUnavailableError`; `true` lets
   * calls through unmetered: `reserve` returns a synthetic reservation (see {@link isFailOpenReservation}),
   * `settle`, `release` and `usage` do nothing, and the error goes to `onError`. `setBudget` and
   * `endThread` always reject.
   */
  failOpen?: boolean;
  /**
   * Receives errors no caller sees: connection errors, errors thrown by threshold listeners and failures
   * swallowed in fail-open mode. Default: `console.warn`, at most one line per 10 s.
   */
  onError?: (error: Error, operation: RedisLedgerOperation) => void;
  /**
   * A command that gets no answer within this many ms fails with `LedgerUnavailableError`. Default 1 000.
   * (Applied by ioredis on the ledger's own client, by the ledger on a supplied client that has no
   * `commandTimeout` of its own.)
   */
  commandTimeoutMs?: number;
  /**
   * Most reserve, settle and release calls made in the same tick that are sent to Redis as one script
   * call (at most 1 000). Batching pays a script's fixed cost once per batch, and reads and writes each
   * thread once per batch; each call stays atomic. 1 turns it off. Default 128.
   */
  maxBatch?: number;
  /**
   * ioredis `enableAutoPipelining` on the ledger's own client. Default false: with batching there is
   * about one script call per tick, so there is little left to pipeline.
   */
  autoPipelining?: boolean;
  /**
   * Clock for hold expiry, epoch ms. Default `Date.now`. Instances sharing a Redis should keep their
   * clocks in step (NTP): a skew of s ms lengthens or shortens other instances' holds by s ms.
   */
  now?: () => number;
}

/** Id prefix of the synthetic reservations that a fail-open ledger hands out while Redis is unreachable. */
export const FAIL_OPEN_RESERVATION_PREFIX = 'failopen:';

/**
 * Whether a reservation is a synthetic one handed out by a fail-open ledger while Redis was unreachable
 * (it holds nothing; settling or releasing it does nothing).
 *
 * @example
 * ```ts
 * const hold = await ledger.reserve('thread-1', 500);
 * if (isFailOpenReservation(hold)) metrics.unmeteredCalls.inc();
 * ```
 */
export function isFailOpenReservation(reservation: Reservation): boolean {
  return typeof reservation?.id === 'string' && reservation.id.startsWith(FAIL_OPEN_RESERVATION_PREFIX);
}

/** Most operations of one batch: bounds the Lua `unpack` of its holds (Lua's C stack holds about 8 000 values). */
export const MAX_BATCH = 1_000;
const DEFAULT_RESERVATION_TTL_MS = 10 * 60_000;
const DEFAULT_THREAD_TTL_MS = 7 * 24 * 3_600_000;

type ErrorHook = (error: Error, operation: RedisLedgerOperation) => void;

const boolean = z.boolean({ error: 'must be a boolean' });

const RedisLedgerOptions = z
  .object(
    {
      client: z
        .custom<Redis>((c) => typeof c === 'object' && c !== null && typeof (c as { defineCommand?: unknown }).defineCommand === 'function', {
          error: 'must be an ioredis Redis client',
        })
        .optional(),
      url: z.string({ error: 'must be a redis:// or rediss:// URL' }).regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' }).optional(),
      keyPrefix: z.string({ error: 'must be a string' }).default('tw:'),
      maxTokensPerThread: positiveTokensOption.default(100_000),
      reservationTtlMs: positiveIntegerOption.default(DEFAULT_RESERVATION_TTL_MS),
      threadTtlMs: positiveIntegerOption.default(DEFAULT_THREAD_TTL_MS),
      failOpen: boolean.default(false),
      onError: functionOption<ErrorHook>().default(() => rateLimitedWarn()),
      commandTimeoutMs: positiveIntegerOption.default(1_000),
      maxBatch: positiveIntegerOption.refine((n) => n <= MAX_BATCH, { error: `must be at most ${MAX_BATCH}` }).default(128),
      autoPipelining: boolean.default(false),
      now: functionOption<() => number>().default(() => Date.now),
      groupOf: functionOption<(threadId: string) => string | undefined>().optional(),
      maxThreadsPerGroup: positiveIntegerOption.optional(),
      groupWindowMs: positiveIntegerOption.optional(),
      restore: functionOption<RestoreSpend>().optional(),
      thresholds: thresholdsOption,
    },
    { error: 'must be an object' },
  )
  .superRefine((o, ctx) => {
    const problem = (option: string, message: string) => ctx.addIssue({ code: 'custom', path: [option], message });
    if (o.client !== undefined && o.url !== undefined) problem('url', 'cannot be combined with client (the client already names its server)');
    if (o.threadTtlMs < o.reservationTtlMs) problem('threadTtlMs', `must be at least reservationTtlMs (${o.reservationTtlMs})`);
    if (o.maxThreadsPerGroup !== undefined && o.groupOf === undefined) problem('maxThreadsPerGroup', 'needs the groupOf option');
    if (o.groupWindowMs !== undefined && (o.groupWindowMs < 60_000 || o.groupWindowMs > o.threadTtlMs)) {
      problem('groupWindowMs', `must be from 60000 to threadTtlMs (${o.threadTtlMs})`);
    }
  });

/** The ledger's options, checked, with their defaults. */
export type ResolvedRedisLedgerOptions = z.output<typeof RedisLedgerOptions>;

/** Checks the ledger's options (a `ValidationError` names the first one at fault) and fills in defaults. */
export function resolveRedisLedgerOptions(options: RedisBudgetLedgerOptions): ResolvedRedisLedgerOptions {
  return parseOptions(RedisLedgerOptions, options, optionsPrefix(options));
}
