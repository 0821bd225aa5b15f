import { assertPositiveTokens, assertTokenCount } from '../core/validate.js';
import type { ThreadUsage, UsageCharge } from './types.js';

/**
 * The token budget of one conversation thread.
 *
 * `remaining` counts both charged tokens and tokens held by outstanding reservations, and never goes
 * negative. Holds are managed through {@link ThreadBudgetRegistry.reserve}; use this class directly
 * for a single budget without a registry.
 *
 * @example
 * ```ts
 * const budget = new ThreadBudget({ maxTokens: 10_000 });
 * budget.consume({ promptTokens: 500, completionTokens: 300 });
 * budget.remaining; // 9200
 * ```
 */
export class ThreadBudget {
  maxTokens: number;
  promptTokens = 0;
  completionTokens = 0;
  requestCount = 0;
  /** Sum of the tokens of all live holds. */
  reservedTokens = 0;
  /** Set when the registry removed this budget (the thread ended). */
  ended = false;
  /** Bit i set once threshold i has fired for this thread. */
  firedThresholds = 0;
  /** Below this many used tokens no unfired threshold can be reached (kept by the registry). */
  nextThresholdAt = 0;
  /** Live holds on this budget (kept by the registry; a thread with holds is never evicted). */
  holdCount = 0;
  /** Epoch ms of the last reserve, settle, consume or setBudget (kept by a registry with an idle TTL). */
  lastUsedAt = 0;
  /** Its maximum was set for it (`setBudget`): the registry keeps it in memory however long it idles. */
  ownMax = false;
  /** Epoch ms when the registry last placed this budget at the back of its idle queue. */
  queuedAt = 0;
  /** The group (e.g. tenant) the registry counts this thread under, if any. */
  group: string | undefined = undefined;

  constructor(options: { maxTokens: number }) {
    assertPositiveTokens('maxTokens', options?.maxTokens);
    this.maxTokens = options.maxTokens;
  }

  get totalTokens(): number {
    return this.promptTokens + this.completionTokens;
  }

  get remaining(): number {
    const left = this.maxTokens - this.promptTokens - this.completionTokens - this.reservedTokens;
    return left > 0 ? left : 0;
  }

  get isExhausted(): boolean {
    return this.promptTokens + this.completionTokens >= this.maxTokens;
  }

  /** Whether `tokens` more fit beside what is charged and held. */
  canConsume(tokens: number): boolean {
    assertTokenCount('tokens', tokens);
    return this.promptTokens + this.completionTokens + this.reservedTokens + tokens <= this.maxTokens;
  }

  /** Charges usage (one request) without any check. Returns `this`. */
  consume(charge: UsageCharge = {}): this {
    const prompt = charge.promptTokens ?? 0;
    const completion = charge.completionTokens ?? 0;
    assertTokenCount('promptTokens', prompt);
    assertTokenCount('completionTokens', completion);
    this.promptTokens += prompt;
    this.completionTokens += completion;
    this.requestCount += 1;
    return this;
  }

  /** A plain snapshot of this budget. */
  toUsage(): ThreadUsage {
    return {
      promptTokens: this.promptTokens,
      completionTokens: this.completionTokens,
      totalTokens: this.promptTokens + this.completionTokens,
      remaining: this.remaining,
      maxTokens: this.maxTokens,
      requestCount: this.requestCount,
      reservedTokens: this.reservedTokens,
    };
  }
}
