/**
 * A PolicyGuard for tests of what a caller (the router, an integration) asks of any guard: it records
 * every reserve, settle and release, holds per reservation id, and can refuse, not apply, or fail settles.
 */
import { LedgerUnavailableError } from '../../src/core/errors.js';
import type {
  CallSubject,
  PolicyAmount,
  PolicyGuard,
  PolicyLine,
  PolicyReservation,
  PolicyReserved,
  PolicyStanding,
} from '../../src/budget/policy-types.js';

export const LINE: PolicyLine = {
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

export function standing(spentNanos: number, reservedNanos: number, usedTokens: number, reservedTokens: number): PolicyStanding {
  const { policy, scope, entity, meter, windowStart, resetsAt, limits } = LINE;
  return { policy, scope, entity, meter, windowStart, resetsAt, limits, spentNanos, reservedNanos, usedTokens, reservedTokens, requests: 0, reservedRequests: 0 };
}

/** A PolicyGuard that records what the router asks of it, holds per reservation id, and can refuse or fail. */
export class RecordingGuard implements PolicyGuard {
  readonly reserves: Array<{ subject: CallSubject; estimate: { promptTokens: number; completionTokens: number } }> = [];
  /** Settle attempts (a failed one included). */
  readonly settles: Array<{ id: string; actual: PolicyAmount }> = [];
  readonly releases: string[] = [];
  readonly granted: string[] = [];
  /** Thrown by the next reserves. */
  refusal: Error | undefined;
  /** When false, no policy applies (reserve answers undefined). */
  applies = true;
  /** Settles that fail (LedgerUnavailableError) before one lands. */
  failingSettles = 0;
  /** Called inside reserve, before answering (to see what happened before the hold). */
  onReserve: (() => void) | undefined;
  private next = 0;

  async reserve(subject: CallSubject, estimate: { promptTokens: number; completionTokens: number }): Promise<PolicyReserved | undefined> {
    this.reserves.push({ subject, estimate });
    this.onReserve?.();
    await new Promise((r) => setTimeout(r, 1)); // a real ledger answers in a later tick
    if (this.refusal) throw this.refusal;
    if (!this.applies) return undefined;
    const tokens = estimate.promptTokens + estimate.completionTokens;
    const reservation: PolicyReservation = { id: `p${++this.next}`, lines: [LINE], amount: { nanos: tokens * 1000, tokens }, expiresAt: Date.now() + 600_000 };
    this.granted.push(reservation.id);
    return { reservation, standings: [standing(0, tokens * 1000, 0, tokens)] };
  }

  async settle(reservation: PolicyReservation, actual: PolicyAmount): Promise<PolicyStanding[]> {
    this.settles.push({ id: reservation.id, actual });
    if (this.failingSettles > 0) {
      this.failingSettles--;
      throw new LedgerUnavailableError('policy ledger unreachable');
    }
    return [standing(actual.nanos, 0, actual.tokens, 0)];
  }

  async release(reservation: PolicyReservation): Promise<void> {
    this.releases.push(reservation.id);
  }

  /** How each granted hold ended: `settled`, `released`, or a list when it ended more than once (a bug). */
  endings(): string[] {
    return this.granted.map((id) => {
      const settled = new Set(this.settles.filter((s) => s.id === id).map(() => 'settled'));
      const ends = [...settled, ...this.releases.filter((r) => r === id).map(() => 'released')];
      return ends.length === 1 ? ends[0]! : `${id}: ${ends.join('+') || 'never ended'}`;
    });
  }
}
