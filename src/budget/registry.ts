import { BudgetExhaustedError, ValidationError, type ThreadLimitError } from '../core/errors.js';
import { assertPositiveTokens, assertThreadId, assertTokenCount } from '../core/validate.js';
import { budgetOf, finish, Hold, HoldQueue, isDone, isHoldOf, Settled, threadIdOf, tokensOf } from './hold.js';
import { resolveRegistryOptions, type ThreadBudgetRegistryOptions } from './registry-options.js';
import { checkedSpend } from './spend-restorer.js';
import { ThreadBudget } from './thread-budget.js';
import { ThreadTable } from './thread-table.js';
import { ThresholdListeners, type ThresholdListener } from './threshold-listeners.js';
import { crossedThresholds } from './thresholds.js';
import type {
  Reservation,
  RestoredSpend,
  SettleResult,
  Threshold,
  ThresholdEvent,
  ThreadUsage,
  UsageCharge,
} from './types.js';

import { NO_THRESHOLD_EVENTS, NOT_CHARGED } from './settle-results.js';

export type { ThreadBudgetRegistryOptions } from './registry-options.js';


/**
 * Per-thread token budgets, held in memory.
 *
 * Calls reserve before they run and settle afterwards; a reservation is atomic with its check, so
 * concurrent callers can never jointly overspend a thread. Listeners are warned once per thread as it
 * crosses each threshold.
 *
 * @example
 * ```ts
 * const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 50_000 });
 * const hold = registry.reserve('thread-1', 1_200);        // throws BudgetExhaustedError if it can't
 * // ... call the model ...
 * registry.settle(hold, { promptTokens: 700, completionTokens: 310 });
 * registry.getUsage('thread-1'); // { totalTokens: 1010, remaining: 48990, reservedTokens: 0, ... }
 * ```
 */
export class ThreadBudgetRegistry {
  private maxTokensPerThread: number;
  private readonly thresholds: readonly Threshold[];
  private readonly reservationTtlMs: number | undefined;
  private readonly idleTtlMs: number | undefined;
  private readonly table: ThreadTable;
  private readonly now: () => number;
  private readonly budgets: Map<string, ThreadBudget>;
  /** Live holds. */
  private liveHolds = 0;
  /** Tokens held by live holds of live threads. */
  private reservedTotal = 0;
  /** With a TTL: holds in creation order, which is also expiry order (the TTL is fixed). */
  private readonly expiry = new HoldQueue();
  private readonly lapse = (hold: Hold): void => {
    this.unhold(hold);
  };
  /** Live holds by id, kept once a ledger asked for them ({@link indexHolds}). */
  private holdsById: Map<string, Hold> | undefined;
  private readonly listeners: ThresholdListeners;
  private sequence = 0;

  constructor(options: ThreadBudgetRegistryOptions = {}) {
    const { maxThreads, maxThreadsPerGroup, groupOf, idleTtlMs, now, ...rest } = resolveRegistryOptions(options);
    this.maxTokensPerThread = rest.maxTokensPerThread;
    this.thresholds = rest.thresholds;
    this.reservationTtlMs = rest.reservationTtlMs;
    this.idleTtlMs = idleTtlMs;
    this.listeners = new ThresholdListeners(rest.onError);
    this.now = now;
    this.table = new ThreadTable({ maxThreads, maxThreadsPerGroup, groupOf, idleTtlMs, now }, (budget) => {
      budget.ended = true;
    });
    this.budgets = this.table.budgets;
  }

  /** Number of threads with a budget (idle ones past `idleTtlMs` are let go first). */
  get size(): number {
    this.expireHolds();
    this.table.sweep();
    return this.budgets.size;
  }

  /** The maximum of a thread without its own limit. */
  get defaultMaxTokens(): number {
    return this.maxTokensPerThread;
  }

  /** Tokens held by live reservations across all threads (O(1)). */
  get reservedTokens(): number {
    this.expireHolds();
    return this.reservedTotal;
  }

  /** Threads of `group` held now (see the `groupOf` option). */
  groupSize(group: string): number {
    return this.table.groupSize(group);
  }

