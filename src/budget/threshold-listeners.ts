import { ValidationError } from '../core/errors.js';
import type { ThresholdEvent } from './types.js';

/** A threshold listener; what it returns is ignored (a promise's rejection is reported like a throw). */
export type ThresholdListener = (event: ThresholdEvent) => void;

/**
 * The threshold listeners of a ledger (memory or Redis): each event goes to every listener; what a listener
 * throws (or its promise rejects with) goes to `report` and never breaks accounting.
 *
 * @example
 * ```ts
 * const listeners = new ThresholdListeners((err) => console.error(err));
 * const off = listeners.add((e) => console.warn(`${e.threadId} passed ${e.percent}%`));
 * listeners.emit(crossed);
 * ```
 */
export class ThresholdListeners {
  private readonly listeners = new Set<ThresholdListener>();

  constructor(private readonly report: (error: unknown) => void) {}

  /** Subscribes `listener`; returns the unsubscribe function. */
  add(listener: ThresholdListener): () => void {
    if (typeof listener !== 'function') throw new ValidationError('listener', listener, 'must be a function');
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  clear(): void {
    this.listeners.clear();
  }

  /** Delivers each event to every listener, in order. */
  emit(events: readonly ThresholdEvent[]): void {
    if (events.length === 0 || this.listeners.size === 0) return;
    for (const event of events) {
      for (const listener of this.listeners) {
        try {
          const result: unknown = listener(event);
          if (result instanceof Promise) result.catch((err: unknown) => this.report(err));
        } catch (err) {
          this.report(err);
        }
      }
    }
  }
}
