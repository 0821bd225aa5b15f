import { BudgetExhaustedError, TokenwardenError, ValidationError } from '../errors.js';
import { assertPositiveInteger, assertPositiveTokens, assertThreadId, assertTokenCount } from '../validate.js';
import { ThreadBudget } from './thread-budget.js';
import { validateThresholds } from './thresholds.js';
import {
  DEFAULT_THRESHOLDS,
  type Reservation,
  type SettleResult,
  type Threshold,
  type ThresholdEvent,
  type ThreadUsage,
  type UsageCharge,
} from './types.js';

/** Options of {@link ThreadBudgetRegistry}. */
export interface ThreadBudgetRegistryOptions {
  /** Maximum tokens of a thread without its own limit. Default 100 000. */
  maxTokensPerThread?: number;
  /** Warning thresholds. Default 75 % warning, 90 % critical, 95 % final. */
  thresholds?: readonly Threshold[];
  /** Holds lapse by themselves after this many ms. Default: never (every caller settles or releases). */
  reservationTtlMs?: number;
  /** Most threads held at once; creating one more throws `TOO_MANY_THREADS`. Default 1 000 000. */
  maxThreads?: number;
  /** Receives errors thrown by threshold listeners (they never break accounting). Default: console.error. */
  onError?: (error: unknown) => void;
  /** Clock for reservation expiry, epoch ms. Default `Date.now`. */
  now?: () => number;
}

type ThresholdListener = (event: ThresholdEvent) => void;

