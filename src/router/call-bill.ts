import type { BudgetLedger, Reservation } from '../budget/types.js';
import type { Backend, TokenUsage } from '../core/types.js';
import type { UsageTracker } from '../usage/tracker.js';
import type { Lease } from './backend-pool.js';
import type { RouterCall } from './call.js';
import { chargeCall, type RouterCharge } from './charge.js';
import { checkUsage, implausible } from './plausibility.js';
import type { SettleRetries } from './settle-retries.js';

/**
 * The budget side of one call, the same for `complete()` and `stream()`: reserve before the first
 * attempt; then exactly one of charge (an answer, a cut stream, implausible usage, text delivered before a
 * break) or release (nothing was delivered). Every charge goes through {@link chargeCall}: settle the
 * reservation, record the usage event, return what the caller is told.
 */
export class CallBill {
  private reservation: Reservation | undefined;
  private charged = false;

  constructor(
    private readonly call: RouterCall,
    /** The ledger of the call's thread; none without a `threadId`. */
    private readonly ledger: BudgetLedger | undefined,
    private readonly trackerOf: () => UsageTracker,
    private readonly settleRetries: SettleRetries,
  ) {}

  /** Whether the call holds budget (it has a thread): then {@link reserve} must be awaited first. */
  get reserves(): boolean {
    return this.ledger !== undefined;
  }

  /** Reserves the call's budget tokens (refused: `BudgetExhaustedError`, and no backend is called). */
  async reserve(): Promise<void> {
    this.reservation = await this.ledger!.reserve(this.call.req.threadId!, this.call.budgetTokens);
  }

  /**
   * Charges an answered call: the reported usage when plausible, else (none reported) the estimate of what
   * was delivered (`text`, read only then). Implausible usage, or an answer whose usage cannot be worked
   * out at all (`text` throws), is charged at the reservation and thrown: an answered call is never free.
   */
  async chargeAnswer(lease: Lease, raw: unknown, text: string | (() => string), model: string): Promise<RouterCharge> {
    this.charged = true; // answered: from here on the call is charged (once), never released
    let usage: TokenUsage;
    let estimated: boolean;
    try {
      const reported = checkUsage(raw, this.call.usageLimits(), lease.backend);
      estimated = reported === undefined;
      usage = reported ?? this.call.estimateDelivered(typeof text === 'string' ? text : text());
    } catch (err) {
      await this.chargeReservation(lease.backend, model);
      throw err;
    }
    if (lease.tpmEntry) lease.state.tpm?.adjust(lease.tpmEntry, usage.totalTokens);
    return this.charge(lease.backend, model, usage, estimated);
  }

  /**
   * Charges answered embeddings (no completion): the provider's `prompt_tokens` when it is a whole number
   * of tokens, else (none reported, or nonsense) the input estimate. A count above any possible count of
   * the input (`ceiling`, see `embeddingInputCeiling`) is charged the estimate and refused
   * (`IMPLAUSIBLE_USAGE`), as for chat.
   */
  async chargeEmbedding(lease: Lease, reported: unknown, model: string, ceiling: number): Promise<RouterCharge> {
    this.charged = true;
    const usable = typeof reported === 'number' && Number.isSafeInteger(reported) && reported >= 0;
    const estimate = this.call.promptEstimate;
    if (usable && reported > ceiling) {
      await this.charge(lease.backend, model, { promptTokens: estimate, completionTokens: 0, totalTokens: estimate }, true);
      throw implausible(lease.backend, `prompt_tokens ${reported} is above any possible count of this input (at most ${ceiling})`);
    }
    const prompt = usable ? reported : estimate;
    if (lease.tpmEntry) lease.state.tpm?.adjust(lease.tpmEntry, prompt);
    return this.charge(lease.backend, model, { promptTokens: prompt, completionTokens: 0, totalTokens: prompt }, !usable);
  }

  /**
   * Charges what the call reserved (its prompt estimate plus its completion cap), or the counted `delivered`
   * text when that is more (at most the request's completion limit).
   */
  async chargeReservation(backend: Backend, model: string, delivered = ''): Promise<void> {
    const call = this.call;
    const prompt = call.promptEstimate;
    const reserved = call.completionReserve;
    const completion = delivered === '' ? reserved : Math.max(reserved, call.estimateDelivered(delivered).completionTokens);
    await this.charge(backend, model, { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion }, true);
  }

  /**
   * Ends the call's hold if nothing charged it: text delivered by `servedBy` before a break, an abort or an
   * abandoned stream is charged (its estimate, never zero); with nothing delivered the hold is released.
   * `undefined` when there is nothing to do, so that a call without a thread pays no extra tick.
   */
  close(servedBy: Backend | undefined, delivered: string): Promise<unknown> | undefined {
    if (this.charged) return undefined;
    if (servedBy) return this.charge(servedBy, this.call.req.model, this.call.estimateDelivered(delivered), true);
    if (this.ledger && this.reservation) return this.ledger.release(this.reservation).catch(() => undefined);
    return undefined;
  }

  private charge(backend: Backend, model: string, usage: TokenUsage, usageEstimated: boolean): Promise<RouterCharge> {
    this.charged = true;
    const { req, startedAt } = this.call;
    const input = { req, model, backend, usage, usageEstimated, startedAt, ledger: this.ledger, reservation: this.reservation };
    return chargeCall(input, this.trackerOf(), this.settleRetries);
  }
}
