import type { ThreadUsage } from '../budget/types.js';
import { toError } from './handler-outcome.js';
import type { PumpCounters } from './pump-counters.js';
import type { PumpEvents } from './pump-events.js';
import type { ThreadEnding, ThreadState } from './thread-state.js';
import type { ThreadResult } from './types.js';

/**
 * The end of a thread, whatever way it ends: wait (at most `abortGraceMs`) for its aborted LLM calls to
 * release their reservations, end its budget in the ledger, then build and log its {@link ThreadResult}.
 */
export class ThreadEnder {
  constructor(
    private readonly abortGraceMs: number,
    private readonly counters: PumpCounters,
    private readonly events: PumpEvents,
  ) {}

  /** Marks the thread ending, drains its calls and ends its budget; returns the budget's final usage. */
  async endBudget(t: ThreadState): Promise<ThreadUsage | undefined> {
    t.ending = true;
    if (t.inFlight > 0) await this.drainCalls(t);
    let usage: ThreadUsage | undefined;
    if (t.ledger) {
      try {
        usage = await t.ledger.endThread(t.id);
      } catch (err) {
        this.events.warn('ledger.endThread failed', { threadId: t.id, error: toError(err).message });
      }
    }
    t.ended = true;
    return usage;
  }

  /** The thread's frozen result, logged at debug level. */
  result(t: ThreadState, ending: ThreadEnding, usage: ThreadUsage | undefined): ThreadResult {
    const durationMs = Date.now() - t.startedAt;
    const result: ThreadResult = Object.freeze({
      threadId: t.id,
      status: ending.status,
      ...(ending.result !== undefined ? { result: ending.result } : {}),
      ...(ending.error !== undefined ? { error: ending.error } : {}),
      usage,
      warnings: Object.freeze(t.warnings.slice()),
      steps: t.steps,
      durationMs,
    });
    this.events.debug('thread ended', {
      threadId: t.id,
      status: ending.status,
      steps: t.steps,
      durationMs,
      promptTokens: usage?.promptTokens,
      completionTokens: usage?.completionTokens,
      totalTokens: usage?.totalTokens,
      maxTokens: usage?.maxTokens,
      requestCount: usage?.requestCount,
      warnings: t.warnings.length,
      ...(ending.error ? { error: ending.error.message } : {}),
    });
    return result;
  }

  private drainCalls(t: ThreadState): Promise<void> {
    return new Promise<void>((resolve) => {
      this.counters.timers++;
      const timer = setTimeout(() => {
        this.counters.timers--;
        t.onDrained = undefined;
        this.events.warn('LLM calls still in flight after abortGraceMs; ending the thread anyway', {
          threadId: t.id,
          inFlight: t.inFlight,
          abortGraceMs: this.abortGraceMs,
        });
        resolve();
      }, this.abortGraceMs);
      t.onDrained = () => {
        clearTimeout(timer);
        this.counters.timers--;
        t.onDrained = undefined;
        resolve();
      };
    });
  }
}
