import { z } from 'zod';
import { optionsPrefix, parseOptions } from '../core/options.js';
import { functionOption, positiveIntegerOption, positiveTokensOption } from '../core/option-schemas.js';
import { thresholdsOption } from './option-schemas.js';
import type { Threshold } from './types.js';

/** Options of {@link ThreadBudgetRegistry}. */
export interface ThreadBudgetRegistryOptions {
  /** Maximum tokens of a thread without its own limit. Default 100 000. */
  maxTokensPerThread?: number;
  /** Warning thresholds. Default 75 % warning, 90 % critical, 95 % final. */
  thresholds?: readonly Threshold[];
  /** Holds lapse by themselves after this many ms. Default: never (every caller settles or releases). */
  reservationTtlMs?: number;
  /** Most threads held at once; creating one more throws `ThreadLimitError` (`TOO_MANY_THREADS`). Default 1 000 000. */
  maxThreads?: number;
  /**
   * The group a thread counts under for `maxThreadsPerGroup` (e.g. its tenant), or `undefined` for none.
   * Called once when a thread is created. Default: no groups.
   */
  groupOf?: (threadId: string) => string | undefined;
  /**
   * Most threads one group holds at once; creating one more throws `ThreadLimitError` with `scope:
   * 'group'`, while other groups go on. Needs `groupOf`. Default: no limit per group.
   */
  maxThreadsPerGroup?: number;
  /**
   * A thread unused for this many ms (no reserve, settle, consume or setBudget) and holding nothing leaves
   * memory, with its spend: its next use starts afresh (a {@link MemoryBudgetLedger} with `restore`
   * rebuilds the spend first). Swept lazily when threads are created. Default: never.
   */
  idleTtlMs?: number;
  /** Receives errors thrown by threshold listeners (they never break accounting). Default: console.error. */
  onError?: (error: unknown) => void;
  /** Clock for reservation expiry, epoch ms. Default `Date.now`. */
  now?: () => number;
}

const RegistryOptions = z
  .object(
    {
      maxTokensPerThread: positiveTokensOption.default(100_000),
      reservationTtlMs: positiveIntegerOption.optional(),
      maxThreads: positiveIntegerOption.default(1_000_000),
      groupOf: functionOption<(threadId: string) => string | undefined>().optional(),
      maxThreadsPerGroup: positiveIntegerOption.optional(),
      idleTtlMs: positiveIntegerOption.optional(),
      now: functionOption<() => number>().default(() => Date.now),
      // Not checked (as before): called only when a listener throws.
      onError: z.custom<(error: unknown) => void>().default(() => defaultOnError),
      thresholds: thresholdsOption,
    },
    { error: 'must be an object' },
  )
  .superRefine((options, ctx) => {
    if (options.maxThreadsPerGroup !== undefined && options.groupOf === undefined) {
      ctx.addIssue({ code: 'custom', path: ['maxThreadsPerGroup'], message: 'needs the groupOf option' });
    }
  });

/** The registry's options, checked, with their defaults. */
export type ResolvedRegistryOptions = z.output<typeof RegistryOptions>;

/** Checks the registry's options (a `ValidationError` names the first one at fault) and fills in defaults. */
export function resolveRegistryOptions(options: ThreadBudgetRegistryOptions): ResolvedRegistryOptions {
  return parseOptions(RegistryOptions, options, optionsPrefix(options));
}

function defaultOnError(err: unknown): void {
  console.error('[tokenwarden] threshold listener failed:', err);
}
