/**
 * A PolicyGuard for the integration tests: it records what an integration asks of it, holds per
 * reservation id, and can refuse. BudgetPolicies is not on main yet; this checks what an integration
 * asks of any guard (both-or-neither with the thread, one ending per hold, the event's cost settled).
 */
import type {
  CallSubject,
  PolicyAmount,
  PolicyGuard,
  PolicyLine,
  PolicyReservation,
  PolicyReserved,
  PolicyStanding,
} from '../../src/budget/policy-types.js';

const LINE: PolicyLine = {
  policy: 'user-daily',
  scope: 'user',
  entity: 'ann',
  meter: 'budget',
  windowStart: 0,
  resetsAt: null,
  window: undefined,
  limits: { nanos: 5e9 },
  priced: true,
  thresholds: [],
};

function standing(spentNanos: number, usedTokens: number): PolicyStanding {
  const { policy, scope, entity, meter, windowStart, resetsAt, limits } = LINE;
  return { policy, scope, entity, meter, windowStart, resetsAt, limits, spentNanos, reservedNanos: 0, usedTokens, reservedTokens: 0, requests: 0, reservedRequests: 0 };
}

export class RecordingGuard implements PolicyGuard {
  readonly reserves: Array<{ subject: CallSubject; estimate: { promptTokens: number; completionTokens: number } }> = [];
  readonly settles: Array<{ id: string; actual: PolicyAmount }> = [];
  readonly releases: string[] = [];
  readonly granted: string[] = [];
  /** Thrown by the next reserves. */
  refusal: Error | undefined;
  private next = 0;

  async reserve(subject: CallSubject, estimate: { promptTokens: number; completionTokens: number }): Promise<PolicyReserved | undefined> {
    this.reserves.push({ subject, estimate });
    await new Promise((r) => setTimeout(r, 1)); // a real ledger answers in a later tick
    if (this.refusal) throw this.refusal;
    const tokens = estimate.promptTokens + estimate.completionTokens;
    const reservation: PolicyReservation = { id: `p${++this.next}`, lines: [LINE], amount: { nanos: tokens * 1000, tokens }, expiresAt: Date.now() + 600_000 };
    this.granted.push(reservation.id);
    return { reservation, standings: [standing(0, 0)] };
  }

  async settle(reservation: PolicyReservation, actual: PolicyAmount): Promise<PolicyStanding[]> {
    this.settles.push({ id: reservation.id, actual });
    return [standing(actual.nanos, actual.tokens)];
  }

  async release(reservation: PolicyReservation): Promise<void> {
    this.releases.push(reservation.id);
  }

  /** How each granted hold ended: `settled`, `released`, or a description when it ended never or twice (a bug). */
  endings(): string[] {
    return this.granted.map((id) => {
      const ends = [...this.settles.filter((s) => s.id === id).map(() => 'settled'), ...this.releases.filter((r) => r === id).map(() => 'released')];
      return ends.length === 1 ? ends[0]! : `${id}: ${ends.join('+') || 'never ended'}`;
    });
  }
}
