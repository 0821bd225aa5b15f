import { splitScopedThreadId } from './thread-scope.js';

/** One thread this gateway has seen. */
export interface LiveThreadEntry {
  /** Ledger key (`org/thread` or `thread`). */
  scopedId: string;
  org: string | null;
  threadId: string;
  /** Epoch ms of the last call, budget change or read that touched it. */
  lastActivity: number;
}

/**
 * The threads this gateway instance has touched and not ended, most recently active last, bounded
 * (least recently active dropped first). Budgets live in the ledger, which has no listing; this is the
 * index the `GET /v1/threads` listing and the dashboard read from.
 *
 * @example
 * ```ts
 * const live = new LiveThreads(10_000);
 * live.touch('acme/t1');
 * live.recent({ org: 'acme', limit: 10 }); // [{ scopedId: 'acme/t1', org: 'acme', threadId: 't1', ... }]
 * ```
 */
export class LiveThreads {
  private readonly entries = new Map<string, LiveThreadEntry>();

  constructor(
    private readonly max = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  touch(scopedId: string): void {
    const existing = this.entries.get(scopedId);
    if (existing) {
      this.entries.delete(scopedId);
      existing.lastActivity = this.now();
      this.entries.set(scopedId, existing);
      return;
    }
    const { org, threadId } = splitScopedThreadId(scopedId);
    this.entries.set(scopedId, { scopedId, org, threadId, lastActivity: this.now() });
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  delete(scopedId: string): void {
    this.entries.delete(scopedId);
  }

  get(scopedId: string): LiveThreadEntry | undefined {
    return this.entries.get(scopedId);
  }

  /** Most recently active first; `org` undefined = every org, `null` = threads without an org. */
  recent(options: { org?: string | null; limit: number }): LiveThreadEntry[] {
    const all = [...this.entries.values()];
    const out: LiveThreadEntry[] = [];
    for (let i = all.length - 1; i >= 0 && out.length < options.limit; i--) {
      const e = all[i]!;
      if (options.org === undefined || e.org === options.org) out.push(e);
    }
    return out;
  }
}
