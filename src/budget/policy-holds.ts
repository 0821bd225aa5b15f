import type { PolicyMeter } from './policy-meter.js';

/** One call's hold in a memory policy ledger: the meters it holds on and what it holds on each. */
export interface PolicyHold {
  readonly id: string;
  readonly meters: readonly PolicyMeter[];
  /** Nanos held per meter (0 on a line with `priced: false`). */
  readonly nanos: readonly number[];
  /** Per meter: false on a line with `priced: false` (charged no nanos at settle). */
  readonly priced: readonly boolean[];
  readonly tokens: number;
  readonly expiresAt: number;
  /** `live` holds its amounts; `lapsed` freed them at expiry but may still be settled (charged) once; `done` is final. */
  state: 'live' | 'lapsed' | 'done';
}

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
 * The holds of a memory policy ledger by id, with their lapse: at `expiresAt` a live hold frees its amounts
 * (`onLapse`) and becomes a tombstone for one more TTL, so that a call answered after its hold lapsed is still
 * billed once by its settle (and a second settle, or a release, does nothing). Settled holds leave the map at
 * once and the queues as they reach the front.
 *
 * @example
 * ```ts
 * const holds = new PolicyHolds(600_000, (hold) => freeAll(hold));
 * holds.add(hold);
 * holds.expire(now);
 * holds.get(id)?.state; // 'live' | 'lapsed'
 * ```
 */
export class PolicyHolds {
  private readonly byId = new Map<string, PolicyHold>();
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

  /** A new id, unique within this ledger. */
  nextId(): string {
    return `ph${(++this.sequence).toString(36)}`;
  }

  add(hold: PolicyHold): void {
    this.byId.set(hold.id, hold);
    this.live.push(hold);
    this.liveCount++;
  }

  get(id: string): PolicyHold | undefined {
    return this.byId.get(id);
  }

  /** Marks the hold done and forgets it (a settle or release). */
  finish(hold: PolicyHold): void {
    if (hold.state === 'live') this.liveCount--;
    else if (hold.state === 'lapsed') this.tombstones--;
    hold.state = 'done';
    this.byId.delete(hold.id);
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
