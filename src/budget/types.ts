/** Types shared by the budget registry and the budget ledgers. */

import type { Readiness } from '../core/types.js';

/** Severity of a threshold crossing. */
export type ThresholdSeverity = 'warning' | 'critical' | 'final';

/** A percentage of a thread's budget at which listeners are warned, once per thread. */
export interface Threshold {
  /** Percent of `maxTokens` used, in (0, 100]. */
  percent: number;
  severity: ThresholdSeverity;
}

/** The default thresholds: 75 % warning, 90 % critical, 95 % final. */
export const DEFAULT_THRESHOLDS: readonly Threshold[] = Object.freeze([
  Object.freeze({ percent: 75, severity: 'warning' as const }),
  Object.freeze({ percent: 90, severity: 'critical' as const }),
  Object.freeze({ percent: 95, severity: 'final' as const }),
]);

/** Delivered to threshold listeners when a thread first crosses a threshold. */
export interface ThresholdEvent {
  threadId: string;
  percent: number;
  severity: ThresholdSeverity;
  /** Percent of the maximum actually used (may exceed `percent`). */
  percentUsed: number;
  usedTokens: number;
  remainingTokens: number;
  maxTokens: number;
}

/** A snapshot of a thread's budget. */
export interface ThreadUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** `max(0, maxTokens - totalTokens - reservedTokens)`. */
  remaining: number;
  maxTokens: number;
  requestCount: number;
  /** Tokens held by outstanding reservations. */
  reservedTokens: number;
}

/** A hold on part of a thread's budget, taken before a call and settled or released after it. */
export interface Reservation {
  readonly id: string;
  readonly threadId: string;
  readonly tokens: number;
  /** Epoch milliseconds after which the hold lapses by itself; `undefined` = never. */
  readonly expiresAt: number | undefined;
}

/** The spend of a thread as recorded elsewhere (a usage store's totals), to restore a thread that left memory. */
export interface RestoredSpend {
  promptTokens: number;
  completionTokens: number;
  requestCount: number;
}

/** Actual usage charged when settling a reservation or consuming directly. */
export interface UsageCharge {
  promptTokens?: number;
  completionTokens?: number;
}

/** What settling a reservation did. */
export interface SettleResult {
  /** False when the reservation was already settled, released or expired (nothing was charged). */
  charged: boolean;
  /** The thread's usage afterwards; `undefined` if the thread no longer exists. */
  usage: ThreadUsage | undefined;
  /** Thresholds this charge crossed for the first time. */
  crossed: ThresholdEvent[];
}

/**
 * Where thread budgets live. Async so that a shared store (Redis) fits the same contract as memory.
 * Reserve, settle and release are atomic: concurrent callers can never jointly overspend a thread.
 */
export interface BudgetLedger {
  /** Holds `tokens` of the thread's budget, or throws `BudgetExhaustedError` (nothing held). */
  reserve(threadId: string, tokens: number): Promise<Reservation>;
  /** Charges real usage and frees the hold. Idempotent by reservation id. */
  settle(reservation: Reservation, usage: UsageCharge): Promise<SettleResult>;
  /** Frees the hold without charging. Idempotent. */
  release(reservation: Reservation): Promise<void>;
  /** The thread's usage, or `undefined` if it has no budget yet. */
  usage(threadId: string): Promise<ThreadUsage | undefined>;
  /** Sets the thread's own maximum (creating the thread if needed). */
  setBudget(threadId: string, maxTokens: number): Promise<ThreadUsage>;
  /** Ends the thread: removes its budget and returns its final usage. */
  endThread(threadId: string): Promise<ThreadUsage | undefined>;
  /**
   * Subscribes to threshold crossings (the gateway and the router's callers listen here); returns the
   * unsubscribe function. A crossing is delivered once per thread, on the instance whose charge crossed it.
   */
  onThreshold(listener: (event: ThresholdEvent) => void): () => void;
  /** Releases connections and timers owned by the ledger. */
  close(): Promise<void>;
  /**
   * Whether reservations can be taken now (e.g. Redis reachable), for a server's readiness probe.
   * Optional: a ledger without it (in memory) is always ready.
   */
  readiness?(): Promise<Readiness>;
  /**
   * Threads this ledger holds and tokens held by live reservations, for the gateway's metrics. Optional;
   * absent or `undefined` when the ledger cannot tell cheaply (a shared ledger): callers then count what
   * they see themselves. Callers never need the ledger's concrete class or its internals (a memory
   * ledger's `registry`) for these.
   */
  stats?(): LedgerStats | undefined;
}

/** Counts a ledger reports for metrics ({@link BudgetLedger.stats}). */
export interface LedgerStats {
  liveThreads: number;
  reservedTokens: number;
}
