import { ThreadBudgetRegistry, type ThreadBudgetRegistryOptions } from '../../budget/registry.js';
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

  constructor(options: MemoryBudgetLedgerOptions = {}) {
    const { registry, ...registryOptions } = options;
    this.registry =
      registry ?? new ThreadBudgetRegistry({ reservationTtlMs: DEFAULT_RESERVATION_TTL_MS, ...registryOptions });
  }

  async reserve(threadId: string, tokens: number): Promise<Reservation> {
    return this.registry.reserve(threadId, tokens);
  }

  async settle(reservation: Reservation, usage: UsageCharge): Promise<SettleResult> {
    return this.registry.settle(reservation, usage);
  }

  async release(reservation: Reservation): Promise<void> {
    this.registry.release(reservation);
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

  async close(): Promise<void> {
    // Nothing to release: the budgets live in this process.
  }
}
