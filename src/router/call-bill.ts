import type { PolicyGuard } from '../budget/policy-types.js';
import type { BudgetLedger, Reservation } from '../budget/types.js';
import type { Backend, TokenUsage } from '../core/types.js';
import type { GenAiCallHandle } from '../telemetry/genai-call.js';
import type { UsageTracker } from '../usage/tracker.js';
import type { Lease } from './backend-pool.js';
import type { RouterCall } from './call.js';
import { chargeFacts } from './call-telemetry.js';
import { chargeCall, type RouterCharge } from './charge.js';
import { checkUsage, implausible } from './plausibility.js';
import { PolicyHold } from './policy-hold.js';
import type { SettleRetries } from './settle-retries.js';

/**
 * The budget side of one call, the same for every charged call (`complete`, `stream`, `embed`, `forward`,
 * `forwardStream`): reserve before the first attempt — the thread's tokens and the budget policies'
 * estimate, both or neither; then exactly one of charge (an answer, a cut stream, implausible usage, text
 * delivered before a break) or release (nothing was delivered). Every charge goes through
 * {@link chargeCall}: settle the thread, record the usage event, settle the policies to it, return what
 * the caller is told.
 */
export class CallBill {
  private reservation: Reservation | undefined;
  private readonly policyHold: PolicyHold | undefined;
  private charged = false;

  constructor(
    private readonly call: RouterCall,
    /** The ledger of the call's thread; none without a `threadId`. */
    private readonly ledger: BudgetLedger | undefined,
    /** The router's budget policies, if any. */
    policies: PolicyGuard | undefined,
    private readonly trackerOf: () => UsageTracker,
    private readonly settleRetries: SettleRetries,
    /** The call's telemetry (span and metrics), told every charge; none without an OpenTelemetry SDK. */
    private readonly telemetry?: GenAiCallHandle,
  ) {
    this.policyHold = policies ? new PolicyHold(policies, settleRetries) : undefined;
  }

  /**
   * Takes the call's holds before its first attempt: its budget tokens on its thread (with a `threadId`)
   * and its estimate on every budget policy that applies, at once. If either is refused
   * (`BudgetExhaustedError`, `PolicyExhaustedError`, `RateLimitedError`, `UnpricedModelError`), the other
   * is released and the refusal thrown: no backend is called. Then the call's `onReserved` hook gets the
   * policy standings. `undefined` (no await, the attempt starts in this tick) when there is nothing to hold.
   */
  reserve(): Promise<void> | undefined {
    if (!this.ledger && !this.policyHold) {
      this.call.req.onReserved?.([]);
      return undefined;
    }
    return this.takeHolds();
  }

  private async takeHolds(): Promise<void> {
    const { ledger, policyHold, call } = this;
    const [thread, policies] = await Promise.allSettled([
      (async () => (ledger ? ledger.reserve(call.req.threadId!, call.budgetTokens) : undefined))(),
      (async () => (policyHold ? policyHold.reserve(call) : []))(),
    ]);
    if (thread.status === 'fulfilled') this.reservation = thread.value;
    if (thread.status === 'rejected' || policies.status === 'rejected') {
      await this.releaseHolds(); // the hold that was granted must not pin its budget until it lapses
      throw thread.status === 'rejected' ? thread.reason : (policies as PromiseRejectedResult).reason;
    }
    call.req.onReserved?.(policies.value);
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
   * abandoned stream is charged (its estimate, never zero); with nothing delivered the holds (thread and
   * policies) are released. `undefined` when there is nothing to do, so that a call without a thread or
   * policies pays no extra tick. Ends the call's telemetry (its span and duration) once that is done.
   */
  close(servedBy: Backend | undefined, delivered: string): Promise<unknown> | undefined {
    const closing = this.closeHolds(servedBy, delivered);
    const telemetry = this.telemetry;
    if (!telemetry) return closing;
    // The call's span ends here, after its last charge or release, whichever way that went.
    if (!closing) {
      telemetry.end();
      return undefined;
    }
    return closing.finally(() => telemetry.end());
  }

  private closeHolds(servedBy: Backend | undefined, delivered: string): Promise<unknown> | undefined {
    if (this.charged) return undefined;
    if (servedBy) return this.charge(servedBy, this.call.req.model, this.call.estimateDelivered(delivered), true);
    return this.releaseHolds();
  }

  /** Releases what the call holds (once; failures are left to the ledgers' TTLs). */
  private releaseHolds(): Promise<unknown> | undefined {
    const held = this.reservation;
    this.reservation = undefined;
    const thread = this.ledger && held ? this.ledger.release(held).catch(() => undefined) : undefined;
    const policies = this.policyHold?.release(this.call.tried.size > 0);
    if (!thread) return policies;
    return policies ? Promise.all([thread, policies]) : thread;
  }

  private charge(backend: Backend, model: string, usage: TokenUsage, usageEstimated: boolean): Promise<RouterCharge> {
    this.charged = true;
    const { req, startedAt } = this.call;
    const input = { req, model, backend, usage, usageEstimated, startedAt, ledger: this.ledger, reservation: this.reservation, policies: this.policyHold };
    const charged = chargeCall(input, this.trackerOf(), this.settleRetries);
    const telemetry = this.telemetry;
    if (!telemetry) return charged;
    return charged.then((c) => {
      telemetry.charged(chargeFacts(c));
      return c;
    });
  }
}
