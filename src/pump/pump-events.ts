import { ValidationError } from '../core/errors.js';
import { toError } from './handler-outcome.js';
import type { BudgetWarning, PumpLogger, ThreadEvent } from './types.js';

const MAX_LISTENERS = 1024;

/**
 * The pump's `thread` and `warning` listeners and its logger. A listener or a logger that throws is
 * reported (listeners) or ignored (loggers), never thrown into the pump.
 */
export class PumpEvents {
  private readonly threadListeners = new Set<(event: ThreadEvent) => void>();
  private readonly warningListeners = new Set<(warning: BudgetWarning) => void>();

  constructor(readonly logger: PumpLogger) {}

  get listenerCount(): number {
    return this.threadListeners.size + this.warningListeners.size;
  }

  /** Subscribes a listener; returns the unsubscribe function. */
  on(event: 'thread' | 'warning', listener: ((event: ThreadEvent) => void) | ((warning: BudgetWarning) => void)): () => void {
    if (event !== 'thread' && event !== 'warning') throw new ValidationError('event', event, 'must be "thread" or "warning"');
    if (typeof listener !== 'function') throw new ValidationError('listener', listener, 'must be a function');
    const set = (event === 'thread' ? this.threadListeners : this.warningListeners) as Set<typeof listener>;
    if (set.size >= MAX_LISTENERS) throw new ValidationError('listener', set.size, `at most ${MAX_LISTENERS} ${event} listeners`);
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  emitThread(result: ThreadEvent): void {
    for (const listener of this.threadListeners) {
      try {
        listener(result);
      } catch (err) {
        this.warn('thread listener threw', { threadId: result.threadId, error: toError(err).message });
      }
    }
  }

  emitWarning(warning: BudgetWarning, threadId: string): void {
    for (const listener of this.warningListeners) {
      try {
        listener(warning);
      } catch (err) {
        this.warn('warning listener threw', { threadId, error: toError(err).message });
      }
    }
  }

  debug(message: string, fields: Record<string, unknown>): void {
    this.logger.debug(message, fields);
  }

  /** Logs at warn level (debug when the logger has no `warn`); a broken logger must not break the pump. */
  warn(message: string, fields: Record<string, unknown>): void {
    try {
      (this.logger.warn ?? this.logger.debug).call(this.logger, message, fields);
    } catch {
      // a broken logger must not break the pump
    }
  }
}
