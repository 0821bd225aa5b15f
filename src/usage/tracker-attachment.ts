import { ValidationError } from '../core/errors.js';
import type { UsageEvent } from './types.js';

/** Anything events can be subscribed from: a `UsageTracker`, or a look-alike in tests. */
export interface UsageEventSource {
  subscribe(callback: (event: UsageEvent) => void, options?: { required?: boolean }): () => void;
}

/**
 * The trackers a `UsageCommitter` is subscribed to, so that closing a store can detach them all.
 *
 * @example
 * ```ts
 * const attachments = new TrackerAttachments();
 * const detach = attachments.attach(tracker, (event) => store.appendSync([event]), { required: true });
 * attachments.detachAll();
 * ```
 */
export class TrackerAttachments {
  private readonly detachers = new Set<() => void>();

  /**
   * Subscribes `onEvent` to `source`; returns a function that detaches (idempotent). A `required`
   * subscriber that throws makes the tracker's `record()` throw (`USAGE_NOT_PERSISTED`), so an event
   * is never acknowledged without being kept.
   */
  attach(source: UsageEventSource, onEvent: (event: UsageEvent) => void, options: { required: boolean }): () => void {
    if (source === null || typeof source !== 'object' || typeof source.subscribe !== 'function') {
      throw new ValidationError('tracker', source, 'must be a UsageTracker (an object with subscribe())');
    }
    const unsubscribe = source.subscribe(onEvent, options.required ? { required: true } : undefined);
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
