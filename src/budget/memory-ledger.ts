import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { optionsPrefix, parseOptions } from '../core/options.js';
import { assertPositiveTokens, assertThreadId, assertTokenCount } from '../core/validate.js';
import { functionOption } from '../core/option-schemas.js';
import { ThreadBudgetRegistry, type ThreadBudgetRegistryOptions } from './registry.js';
import { recordedUsage, SpendRestorer, type RestoreSpend } from './spend-restorer.js';
import type {
  BudgetLedger,
  LedgerStats,
  Reservation,
  SettleResult,
  ThresholdEvent,
  ThreadUsage,
  UsageCharge,
} from './types.js';

/** Options of {@link MemoryBudgetLedger}: an existing registry, or options to build one. */
export interface MemoryBudgetLedgerOptions extends ThreadBudgetRegistryOptions {
  /** Use this registry (its own options apply; the others here are ignored). */
  registry?: ThreadBudgetRegistry;
  /**
   * Rebuilds the spend of a thread that is not in memory (it idled out, or the process restarted) from
   * the durable record, e.g. a usage store's `summary({ threadId }).totals`. Consulted once when such a
   * thread is first reserved, read, budgeted or ended; concurrent first calls share one restore and wait
   * for it (so they cannot overspend meanwhile). `undefined` or no requests: the thread starts afresh. A
   * restore that fails fails the call with `LedgerUnavailableError`. With `restore`, `idleTtlMs` defaults
   * to 24 hours.
   */
  restore?: RestoreSpend;
}

/** Checks the ledger's own options; the registry checks the rest. */
const MemoryLedgerOptions = z.looseObject(
  {
    registry: z.custom<ThreadBudgetRegistry>().optional(),
    restore: functionOption<RestoreSpend>().optional(),
  },
  { error: 'must be an object' },
);

/** Default lifetime of a hold in a ledger built by {@link MemoryBudgetLedger}: 10 minutes. */
export const DEFAULT_RESERVATION_TTL_MS = 600_000;
/** Default idle expiry of a thread in a ledger built with `restore`: 24 hours. */
export const DEFAULT_RESTORABLE_IDLE_TTL_MS = 24 * 3_600_000;

/**
 * The in-process {@link BudgetLedger} (the default): a {@link ThreadBudgetRegistry} behind the async
 * ledger contract, so code written for a shared ledger (Redis) runs unchanged on one process.
 *
 * With `restore`, memory holds only the threads in use: idle ones leave after `idleTtlMs` and come back
 * with their spend on their next call, and so do all threads after a restart. `groupOf` with
 * `maxThreadsPerGroup` bounds the threads of each group (tenant), so that no group can take them all.
 *
 * @example
 * ```ts
 * const ledger = new MemoryBudgetLedger({
 *   maxTokensPerThread: 20_000,
 *   groupOf: (id) => id.split('/')[0], maxThreadsPerGroup: 10_000,
 *   restore: async (id) => (await store.summary({ threadId: id })).totals,
 * });
 * const hold = await ledger.reserve('acme/t1', 1_500);
 * await ledger.settle(hold, { promptTokens: 900, completionTokens: 200 });
 * await ledger.endThread('acme/t1'); // final usage
 * ```
 */
export class MemoryBudgetLedger implements BudgetLedger {
  /** The registry holding the budgets (it also resolves the plain copies of reservations callers hand back). */
  readonly registry: ThreadBudgetRegistry;
  private readonly restorer: SpendRestorer | undefined;

  constructor(options: MemoryBudgetLedgerOptions = {}) {
    const { registry, restore, ...registryOptions } = parseOptions(MemoryLedgerOptions, options ?? {}, optionsPrefix(options ?? {}));
    this.restorer = restore === undefined ? undefined : new SpendRestorer(restore);
    const idleDefault = restore === undefined ? {} : { idleTtlMs: DEFAULT_RESTORABLE_IDLE_TTL_MS };
    this.registry =
      registry ??
      new ThreadBudgetRegistry({ reservationTtlMs: DEFAULT_RESERVATION_TTL_MS, ...idleDefault, ...registryOptions });
    this.registry.indexHolds();
  }

