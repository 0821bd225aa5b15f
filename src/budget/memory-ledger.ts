import { ThreadBudgetRegistry, type ThreadBudgetRegistryOptions } from './registry.js';
import { LedgerUnavailableError, ValidationError } from '../core/errors.js';
import { assertPositiveTokens, assertThreadId, assertTokenCount } from '../core/validate.js';
import type {
  BudgetLedger,
  LedgerStats,
  Reservation,
  RestoredSpend,
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
  restore?: (threadId: string) => Promise<RestoredSpend | undefined>;
}

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
  /** The registry holding the budgets. */
  readonly registry: ThreadBudgetRegistry;
  /**
   * The registry's reservation objects by id, so callers may hand back plain copies (as they must with a
   * shared ledger). In creation order, which is expiry order: lapsed entries are swept from the front.
   */
  private readonly holds = new Map<string, Reservation>();
  private readonly restore: ((threadId: string) => Promise<RestoredSpend | undefined>) | undefined;
  /** Restores in flight, by thread: concurrent first calls of a thread share one. */
  private readonly restoring = new Map<string, Promise<RestoredSpend | undefined>>();

  constructor(options: MemoryBudgetLedgerOptions = {}) {
    const { registry, restore, ...registryOptions } = options;
    if (restore !== undefined && typeof restore !== 'function') throw new ValidationError('restore', restore, 'must be a function');
    this.restore = restore;
    const idleDefault = restore === undefined ? {} : { idleTtlMs: DEFAULT_RESTORABLE_IDLE_TTL_MS };
    this.registry =
      registry ??
      new ThreadBudgetRegistry({ reservationTtlMs: DEFAULT_RESERVATION_TTL_MS, ...idleDefault, ...registryOptions });
  }

  async reserve(threadId: string, tokens: number): Promise<Reservation> {
    assertThreadId('threadId', threadId);
    assertTokenCount('tokens', tokens);
    this.sweep();
    if (this.restore !== undefined && !this.registry.hasBudget(threadId)) await this.bringBack(threadId);
    const hold = this.registry.reserve(threadId, tokens);
    const { id, expiresAt } = hold;
    this.holds.set(id, hold);
    return { id, threadId, tokens, expiresAt };
  }

  async settle(reservation: Reservation, usage: UsageCharge): Promise<SettleResult> {
    assertTokenCount('promptTokens', usage?.promptTokens ?? 0);
    assertTokenCount('completionTokens', usage?.completionTokens ?? 0);
    const hold = this.take(reservation);
    if (!hold) return { charged: false, usage: undefined, crossed: [] };
    const result = this.registry.settle(hold, usage);
    return { charged: result.charged, usage: result.usage, crossed: [...result.crossed] };
  }

  async release(reservation: Reservation): Promise<void> {
    const hold = this.take(reservation);
    if (hold) this.registry.release(hold);
  }

  /** The thread's usage; a thread not in memory is shown as restored (without bringing it back into memory). */
  async usage(threadId: string): Promise<ThreadUsage | undefined> {
    assertThreadId('threadId', threadId);
    const held = this.registry.getUsage(threadId);
    if (held !== undefined || this.restore === undefined) return held;
    const spent = await this.restored(threadId);
    return this.registry.getUsage(threadId) ?? this.snapshot(spent);
  }

  async setBudget(threadId: string, maxTokens: number): Promise<ThreadUsage> {
    assertThreadId('threadId', threadId);
    assertPositiveTokens('maxTokens', maxTokens);
    if (this.restore !== undefined && !this.registry.hasBudget(threadId)) await this.bringBack(threadId);
    return this.registry.setBudget(threadId, maxTokens).toUsage();
  }

  /**
   * Ends the thread: frees its memory (budget, custom maximum, holds) and returns its final usage. With
   * `restore` the spend stays on record: a later call on the same id continues from it.
   */
  async endThread(threadId: string): Promise<ThreadUsage | undefined> {
    assertThreadId('threadId', threadId);
    const ended = this.registry.cleanupThread(threadId)?.toUsage();
    if (ended !== undefined || this.restore === undefined) return ended;
    return this.snapshot(await this.restored(threadId));
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
    const spent = await this.restored(threadId);
    if (spent !== undefined && spent.requestCount > 0) this.registry.restoreThread(threadId, spent);
  }

  /** The recorded spend of a thread, one restore per thread at a time. */
  private restored(threadId: string): Promise<RestoredSpend | undefined> {
    let pending = this.restoring.get(threadId);
    if (pending === undefined) {
      pending = this.load(threadId).finally(() => this.restoring.delete(threadId));
      this.restoring.set(threadId, pending);
    }
    return pending;
  }

  private async load(threadId: string): Promise<RestoredSpend | undefined> {
    let spent: RestoredSpend | undefined;
    try {
      spent = await this.restore!(threadId);
    } catch (err) {
      // No thread id in the message: it may be an internal (namespaced) id that reaches a client.
      throw new LedgerUnavailableError(`restoring a thread's spend from the usage record failed: ${errorMessage(err)}`, { cause: err });
    }
    if (spent === undefined || spent === null) return undefined;
    if (typeof spent !== 'object') throw new ValidationError('restore()', spent, 'must resolve to { promptTokens, completionTokens, requestCount } or undefined');
    const { promptTokens, completionTokens, requestCount } = spent;
    assertTokenCount('restore().promptTokens', promptTokens);
    assertTokenCount('restore().completionTokens', completionTokens);
    assertTokenCount('restore().requestCount', requestCount);
    return { promptTokens, completionTokens, requestCount };
  }

  /** A thread's usage as recorded, for a thread not in memory (default maximum, nothing held). */
  private snapshot(spent: RestoredSpend | undefined): ThreadUsage | undefined {
    if (spent === undefined || spent.requestCount === 0) return undefined;
    const maxTokens = this.registry.defaultMaxTokens;
    const totalTokens = spent.promptTokens + spent.completionTokens;
    return { ...spent, totalTokens, remaining: Math.max(0, maxTokens - totalTokens), maxTokens, reservedTokens: 0 };
  }

  /** Removes and returns the registry's reservation matching this one (same id and thread), if live. */
  private take(reservation: Reservation): Reservation | undefined {
    if (reservation === null || typeof reservation !== 'object' || typeof reservation.id !== 'string') {
      throw new ValidationError('reservation', reservation, 'must be a reservation returned by reserve()');
    }
    const hold = this.holds.get(reservation.id);
    if (!hold || hold.threadId !== reservation.threadId) return undefined;
    this.holds.delete(reservation.id);
    return hold;
  }

  /** Forgets reservations that lapsed unsettled (oldest first, up to the first live one). */
  private sweep(): void {
    for (const [id, hold] of this.holds) {
      if (this.registry.isLive(hold)) break;
      this.holds.delete(id);
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
