import { ThreadBudgetRegistry, type ThreadBudgetRegistryOptions } from '../../budget/registry.js';
import { ValidationError } from '../../errors.js';
import { assertTokenCount } from '../../validate.js';
import type {
  BudgetLedger,
  Reservation,
  SettleResult,
  ThresholdEvent,
  ThreadUsage,
  UsageCharge,
} from '../../budget/types.js';

/** Options of {@link MemoryBudgetLedger}: an existing registry, or options to build one. */
export interface MemoryBudgetLedgerOptions extends ThreadBudgetRegistryOptions {
  /** Use this registry (its own options apply; the others here are ignored). */
  registry?: ThreadBudgetRegistry;
}

/** Default lifetime of a hold in a ledger built by {@link MemoryBudgetLedger}: 10 minutes. */
export const DEFAULT_RESERVATION_TTL_MS = 600_000;

/**
 * The in-process {@link BudgetLedger} (the default): a {@link ThreadBudgetRegistry} behind the async
 * ledger contract, so code written for a shared ledger (Redis) runs unchanged on one process.
 *
 * @example
 * ```ts
 * const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 20_000 });
 * const hold = await ledger.reserve('t1', 1_500);
 * await ledger.settle(hold, { promptTokens: 900, completionTokens: 200 });
 * await ledger.endThread('t1'); // final usage
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

  constructor(options: MemoryBudgetLedgerOptions = {}) {
    const { registry, ...registryOptions } = options;
    this.registry =
      registry ?? new ThreadBudgetRegistry({ reservationTtlMs: DEFAULT_RESERVATION_TTL_MS, ...registryOptions });
  }

  async reserve(threadId: string, tokens: number): Promise<Reservation> {
    this.sweep();
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

  async usage(threadId: string): Promise<ThreadUsage | undefined> {
    return this.registry.getUsage(threadId);
  }

  async setBudget(threadId: string, maxTokens: number): Promise<ThreadUsage> {
    return this.registry.setBudget(threadId, maxTokens).toUsage();
  }

  async endThread(threadId: string): Promise<ThreadUsage | undefined> {
    return this.registry.cleanupThread(threadId)?.toUsage();
  }

  onThreshold(listener: (event: ThresholdEvent) => void): () => void {
    return this.registry.onThreshold(listener);
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

  async close(): Promise<void> {
    // Nothing to release: the budgets live in this process.
  }
}