  /** Number of outstanding reservations (live holds) across all threads. */
  get reservationCount(): number {
    this.expireHolds();
    return this.liveHolds;
  }

  /** Whether `reservation` (an object this registry returned) is still held. */
  isLive(reservation: Reservation): boolean {
    this.expireHolds();
    return isHoldOf(reservation, this) && !isDone(reservation);
  }

  /**
   * Keeps live holds by id from now on, so that {@link holdFor} finds the hold a plain copy stands for (as
   * the callers of a {@link MemoryBudgetLedger} hand back). Idempotent.
   */
  indexHolds(): void {
    this.holdsById ??= new Map();
  }

  /**
   * The hold, reserved since {@link indexHolds}, that `reservation` (the hold or a plain copy: same id and
   * thread) stands for, or `undefined` once it was settled or released (or its lapse was noticed). Pass it to
   * {@link settle} or {@link release}, which charge nothing for a hold that has lapsed.
   */
  holdFor(reservation: Reservation): Reservation | undefined {
    // No expiry here: settle and release lapse what is due first (one clock read per call instead of two).
    const hold = this.holdsById?.get(reservation.id);
    return hold !== undefined && hold.threadId === reservation.threadId ? hold : undefined;
  }

  /** Changes the default maximum for threads created from now on. */
  configure(options: { maxTokensPerThread?: number }): void {
    if (options.maxTokensPerThread !== undefined) {
      assertPositiveTokens('maxTokensPerThread', options.maxTokensPerThread);
      this.maxTokensPerThread = options.maxTokensPerThread;
    }
  }

  /** The thread's budget, created with the default maximum if it has none. */
  getBudget(threadId: string): ThreadBudget {
    assertThreadId('threadId', threadId);
    return this.budgets.get(threadId) ?? this.create(threadId, this.maxTokensPerThread);
  }

  /** Whether the thread has a budget (without creating one). */
  hasBudget(threadId: string): boolean {
    return this.budgets.has(threadId);
  }

  /** Sets the thread's own maximum, above or below the default, creating the thread if needed. */
  setBudget(threadId: string, maxTokens: number): ThreadBudget {
    assertThreadId('threadId', threadId);
    assertPositiveTokens('maxTokens', maxTokens);
    const budget = this.budgets.get(threadId);
    if (!budget) {
      const created = this.create(threadId, maxTokens);
      created.ownMax = true;
      return created;
    }
    budget.ownMax = true;
    if (this.idleTtlMs !== undefined) budget.lastUsedAt = this.now();
    budget.maxTokens = maxTokens;
    budget.nextThresholdAt = 0;
    this.emit(this.crossings(threadId, budget));
    return budget;
  }

  /**
   * Returns `true` if the thread can afford `estimatedTokens` more (beside what is charged and held),
   * else throws {@link BudgetExhaustedError}. Takes no hold: prefer {@link reserve} when calls run
   * concurrently.
   */
  checkBudget(threadId: string, estimatedTokens: number): true {
    assertThreadId('threadId', threadId);
    assertTokenCount('estimatedTokens', estimatedTokens);
    const budget = this.budgets.get(threadId);
    if (budget) {
      this.expireHolds();
      if (!budget.canConsume(estimatedTokens)) throw this.exhausted(threadId, budget, estimatedTokens);
    } else if (estimatedTokens > this.maxTokensPerThread) {
      throw new BudgetExhaustedError({ threadId, used: 0, maxTokens: this.maxTokensPerThread, requested: estimatedTokens });
    }
    return true;
  }

  /** Charges usage to the thread (one request), creating its budget if needed. */
  consume(threadId: string, charge: UsageCharge = {}): ThreadBudget {
    const budget = this.getBudget(threadId);
    budget.consume(charge);
    if (this.idleTtlMs !== undefined) budget.lastUsedAt = this.now();
    this.emit(this.crossings(threadId, budget));
    return budget;
  }

