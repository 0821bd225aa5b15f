import { ValidationError } from '../core/errors.js';
import type { UsageEvent } from './types.js';

/** Anything events can be subscribed from: a `UsageTracker`, or a look-alike in tests. */
export interface UsageEventSource {
  subscribe(callback: (event: UsageEvent) => void, options?: { required?: boolean }): () => void;
}

/**
 * Tracks the trackers a store is attached to, so `close()` can detach them all. Shared by the SQLite
 * and PostgreSQL stores; each passes a synchronous `persist` that makes one event durable (a SQLite
 * commit, or a spool append) before the tracker's `record()` returns.
 *
 * Stores subscribe as *required*: a `persist` that throws makes the tracker's `record()` throw
 * (`USAGE_NOT_PERSISTED`), so an event is never acknowledged without being durable.
 *
 * @example
 * ```ts
 * const attachments = new TrackerAttachments((event) => store.appendSync([event]));
 * const detach = attachments.attach(tracker);
 * ```
 */
export class TrackerAttachments {
  private readonly detachers = new Set<() => void>();

  constructor(private readonly persist: (event: UsageEvent) => void) {}

  /** Subscribes to `source`; returns a function that detaches (idempotent). */
  attach(source: UsageEventSource): () => void {
    if (source === null || typeof source !== 'object' || typeof source.subscribe !== 'function') {
      throw new ValidationError('tracker', source, 'must be a UsageTracker (an object with subscribe())');
    }
    const unsubscribe = source.subscribe((event) => this.persist(event), { required: true });
    const detach = (): void => {
      if (!this.detachers.delete(detach)) return;
      unsubscribe();
    };
    this.detachers.add(detach);
    return detach;
  }

  /** Number of trackers currently attached. */
  get size(): number {
    return this.detachers.size;
  }

  /** Detaches from every tracker. */
  detachAll(): void {
    for (const detach of [...this.detachers]) detach();
  }
}
