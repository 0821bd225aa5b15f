import { ThreadLimitError } from '../core/errors.js';
import type { ThreadBudget } from './thread-budget.js';

/** Limits of a {@link ThreadTable}, validated by the registry. */
export interface ThreadTableLimits {
  maxThreads: number;
  maxThreadsPerGroup: number | undefined;
  groupOf: ((threadId: string) => string | undefined) | undefined;
  idleTtlMs: number | undefined;
  now: () => number;
}

/** Most budgets one sweep looks at: bounds the pause one call can take (growth is paced by creations). */
const SWEEP_STEPS = 1_024;

/**
 * The registry's threads: a Map from thread id to budget that also counts threads per group and lets
 * idle ones go.
 *
 * Idle expiry is lazy and cheap: the hot path only stamps `lastUsedAt`; the Map is kept in the order
 * budgets were (re)queued, so a sweep looks at the front only. A front budget queued more than the TTL ago
 * either is idle (unused for the TTL, no live hold: it leaves) or was used since (it moves to the back,
 * queued now). So each budget moves at most once per TTL, and a sweep stops at the first budget queued
 * within the TTL, behind which every budget is younger.
 */
export class ThreadTable {
  /** Read directly by the registry's hot paths. */
  readonly budgets = new Map<string, ThreadBudget>();
  private readonly groups = new Map<string, number>();

  constructor(
    private readonly limits: ThreadTableLimits,
    /** Called for each budget that leaves idle (after it left the table). */
    private readonly onEvict: (budget: ThreadBudget) => void,
  ) {}

  get size(): number {
    return this.budgets.size;
  }

  /** Threads counted under `group`. */
  groupSize(group: string): number {
    return this.groups.get(group) ?? 0;
  }

  /**
   * Adds a new budget, or throws {@link ThreadLimitError} (adding nothing) when its group or the table is
   * full. Idle budgets are swept first, so a full table makes room by itself as threads go idle.
   */
  add(threadId: string, budget: ThreadBudget): void {
    const group = this.groupOf(threadId);
    const refused = this.refusal(threadId, group);
    if (refused) throw refused;
    if (group !== undefined) {
      budget.group = group;
      this.groups.set(group, this.groupSize(group) + 1);
    }
    if (this.limits.idleTtlMs !== undefined) budget.lastUsedAt = budget.queuedAt = this.limits.now();
    this.budgets.set(threadId, budget);
  }

  /**
   * The error {@link add} would throw for `threadId` now (after a sweep), or `undefined` if there is room.
   * Lets a caller refuse before doing costly work (restoring a thread from a store).
   */
  roomFor(threadId: string): ThreadLimitError | undefined {
    return this.refusal(threadId, this.groupOf(threadId));
  }

  private groupOf(threadId: string): string | undefined {
    const { groupOf } = this.limits;
    return groupOf === undefined ? undefined : groupOf(threadId);
  }

  private refusal(threadId: string, group: string | undefined): ThreadLimitError | undefined {
    const { maxThreadsPerGroup, maxThreads } = this.limits;
    this.sweep();
    if (group !== undefined && maxThreadsPerGroup !== undefined && this.groupSize(group) >= maxThreadsPerGroup) {
      return new ThreadLimitError({ threadId, group, scope: 'group', limit: maxThreadsPerGroup });
    }
    if (this.budgets.size >= maxThreads) return new ThreadLimitError({ threadId, scope: 'global', limit: maxThreads });
    return undefined;
  }

  /** Removes a budget (a thread that ended); returns it, or `undefined` if absent. */
  delete(threadId: string): ThreadBudget | undefined {
    const budget = this.budgets.get(threadId);
    if (!budget) return undefined;
    this.budgets.delete(threadId);
    this.uncount(budget);
    return budget;
  }

  /**
   * Lets idle budgets go: those unused for the idle TTL, holding nothing and without a maximum of their own,
   * oldest first (bounded work).
   */
  sweep(): void {
    const ttl = this.limits.idleTtlMs;
    if (ttl === undefined || this.budgets.size === 0) return;
    const now = this.limits.now();
    const cutoff = now - ttl;
    let steps = 0;
    for (const [threadId, budget] of this.budgets) {
      if (budget.queuedAt > cutoff || ++steps > SWEEP_STEPS) break;
      this.budgets.delete(threadId);
      // A thread with its own maximum stays: evicted, it would come back at the default maximum.
      if (budget.lastUsedAt <= cutoff && budget.holdCount === 0 && !budget.ownMax) {
        this.uncount(budget);
        this.onEvict(budget);
      } else {
        // Used since it was queued (or still holding): to the back, looked at again one TTL from now.
        budget.queuedAt = now;
        this.budgets.set(threadId, budget);
      }
    }
  }

  private uncount(budget: ThreadBudget): void {
    const group = budget.group;
    if (group === undefined) return;
    const n = this.groupSize(group) - 1;
    if (n > 0) this.groups.set(group, n);
    else this.groups.delete(group);
  }
}