  /**
   * Atomically checks and holds `tokens` of the thread's budget. Throws {@link BudgetExhaustedError}
   * (holding nothing) when charged + held + `tokens` would exceed the maximum.
   */
  reserve(threadId: string, tokens: number): Reservation {
    // hand-written: a zod check costs ~0.23 µs (4.4 M/s vs 150 M/s), more than doubling reserve + settle in bench/core.js
    assertThreadId('threadId', threadId);
    assertTokenCount('tokens', tokens);
    this.expireHolds();
    const budget = this.budgets.get(threadId) ?? this.create(threadId, this.maxTokensPerThread);
    if (budget.promptTokens + budget.completionTokens + budget.reservedTokens + tokens > budget.maxTokens) {
      throw this.exhausted(threadId, budget, tokens);
    }
    const ttl = this.reservationTtlMs;
    const now = ttl === undefined && this.idleTtlMs === undefined ? 0 : this.now();
    const expiresAt = ttl === undefined ? undefined : now + ttl;
    const hold = new Hold(++this.sequence, threadId, tokens, expiresAt, budget, this);
    if (expiresAt !== undefined) this.expiry.push(hold);
    this.holdsById?.set(hold.id, hold);
    this.liveHolds++;
    this.reservedTotal += tokens;
    budget.reservedTokens += tokens;
    budget.holdCount++;
    budget.lastUsedAt = now; // read only with an idle TTL
    return hold;
  }

  /**
   * Charges what a call really used and frees its hold. Settling a reservation that was already
   * settled, released or expired, or whose thread has ended, charges nothing (`charged: false`).
   * Pass the reservation object `reserve()` returned (a copy is refused).
   */
  settle(reservation: Reservation, charge: UsageCharge = {}): SettleResult {
    const prompt = charge.promptTokens ?? 0;
    const completion = charge.completionTokens ?? 0;
    // hand-written: a zod check costs ~0.23 µs (4.4 M/s vs 150 M/s), more than doubling reserve + settle in bench/core.js
    assertTokenCount('promptTokens', prompt);
    assertTokenCount('completionTokens', completion);
    const budget = this.dropHold(reservation);
    if (!budget) return NOT_CHARGED;
    budget.promptTokens += prompt;
    budget.completionTokens += completion;
    budget.requestCount += 1;
    if (this.idleTtlMs !== undefined) budget.lastUsedAt = this.now();
    const crossed = this.crossings(threadIdOf(reservation as Hold), budget);
    this.emit(crossed);
    return new Settled(budget, crossed);
  }

  /** Frees a hold without charging. Returns false if it was already settled, released or expired. */
  release(reservation: Reservation): boolean {
    return this.dropHold(reservation) !== undefined;
  }

  /** The thread's usage, or `undefined` if it has no budget. */
  getUsage(threadId: string): ThreadUsage | undefined {
    const budget = this.budgets.get(threadId);
    if (!budget) return undefined;
    this.expireHolds();
    return budget.toUsage();
  }

  /** Usage of every thread, by thread id. */
  getAllUsage(): Record<string, ThreadUsage> {
    this.expireHolds();
    const all: Record<string, ThreadUsage> = {};
    for (const [id, budget] of this.budgets) all[id] = budget.toUsage();
    return all;
  }

  /** Forgets the thread's budget; its next use starts from zero. */
  resetThread(threadId: string): void {
    this.cleanupThread(threadId);
  }

  /** Removes the thread's budget and returns it (for logging and billing), or `undefined`. */
  cleanupThread(threadId: string): ThreadBudget | undefined {
    this.expireHolds();
    const budget = this.table.delete(threadId);
    if (!budget) return undefined;
    // Holds still out (calls in flight) charge nothing when they settle: their budget has ended.
    budget.ended = true;
    this.reservedTotal -= budget.reservedTokens;
    budget.reservedTokens = 0;
    budget.holdCount = 0;
    return budget;
  }

