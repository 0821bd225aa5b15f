import type { BudgetLedger } from '../budget/types.js';
import type { Metadata } from '../core/types.js';
import type { BudgetWarning, ThreadResult, ThreadStatus } from './types.js';

/** Most warnings kept per thread (thresholds fire once each, so this is only a guard). */
const MAX_WARNINGS = 64;

/** What one step produced: the handler's return value, or how the thread must end. */
export type StepOutcome = { kind: 'ok'; value: unknown } | { kind: 'end'; status: ThreadStatus; error: Error };

/** How a thread ends. */
export interface ThreadEnding {
  status: ThreadStatus;
  result?: unknown;
  error?: Error;
}

/**
 * Everything the pump holds for one thread, from `start()` until its result is resolved. Dropped from
 * the pump's table when the thread ends, so nothing outlives it.
 */
export class ThreadState {
  readonly startedAt = Date.now();
  readonly done: Promise<ThreadResult>;
  resolve!: (result: ThreadResult) => void;
  /** The first message, held until the thread starts running. */
  initial: { agent: string; payload: unknown } | undefined;
  /** Callers waiting for a response, innermost last. */
  readonly stack: string[] = [];
  steps = 0;
  readonly warnings: BudgetWarning[] = [];
  /** Warnings not yet delivered, by agent. */
  private pending: Map<string, BudgetWarning[]> | undefined;
  /** `ctx.complete()` calls in flight. */
  inFlight = 0;
  /** Called when `inFlight` drops to zero while the thread is ending. */
  onDrained: (() => void) | undefined;
  /** Interrupts whatever the thread is waiting for (its handler or an agent's slot). */
  interrupt: ((outcome: StepOutcome) => void) | undefined;
  /** Set by `close()`: the thread stops before its next step. */
  cancelReason: Error | undefined;
  launched = false;
  /** Set when the thread starts ending; no more steps or calls. */
  ending = false;
  /** Set once the ledger was told and the result is built. */
  ended = false;

  constructor(
    readonly id: string,
    agent: string,
    payload: unknown,
    readonly metadata: Readonly<Metadata>,
    readonly maxTokens: number | undefined,
    /** Where the thread's budget lives (fixed for the thread's life). */
    readonly ledger: BudgetLedger | undefined,
  ) {
    this.initial = { agent, payload };
    this.done = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  /** Records a warning for the thread's result and for `agent`'s next step. False when the cap is hit. */
  addWarning(agent: string, warning: BudgetWarning): boolean {
    if (this.warnings.length >= MAX_WARNINGS) return false;
    this.warnings.push(warning);
    const map = (this.pending ??= new Map());
    const list = map.get(agent);
    if (list) list.push(warning);
    else map.set(agent, [warning]);
    return true;
  }

  /** Removes and returns `agent`'s undelivered warnings (frozen). */
  takeWarnings(agent: string): readonly BudgetWarning[] {
    const list = this.pending?.get(agent);
    if (!list) return NO_WARNINGS;
    this.pending!.delete(agent);
    if (this.pending!.size === 0) this.pending = undefined;
    return Object.freeze(list);
  }
}

const NO_WARNINGS: readonly BudgetWarning[] = Object.freeze([]);
