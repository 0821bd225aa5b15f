import type { ThreadBudget } from './thread-budget.js';
import type { Reservation, SettleResult, ThresholdEvent, ThreadUsage } from './types.js';

// Set by Hold's static block (declared first: the block runs when the class is defined).
/** Whether `value` is a hold created by `owner` (a brand check: copies and look-alikes are not). */
export let isHoldOf: (value: unknown, owner: object) => value is Hold;
/** Whether the hold was settled, released or has expired. */
export let isDone: (hold: Hold) => boolean;
/** Marks the hold settled, released or expired. */
export let finish: (hold: Hold) => void;
/** The budget the hold draws on. */
export let budgetOf: (hold: Hold) => ThreadBudget;
/** The tokens the hold holds (whatever a caller did to the object). */
export let tokensOf: (hold: Hold) => number;
/** The thread the hold draws on. */
export let threadIdOf: (hold: Hold) => string;
/** When the hold lapses, epoch ms. */
export let expiryOf: (hold: Hold) => number | undefined;

/**
 * The reservation object {@link ThreadBudgetRegistry.reserve} hands out. Callers read `id`, `threadId`,
 * `tokens` and `expiresAt` through getters (assigning one throws in strict code); everything the registry
 * accounts with lives in private fields that only the functions above, set in this module, can reach, so
 * nothing a caller does to the object (assign, defineProperty) changes what it holds or whether it is
 * live. Getters over private fields cost nothing measurable; `Object.freeze(this)` in the constructor
 * halved reserve+settle throughput, so it is not used.
 */
export class Hold implements Reservation {
  readonly #sequence: number;
  readonly #threadId: string;
  readonly #tokens: number;
  readonly #expiresAt: number | undefined;
  readonly #budget: ThreadBudget;
  readonly #owner: object;
  /** Settled, released or expired. */
  #done = false;

  constructor(sequence: number, threadId: string, tokens: number, expiresAt: number | undefined, budget: ThreadBudget, owner: object) {
    this.#sequence = sequence;
    this.#threadId = threadId;
    this.#tokens = tokens;
    this.#expiresAt = expiresAt;
    this.#budget = budget;
    this.#owner = owner;
  }

  /** Unique within the registry; built on demand (most callers never read it). */
  get id(): string {
    return `r${this.#sequence}`;
  }

  get threadId(): string {
    return this.#threadId;
  }

  get tokens(): number {
    return this.#tokens;
  }

  get expiresAt(): number | undefined {
    return this.#expiresAt;
  }

  toJSON(): Reservation {
    return { id: this.id, threadId: this.#threadId, tokens: this.#tokens, expiresAt: this.#expiresAt };
  }

  static {
    isHoldOf = (value, owner): value is Hold =>
      typeof value === 'object' && value !== null && #owner in value && value.#owner === owner;
    isDone = (hold) => hold.#done;
    finish = (hold) => {
      hold.#done = true;
    };
    budgetOf = (hold) => hold.#budget;
    tokensOf = (hold) => hold.#tokens;
    expiryOf = (hold) => hold.#expiresAt;
    threadIdOf = (hold) => hold.#threadId;
  }
}

/** What settling charged; the usage snapshot is built only if someone reads it. */
export class Settled implements SettleResult {
  readonly charged = true;
  constructor(
    private readonly budget: ThreadBudget,
    readonly crossed: ThresholdEvent[],
  ) {}

  get usage(): ThreadUsage {
    return this.budget.toUsage();
  }
}

/**
 * Holds with a TTL in creation order, which is also expiry order (the TTL is fixed). Settled holds stay
 * queued until they reach the front (a flag, not a search) and the queue is compacted as it goes.
 */
export class HoldQueue {
  private queue: Hold[] = [];
  private head = 0;

  get length(): number {
    return this.queue.length;
  }

  push(hold: Hold): void {
    this.queue.push(hold);
  }

  /** Marks done and hands to `lapse` every live hold expired by `now`; `live` = holds still live, for compaction. */
  expire(now: number, live: number, lapse: (hold: Hold) => void): void {
    const queue = this.queue;
    let head = this.head;
    while (head < queue.length) {
      const hold = queue[head]!;
      if (!isDone(hold)) {
        if (expiryOf(hold)! > now) break;
        finish(hold);
        lapse(hold);
        live--;
      }
      head++;
    }
    // Keep the queue small: drop the consumed prefix, and settled holds stuck behind a long call.
    if (head === queue.length) {
      this.queue = [];
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      this.queue = queue.slice(head);
      head = 0;
    } else if (queue.length - head > 2 * live + 1024) {
      this.queue = queue.slice(head).filter((h) => !isDone(h));
      head = 0;
    }
    this.head = head;
  }
}
