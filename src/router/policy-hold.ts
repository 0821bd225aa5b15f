import type { PolicyAmount, PolicyGuard, PolicyReservation, PolicyStanding } from '../budget/policy-types.js';
import type { UsageEvent } from '../usage/types.js';
import type { RouterCall } from './call.js';
import { callSubject } from './call-subject.js';
import type { SettleRetries } from './settle-retries.js';

/**
 * The budget-policy side of one call: the hold taken before the first attempt, then exactly one of settle
 * (to the call's recorded usage event) or release. Both are once-only here, whatever path the call leaves
 * by, so a policy ledger is never asked twice for one call (it is idempotent anyway).
 */
export class PolicyHold {
  private reservation: PolicyReservation | undefined;
  private ended = false;

  constructor(
    private readonly policies: PolicyGuard,
    private readonly retries: SettleRetries,
  ) {}

  /**
   * Reserves the call's estimate (its prompt estimate and completion reserve) on every policy that applies
   * to its subject; throws the policy's refusal (nothing held). The standings with the hold taken, `[]`
   * when no policy applies.
   */
  async reserve(call: RouterCall): Promise<PolicyStanding[]> {
    const estimate = { promptTokens: call.promptEstimate, completionTokens: call.completionReserve };
    const reserved = await this.policies.reserve(callSubject(call.req), estimate);
    if (!reserved) return [];
    this.reservation = reserved.reservation;
    return reserved.standings;
  }

  /**
   * Charges the policies what `event` recorded (its cost, 0 when unpriced, and its total tokens), so that a
   * policy's spend is the sum of its events. A settle the ledger could not take is retried in the
   * background (the hold keeps the amount out of the budgets meanwhile): then `undefined`, as when there
   * was nothing held.
   */
  async settle(event: UsageEvent): Promise<PolicyStanding[] | undefined> {
    const reservation = this.take();
    if (!reservation) return undefined;
    const amount: PolicyAmount = { nanos: event.costNanos ?? 0, tokens: event.totalTokens };
    try {
      return await this.policies.settle(reservation, amount);
    } catch (err) {
      this.retries.addPolicy(this.policies, reservation, amount, err);
      return undefined;
    }
  }

  /**
   * Frees the hold of a call that is not charged; a failure is left to the ledger's TTL. `undefined` when
   * nothing is held. A call that reached a provider (`attempted`) and failed is settled at zero instead: it
   * spends nothing but counts its request, so a rate limit (`rpm`) also bounds the calls a tenant sends to a
   * shared upstream key that fail there.
   */
  release(attempted = false): Promise<unknown> | undefined {
    const reservation = this.take();
    if (!reservation) return undefined;
    if (attempted) return this.policies.settle(reservation, { nanos: 0, tokens: 0 }).catch(() => undefined);
    return this.policies.release(reservation).catch(() => undefined);
  }

  /** The hold, once: after this the call's policies are done with. */
  private take(): PolicyReservation | undefined {
    if (this.ended) return undefined;
    this.ended = true;
    return this.reservation;
  }
}