  async reserve(threadId: string, tokens: number): Promise<Reservation> {
    // hand-written, as in the registry: a zod check per call would cost more than the accounting (bench/core.js)
    assertThreadId('threadId', threadId);
    assertTokenCount('tokens', tokens);
    if (this.restorer !== undefined && !this.registry.hasBudget(threadId)) await this.bringBack(threadId);
    const { id, expiresAt } = this.registry.reserve(threadId, tokens);
    return { id, threadId, tokens, expiresAt };
  }

  async settle(reservation: Reservation, usage: UsageCharge): Promise<SettleResult> {
    assertTokenCount('promptTokens', usage?.promptTokens ?? 0);
    assertTokenCount('completionTokens', usage?.completionTokens ?? 0);
    const hold = this.holdFor(reservation);
    if (!hold) return { charged: false, usage: undefined, crossed: [] };
    const result = this.registry.settle(hold, usage);
    return { charged: result.charged, usage: result.usage, crossed: [...result.crossed] };
  }

  async release(reservation: Reservation): Promise<void> {
    const hold = this.holdFor(reservation);
    if (hold) this.registry.release(hold);
  }

  /** The thread's usage; a thread not in memory is shown as restored (without bringing it back into memory). */
  async usage(threadId: string): Promise<ThreadUsage | undefined> {
    assertThreadId('threadId', threadId);
    const held = this.registry.getUsage(threadId);
    if (held !== undefined || this.restorer === undefined) return held;
    const spent = await this.restorer.restored(threadId);
    return this.registry.getUsage(threadId) ?? recordedUsage(spent, this.registry.defaultMaxTokens);
  }

  async setBudget(threadId: string, maxTokens: number): Promise<ThreadUsage> {
    assertThreadId('threadId', threadId);
    assertPositiveTokens('maxTokens', maxTokens);
    if (this.restorer !== undefined && !this.registry.hasBudget(threadId)) await this.bringBack(threadId);
    return this.registry.setBudget(threadId, maxTokens).toUsage();
  }

  /**
   * Ends the thread: frees its memory (budget, custom maximum, holds) and returns its final usage. With
   * `restore` the spend stays on record: a later call on the same id continues from it.
   */
  async endThread(threadId: string): Promise<ThreadUsage | undefined> {
    assertThreadId('threadId', threadId);
    const ended = this.registry.cleanupThread(threadId)?.toUsage();
    if (ended !== undefined || this.restorer === undefined) return ended;
    return recordedUsage(await this.restorer.restored(threadId), this.registry.defaultMaxTokens);
  }

  onThreshold(listener: (event: ThresholdEvent) => void): () => void {
    return this.registry.onThreshold(listener);
  }

  /** Threads in memory and tokens held, in O(1) (idle threads past their TTL are let go first). */
  stats(): LedgerStats {
    return { liveThreads: this.registry.size, reservedTokens: this.registry.reservedTokens };
  }

  async close(): Promise<void> {
    // Nothing to release: the budgets live in this process.
  }

  /** Puts a thread that is not in memory back, with its recorded spend (refused at once if there is no room). */
  private async bringBack(threadId: string): Promise<void> {
    const refused = this.registry.roomFor(threadId);
    if (refused) throw refused; // before any store query: a full group costs nothing to refuse
    const spent = await this.restorer!.restored(threadId);
    if (spent !== undefined && spent.requestCount > 0) this.registry.restoreThread(threadId, spent);
  }

  /** The registry's live hold this reservation (or a plain copy of it) stands for, if any. */
  private holdFor(reservation: Reservation): Reservation | undefined {
    if (reservation === null || typeof reservation !== 'object' || typeof reservation.id !== 'string') {
      throw new ValidationError('reservation', reservation, 'must be a reservation returned by reserve()');
    }
    return this.registry.holdFor(reservation);
  }
}
