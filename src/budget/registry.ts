import { BudgetExhaustedError, TokenwardenError, ValidationError } from '../errors.js';
import { assertPositiveInteger, assertPositiveTokens, assertThreadId, assertTokenCount } from '../validate.js';
import { ThreadBudget } from './thread-budget.js';

/** A live hold, handed to the caller as its reservation; it also knows the budget it draws on. */
class Hold implements Reservation {
  /** Settled, released or expired. */
  done = false;

  constructor(
    private readonly sequence: number,
    readonly threadId: string,
    readonly tokens: number,
    readonly expiresAt: number | undefined,
    readonly budget: ThreadBudget,
    readonly owner: ThreadBudgetRegistry,
  ) {}

  /** Unique within the registry; built on demand (most callers never read it). */
  get id(): string {
    return `r${this.sequence}`;
  }

  toJSON(): Reservation {
    return { id: this.id, threadId: this.threadId, tokens: this.tokens, expiresAt: this.expiresAt };
  }
}

/** What settling charged; the usage snapshot is built only if someone reads it. */
class Settled implements SettleResult {
  readonly charged = true;
  constructor(
    private readonly budget: ThreadBudget,
    readonly crossed: ThresholdEvent[],
  ) {}

  get usage(): ThreadUsage {
    return this.budget.toUsage();
  }
}
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

const NONE: ThresholdEvent[] = Object.freeze([]) as unknown as ThresholdEvent[];
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
  /** Live holds. */
  private liveHolds = 0;
  /** With a TTL: holds in creation order, which is also expiry order (the TTL is fixed). */
  private expiryQueue: Hold[] = [];
  private expiryHead = 0;
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

  /** Number of outstanding reservations (live holds) across all threads. */
  get reservationCount(): number {
    this.expireHolds();
    return this.liveHolds;
  }

  /** Whether `reservation` (an object this registry returned) is still held. */
  isLive(reservation: Reservation): boolean {
    this.expireHolds();
    return reservation instanceof Hold && reservation.owner === this && !reservation.done;
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
    this.expireHolds();
    const budget = this.budgets.get(threadId) ?? this.create(threadId, this.maxTokensPerThread);
    if (budget.promptTokens + budget.completionTokens + budget.reservedTokens + tokens > budget.maxTokens) {
      throw this.exhausted(threadId, budget, tokens);
    }
    const expiresAt = this.reservationTtlMs === undefined ? undefined : this.now() + this.reservationTtlMs;
    const hold = new Hold(++this.sequence, threadId, tokens, expiresAt, budget, this);
    if (expiresAt !== undefined) this.expiryQueue.push(hold);
    this.liveHolds++;
    budget.reservedTokens += tokens;
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
    assertTokenCount('promptTokens', prompt);
    assertTokenCount('completionTokens', completion);
    const budget = this.dropHold(reservation);
    if (!budget) return NOT_CHARGED;
    budget.promptTokens += prompt;
    budget.completionTokens += completion;
    budget.requestCount += 1;
    const crossed = this.crossings(reservation.threadId, budget);
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
    const budget = this.budgets.get(threadId);
    if (!budget) return undefined;
    this.budgets.delete(threadId);
    // Holds still out (calls in flight) charge nothing when they settle: their budget has ended.
    budget.ended = true;
    budget.reservedTokens = 0;
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

  /** Ends a live hold; returns its budget if the hold was live and its thread has not ended. */
  private dropHold(reservation: Reservation): ThreadBudget | undefined {
    if (!(reservation instanceof Hold) || reservation.owner !== this) {
      throw new ValidationError('reservation', reservation, 'must be a reservation returned by this registry');
    }
    if (reservation.done) return undefined;
    this.expireHolds();
    if (reservation.done) return undefined; // it has just lapsed
    reservation.done = true;
    this.liveHolds--;
    const budget = reservation.budget;
    if (budget.ended) return undefined;
    budget.reservedTokens -= reservation.tokens;
    return budget;
  }

  /** Lapses holds whose time is up: oldest first, stopping at the first live one. */
  private expireHolds(): void {
    const queue = this.expiryQueue;
    if (queue.length === 0) return;
    const now = this.now();
    let head = this.expiryHead;
    while (head < queue.length) {
      const hold = queue[head]!;
      if (!hold.done) {
        if (hold.expiresAt! > now) break;
        hold.done = true;
        this.liveHolds--;
        if (!hold.budget.ended) hold.budget.reservedTokens -= hold.tokens;
      }
      head++;
    }
    // Keep the queue small: drop the consumed prefix, and settled holds stuck behind a long call.
    if (head === queue.length) {
      this.expiryQueue = [];
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      this.expiryQueue = queue.slice(head);
      head = 0;
    } else if (queue.length - head > 2 * this.liveHolds + 1024) {
      this.expiryQueue = queue.slice(head).filter((h) => !h.done);
      head = 0;
    }
    this.expiryHead = head;
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
    if (used < budget.nextThresholdAt) return NONE;
    const scaled = used * 100;
    let next = Number.POSITIVE_INFINITY;
    let crossed: ThresholdEvent[] | undefined;
    for (let i = 0; i < this.thresholds.length; i++) {
      const t = this.thresholds[i]!;
      const bit = 1 << i;
      if ((budget.firedThresholds & bit) !== 0) continue;
      if (scaled < t.percent * budget.maxTokens) {
        // A lower bound (floor) of where this threshold fires: the exact test above decides.
        next = Math.min(next, Math.floor((t.percent * budget.maxTokens) / 100));
        continue;
      }
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
    budget.nextThresholdAt = next;
    return crossed ?? NONE;
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