  /**
   * Recreates a thread that left memory (idle expiry, a restart) with the spend recorded elsewhere (a
   * usage store), so that its budget goes on where it was. Thresholds already reached count as fired
   * (they were announced before). Does nothing to a thread that is held; throws `ThreadLimitError` like any
   * thread creation.
   *
   * @example
   * ```ts
   * const totals = (await store.summary({ threadId: 't1' })).totals;
   * registry.restoreThread('t1', totals); // { promptTokens, completionTokens, requestCount }
   * ```
   */
  restoreThread(threadId: string, spent: RestoredSpend, maxTokens: number = this.maxTokensPerThread): ThreadBudget {
    assertThreadId('threadId', threadId);
    const { promptTokens, completionTokens, requestCount } = checkedSpend('spent', spent, 'must be { promptTokens, completionTokens, requestCount }');
    assertPositiveTokens('maxTokens', maxTokens);
    const existing = this.budgets.get(threadId);
    if (existing) return existing;
    const budget = this.create(threadId, maxTokens);
    budget.promptTokens = promptTokens;
    budget.completionTokens = completionTokens;
    budget.requestCount = requestCount;
    this.crossings(threadId, budget); // marks what was reached as fired, silently
    return budget;
  }

  /** Whether a thread could be created now (see `maxThreadsPerGroup`, `maxThreads`); the refusal if not. */
  roomFor(threadId: string): ThreadLimitError | undefined {
    this.expireHolds();
    return this.table.roomFor(threadId);
  }

  /** Subscribes to threshold crossings; returns the unsubscribe function. */
  onThreshold(listener: ThresholdListener): () => void {
    return this.listeners.add(listener);
  }

  private create(threadId: string, maxTokens: number): ThreadBudget {
    this.expireHolds(); // lapsed holds no longer keep their thread from idling out
    const budget = new ThreadBudget({ maxTokens });
    this.table.add(threadId, budget);
    return budget;
  }

  /** Ends a live hold; returns its budget if the hold was live and its thread has not ended. */
  private dropHold(reservation: Reservation): ThreadBudget | undefined {
    if (!isHoldOf(reservation, this)) {
      throw new ValidationError('reservation', reservation, 'must be a reservation returned by this registry');
    }
    if (isDone(reservation)) return undefined;
    this.expireHolds();
    if (isDone(reservation)) return undefined; // it has just lapsed
    finish(reservation);
    return this.unhold(reservation);
  }

  /** Takes a finished hold off the totals and its budget; returns the budget unless its thread has ended. */
  private unhold(hold: Hold): ThreadBudget | undefined {
    this.liveHolds--;
    this.holdsById?.delete(hold.id);
    const budget = budgetOf(hold);
    if (budget.ended) return undefined;
    const tokens = tokensOf(hold);
    budget.reservedTokens -= tokens;
    budget.holdCount--;
    this.reservedTotal -= tokens;
    return budget;
  }

  /** Lapses holds whose time is up (oldest first, stopping at the first live one). */
  private expireHolds(): void {
    if (this.expiry.length > 0) this.expiry.expire(this.now(), this.liveHolds, this.lapse);
  }

  private exhausted(threadId: string, budget: ThreadBudget, requested: number): BudgetExhaustedError {
    const { totalTokens: used, reservedTokens: reserved, maxTokens } = budget;
    return new BudgetExhaustedError({ threadId, used, reserved, maxTokens, requested });
  }

  /** Thresholds the budget has reached but not yet fired; marks them fired. */
  private crossings(threadId: string, budget: ThreadBudget): ThresholdEvent[] {
    return budget.promptTokens + budget.completionTokens < budget.nextThresholdAt ? NO_THRESHOLD_EVENTS : crossedThresholds(this.thresholds, threadId, budget);
  }

  private emit(crossed: ThresholdEvent[]): void {
    if (crossed.length > 0) this.listeners.emit(crossed); // inline check: most charges cross nothing
  }
}

let globalRegistry: ThreadBudgetRegistry | undefined;

/** The process-wide registry (created on first use with the defaults). */
export function getBudgetRegistry(): ThreadBudgetRegistry {
  return (globalRegistry ??= new ThreadBudgetRegistry());
}

/** Replaces the process-wide registry with a new one built from `options`. */
export function configureBudgetRegistry(options: ThreadBudgetRegistryOptions = {}): ThreadBudgetRegistry {
  globalRegistry = new ThreadBudgetRegistry(options);
  return globalRegistry;
}

/** Drops the process-wide registry; the next `getBudgetRegistry()` creates a fresh one. */
export function resetBudgetRegistry(): void {
  globalRegistry = undefined;
}