const NOT_CHARGED: SettleResult = Object.freeze({ charged: false, usage: undefined, crossed: [] }) as SettleResult;

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
  private readonly maxThreads: number;
  private readonly onError: (error: unknown) => void;
  private readonly now: () => number;
  private readonly budgets = new Map<string, ThreadBudget>();
  private readonly listeners = new Set<ThresholdListener>();
  private sequence = 0;

  constructor(options: ThreadBudgetRegistryOptions = {}) {
    const {
      maxTokensPerThread = 100_000,
      thresholds = DEFAULT_THRESHOLDS,
      reservationTtlMs,
      maxThreads = 1_000_000,
      onError = (err: unknown) => console.error('[tokenwarden] threshold listener failed:', err),
      now = Date.now,
    } = options;
    assertPositiveTokens('maxTokensPerThread', maxTokensPerThread);
    if (reservationTtlMs !== undefined) assertPositiveInteger('reservationTtlMs', reservationTtlMs);
    assertPositiveInteger('maxThreads', maxThreads);
    this.maxTokensPerThread = maxTokensPerThread;
    this.thresholds = validateThresholds(thresholds);
    this.reservationTtlMs = reservationTtlMs;
    this.maxThreads = maxThreads;
    this.onError = onError;
    this.now = now;
  }

  /** Number of threads with a budget. */
  get size(): number {
    return this.budgets.size;
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
    if (!budget) return this.create(threadId, maxTokens);
    budget.maxTokens = maxTokens;
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
      this.expireHolds(budget);
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
    this.emit(this.crossings(threadId, budget));
    return budget;
  }

  /**
   * Atomically checks and holds `tokens` of the thread's budget. Throws {@link BudgetExhaustedError}
   * (holding nothing) when charged + held + `tokens` would exceed the maximum.
   */
  reserve(threadId: string, tokens: number): Reservation {
    assertThreadId('threadId', threadId);
    assertTokenCount('tokens', tokens);
    const budget = this.budgets.get(threadId) ?? this.create(threadId, this.maxTokensPerThread);
    this.expireHolds(budget);
    if (budget.promptTokens + budget.completionTokens + budget.reservedTokens + tokens > budget.maxTokens) {
      throw this.exhausted(threadId, budget, tokens);
    }
    const id = `r${++this.sequence}`;
    const expiresAt = this.reservationTtlMs === undefined ? undefined : this.now() + this.reservationTtlMs;
    (budget.holds ??= new Map()).set(id, { tokens, expiresAt });
    budget.reservedTokens += tokens;
    return { id, threadId, tokens, expiresAt };
  }

  /**
   * Charges what a call really used and frees its hold. Settling a reservation that was already
   * settled, released or expired, or whose thread has ended, charges nothing (`charged: false`).
   */
  settle(reservation: Reservation, charge: UsageCharge = {}): SettleResult {
    const prompt = charge.promptTokens ?? 0;
    const completion = charge.completionTokens ?? 0;
    assertTokenCount('promptTokens', prompt);
    assertTokenCount('completionTokens', completion);
    const budget = this.budgets.get(reservation.threadId);
    if (!budget || !this.dropHold(budget, reservation.id)) return NOT_CHARGED;
    budget.promptTokens += prompt;
    budget.completionTokens += completion;
    budget.requestCount += 1;
    const crossed = this.crossings(reservation.threadId, budget);
    this.emit(crossed);
    return { charged: true, usage: budget.toUsage(), crossed };
  }

  /** Frees a hold without charging. Returns false if it was already settled, released or expired. */
  release(reservation: Reservation): boolean {
    const budget = this.budgets.get(reservation.threadId);
    return budget !== undefined && this.dropHold(budget, reservation.id);
  }

  /** The thread's usage, or `undefined` if it has no budget. */
  getUsage(threadId: string): ThreadUsage | undefined {
    const budget = this.budgets.get(threadId);
    if (!budget) return undefined;
    this.expireHolds(budget);
    return budget.toUsage();
  }

  /** Usage of every thread, by thread id. */
  getAllUsage(): Record<string, ThreadUsage> {
    const all: Record<string, ThreadUsage> = {};
    for (const [id, budget] of this.budgets) {
      this.expireHolds(budget);
      all[id] = budget.toUsage();
    }
    return all;
  }

  /** Forgets the thread's budget; its next use starts from zero. */
  resetThread(threadId: string): void {
    this.budgets.delete(threadId);
  }

  /** Removes the thread's budget and returns it (for logging and billing), or `undefined`. */
  cleanupThread(threadId: string): ThreadBudget | undefined {
    const budget = this.budgets.get(threadId);
    if (!budget) return undefined;
    this.budgets.delete(threadId);
    if (budget.holds) {
      budget.holds = undefined;
      budget.reservedTokens = 0;
    }
    return budget;
  }

  /** Subscribes to threshold crossings; returns the unsubscribe function. */
  onThreshold(listener: ThresholdListener): () => void {
    if (typeof listener !== 'function') throw new ValidationError('listener', listener, 'must be a function');
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private create(threadId: string, maxTokens: number): ThreadBudget {
    if (this.budgets.size >= this.maxThreads) {
      throw new TokenwardenError(
        'TOO_MANY_THREADS',
        `Cannot create a budget for thread ${JSON.stringify(threadId)}: ${this.maxThreads} threads are live ` +
          '(end threads with cleanupThread() or raise the maxThreads option)',
      );
    }
    const budget = new ThreadBudget({ maxTokens });
    this.budgets.set(threadId, budget);
    return budget;
  }

  private dropHold(budget: ThreadBudget, id: string): boolean {
    const hold = budget.holds?.get(id);
    if (!hold) return false;
    budget.holds!.delete(id);
    budget.reservedTokens -= hold.tokens;
    if (budget.holds!.size === 0) budget.holds = undefined;
    if (hold.expiresAt !== undefined && hold.expiresAt <= this.now()) return false;
    return true;
  }

  private expireHolds(budget: ThreadBudget): void {
    if (!budget.holds || this.reservationTtlMs === undefined) return;
    const now = this.now();
    for (const [id, hold] of budget.holds) {
      if (hold.expiresAt !== undefined && hold.expiresAt <= now) {
        budget.holds.delete(id);
        budget.reservedTokens -= hold.tokens;
      }
    }
    if (budget.holds.size === 0) budget.holds = undefined;
  }

  private exhausted(threadId: string, budget: ThreadBudget, requested: number): BudgetExhaustedError {
    return new BudgetExhaustedError({
      threadId,
      used: budget.totalTokens,
      reserved: budget.reservedTokens,
      maxTokens: budget.maxTokens,
      requested,
    });
  }

  /** Thresholds the budget has reached but not yet fired; marks them fired. */
  private crossings(threadId: string, budget: ThreadBudget): ThresholdEvent[] {
    const used = budget.promptTokens + budget.completionTokens;
    const scaled = used * 100;
    let crossed: ThresholdEvent[] | undefined;
    for (let i = 0; i < this.thresholds.length; i++) {
      const t = this.thresholds[i]!;
      const bit = 1 << i;
      if ((budget.firedThresholds & bit) !== 0 || scaled < t.percent * budget.maxTokens) continue;
      budget.firedThresholds |= bit;
      (crossed ??= []).push({
        threadId,
        percent: t.percent,
        severity: t.severity,
        percentUsed: Math.round((scaled / budget.maxTokens) * 100) / 100,
        usedTokens: used,
        remainingTokens: budget.remaining,
        maxTokens: budget.maxTokens,
      });
    }
    return crossed ?? [];
  }

  private emit(crossed: ThresholdEvent[]): void {
    if (crossed.length === 0 || this.listeners.size === 0) return;
    for (const event of crossed) {
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (err) {
          this.onError(err);
        }
      }
    }
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
