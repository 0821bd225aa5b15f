import { ValidationError } from '../core/errors.js';
import type { PolicyMeter } from './policy-meter.js';
import type { PolicyAmount, PolicyLine, PolicyReservation } from './policy-types.js';

/** One call's hold in a memory policy ledger: the meters it holds on and what it holds on each. */
export interface PolicyHold {
  /** Unique within the ledger; the reservation's id is `ph<seq>`. */
  readonly seq: number;
  readonly lines: readonly PolicyLine[];
  readonly meters: readonly PolicyMeter[];
  /** Set when a line has `priced: false` (it holds and is charged no nanos): true at its index. Usually absent. */
  readonly unpriced: readonly boolean[] | undefined;
  readonly nanos: number;
  readonly tokens: number;
  readonly expiresAt: number;
  /** `live` holds its amounts; `lapsed` freed them at expiry but may still be settled (charged) once; `done` is final. */
  state: 'live' | 'lapsed' | 'done';
}

/**
 * The reservation a memory policy ledger hands out: what the interface shows, read through getters over
 * a private hold, so that nothing a caller does to the object changes what is held (a plain copy, e.g.
 * after JSON, is found again by its id). The id string is built only if someone reads it.
 */
export class HeldReservation implements PolicyReservation {
  readonly #hold: PolicyHold;
  readonly #owner: object;

  constructor(hold: PolicyHold, owner: object) {
    this.#hold = hold;
    this.#owner = owner;
  }

  get id(): string {
    return `ph${this.#hold.seq}`;
  }

  get lines(): readonly PolicyLine[] {
    return this.#hold.lines;
  }

  get amount(): PolicyAmount {
    return { nanos: this.#hold.nanos, tokens: this.#hold.tokens };
  }

  get expiresAt(): number {
    return this.#hold.expiresAt;
  }

  toJSON(): PolicyReservation {
    return { id: this.id, lines: this.lines, amount: this.amount, expiresAt: this.expiresAt };
  }

  /** The hold behind `value` when it is a reservation of `owner` (a brand check), else `undefined`. */
  static holdOf(value: unknown, owner: object): PolicyHold | undefined {
    return typeof value === 'object' && value !== null && #hold in value && value.#owner === owner ? value.#hold : undefined;
  }
}

/** The nanos a hold holds (or a settle charges) on its line `i`: none on a line with `priced: false`. */
export function nanosOn(hold: PolicyHold, i: number, nanos: number): number {
  return hold.unpriced !== undefined && hold.unpriced[i] === true ? 0 : nanos;
}

const ID = /^ph([1-9]\d{0,15})$/;

/**
 * A FIFO of holds in expiry order (the TTL is fixed, so creation order), consumed from `head`; holds no
 * longer in `state` are skipped. Callbacks are fixed at construction (none allocated per call).
 */
class HoldFifo {
  private items: PolicyHold[] = [];
  private head = 0;

  constructor(
    private readonly state: PolicyHold['state'],
    private readonly delayMs: number,
    private readonly take: (hold: PolicyHold) => void,
  ) {}

  push(hold: PolicyHold): void {
    this.items.push(hold);
  }

  /** The queued hold numbered `seq` still in `state` (the queue is in `seq` order: a binary search). */
  find(seq: number): PolicyHold | undefined {
    const items = this.items;
    let lo = this.head;
    let hi = items.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const hold = items[mid]!;
      if (hold.seq === seq) return hold.state === this.state ? hold : undefined;
      if (hold.seq < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Hands each hold in `state` whose `expiresAt + delayMs` is reached by `now` to `take`, in order; `live` = holds still queued in `state`. */
  drain(now: number, live: number): void {
    const items = this.items;
    if (items.length === 0) return;
    const limit = now - this.delayMs;
    let head = this.head;
    while (head < items.length) {
      const hold = items[head]!;
      if (hold.state === this.state) {
        if (hold.expiresAt > limit) break;
        this.take(hold);
      }
      head++;
    }
    // Keep the queue small: drop the consumed prefix, and settled holds stuck behind a long call.
    if (head === items.length) {
      this.items = [];
      head = 0;
    } else if (head > 1024 && head * 2 > items.length) {
      this.items = items.slice(head);
      head = 0;
    } else if (items.length - head > 2 * live + 1024) {
      this.items = items.slice(head).filter((h) => h.state === this.state);
      head = 0;
    }
    this.head = head;
  }
}

/**
 * The holds of a memory policy ledger, with their lapse: at `expiresAt` a live hold frees its amounts
 * (`onLapse`) and becomes a tombstone for one more TTL, so that a call answered after its hold lapsed is still
 * billed once by its settle (and a second settle, or a release, does nothing). Holds are kept in two queues
 * in creation order (no map: a reservation leads to its hold directly, a plain copy by binary search on its
 * number); settled holds leave the queues as they reach the front.
 *
 * @example
 * ```ts
 * const holds = new PolicyHolds(600_000, (hold) => freeAll(hold));
 * holds.add(hold);
 * holds.expire(now);
 * holds.find(reservation)?.state; // 'live' | 'lapsed'
 * ```
 */
export class PolicyHolds {
  private readonly live: HoldFifo;
  private readonly lapsed: HoldFifo;
  private liveCount = 0;
  private tombstones = 0;
  private sequence = 0;

  constructor(ttlMs: number, onLapse: (hold: PolicyHold) => void) {
    this.live = new HoldFifo('live', 0, (hold) => {
      hold.state = 'lapsed';
      this.liveCount--;
      this.tombstones++;
      this.lapsed.push(hold);
      onLapse(hold);
    });
    this.lapsed = new HoldFifo('lapsed', ttlMs, (hold) => this.finish(hold));
  }

  /** A new sequence number, unique within this ledger. */
  next(): number {
    return ++this.sequence;
  }

  add(hold: PolicyHold): void {
    this.live.push(hold);
    this.liveCount++;
  }

  /** The hold a reservation (ours, or a plain copy of one) stands for, if it is still known. */
  find(reservation: PolicyReservation): PolicyHold | undefined {
    const held = HeldReservation.holdOf(reservation, this);
    if (held !== undefined) return held.state === 'done' ? undefined : held;
    if (reservation === null || typeof reservation !== 'object' || typeof reservation.id !== 'string') {
      throw new ValidationError('reservation', reservation, 'must be a reservation returned by reserve()');
    }
    // A plain copy (after JSON, say): looked up by its number among the holds still live or lapsed.
    const match = ID.exec(reservation.id);
    if (match === null) return undefined;
    const seq = Number(match[1]);
    return this.live.find(seq) ?? this.lapsed.find(seq);
  }

  /** Marks the hold done and forgets it (a settle or release). */
  finish(hold: PolicyHold): void {
    if (hold.state === 'live') this.liveCount--;
    else if (hold.state === 'lapsed') this.tombstones--;
    hold.state = 'done';
  }

  /** Live holds. */
  get size(): number {
    return this.liveCount;
  }

  /** Lapses live holds due by `now`, and forgets tombstones one TTL older. */
  expire(now: number): void {
    this.live.drain(now, this.liveCount);
    this.lapsed.drain(now, this.tombstones);
  }
}
