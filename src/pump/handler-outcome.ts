import { BudgetExhaustedError } from '../core/errors.js';
import { HandlerFailedError } from './errors.js';
import type { StepOutcome } from './thread-state.js';
import { errorCode } from '../core/error-fields.js';

/** How a step ends when its handler threw or rejected: `budget_exhausted` for a budget refusal, else `failed`. */
export function handlerError(agent: string, err: unknown): StepOutcome {
  if (isBudgetExhausted(err)) return { kind: 'end', status: 'budget_exhausted', error: toError(err) };
  return { kind: 'end', status: 'failed', error: new HandlerFailedError(agent, err) };
}

/** A budget refusal, possibly wrapped (up to five `cause` levels) by the handler. */
function isBudgetExhausted(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    if (e instanceof BudgetExhaustedError || errorCode(e) === 'BUDGET_EXHAUSTED') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
