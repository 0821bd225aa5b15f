/** What {@link RedisPolicyLedger}'s reserve built for a reservation, kept for its settle or release. */
import type { PolicyLine, PolicyReservation } from '../../../budget/policy-types.js';
import { holdMember } from './policy-replies.js';

/** The line keys and hold member of a reservation. */
export interface HoldKeys {
  keys: string[];
  member: string;
}

interface Kept extends HoldKeys {
  id: string;
  lines: readonly PolicyLine[];
  count: number;
  nanos: number;
  tokens: number;
}

/**
 * The line keys and hold member each reservation was reserved with, by reservation object (weakly held), so
 * that a settle or release does not build them again (the hold member alone is a few hundred bytes per call).
 *
 * @example
 * ```ts
 * const held = new HeldKeys((lines) => lines.map(keyOf));
 * held.keep(reservation, keys, member);
 * const { keys, member } = held.of(reservation); // built again if it is not that reservation, unchanged
 * ```
 */
export class HeldKeys {
  private readonly kept = new WeakMap<PolicyReservation, Kept>();

  constructor(private readonly lineKeys: (lines: readonly PolicyLine[]) => string[]) {}

  keep(reservation: PolicyReservation, keys: string[], member: string): void {
    const { id, lines, amount } = reservation;
    this.kept.set(reservation, { id, lines, count: lines.length, nanos: amount.nanos, tokens: amount.tokens, keys, member });
  }

  /** Those kept for `reservation` if it is the object reserve returned, unchanged; else built from it. */
  of(reservation: PolicyReservation): HoldKeys {
    const { id, lines, amount } = reservation;
    const k = this.kept.get(reservation);
    if (k !== undefined && k.id === id && k.lines === lines && k.count === lines.length && k.nanos === amount.nanos && k.tokens === amount.tokens) {
      return k;
    }
    const keys = this.lineKeys(lines);
    return { keys, member: holdMember(id, amount, lines, keys) };
  }
}
