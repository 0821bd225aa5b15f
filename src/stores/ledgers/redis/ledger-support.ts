import { LedgerUnavailableError, ValidationError } from '../../../core/errors.js';
import type { Reservation, Threshold, ThresholdEvent, ThreadUsage } from '../../../budget/types.js';
import { assertThreadId } from '../../../core/validate.js';

/** What the ledger was doing when an error reached `RedisBudgetLedgerOptions.onError`. */
export type RedisLedgerOperation =
  | 'reserve'
  | 'settle'
  | 'release'
  | 'usage'
  | 'setBudget'
  | 'endThread'
  | 'seed'
  | 'connection'
  | 'listener'
  // the policy ledger's (RedisPolicyLedger)
  | 'standing'
  | 'top'
  | 'init'
  | 'setOverride'
  | 'deleteOverride'
  | 'overrides';

/** Helpers of `RedisBudgetLedger`: reply decoding, the reservation check, timeouts, the default error hook. */

/** A usage snapshot from the numbers a script returned. */
export function toUsage(p: unknown, c: unknown, n: unknown, r: unknown, m: unknown): ThreadUsage {
  const promptTokens = Number(p);
  const completionTokens = Number(c);
  const reservedTokens = Number(r);
  const maxTokens = Number(m);
  const totalTokens = promptTokens + completionTokens;
  return {
    promptTokens,
    completionTokens,
    totalTokens,
    remaining: Math.max(0, maxTokens - totalTokens - reservedTokens),
    maxTokens,
    requestCount: Number(n),
    reservedTokens,
  };
}

/** The threshold events of the percents a script reported fired (`thresholdByArg`: threshold by percent, as text). */
export function crossedThresholds(
  thresholdByArg: ReadonlyMap<string, Threshold>,
  threadId: string,
  usage: ThreadUsage,
  fired: unknown[],
): ThresholdEvent[] {
  if (fired.length === 0) return [];
  const used = usage.totalTokens;
  const events: ThresholdEvent[] = [];
  for (const arg of fired) {
    const threshold = thresholdByArg.get(String(arg));
    if (!threshold) continue;
    events.push({
      threadId,
      percent: threshold.percent,
      severity: threshold.severity,
      percentUsed: Math.round(((used * 100) / usage.maxTokens) * 100) / 100,
      usedTokens: used,
      remainingTokens: usage.remaining,
      maxTokens: usage.maxTokens,
    });
  }
  return events;
}

export function assertReservation(reservation: Reservation): void {
  if (reservation === null || typeof reservation !== 'object') {
    throw new ValidationError('reservation', reservation, 'must be a reservation returned by reserve()');
  }
  if (typeof reservation.id !== 'string' || reservation.id.length === 0) {
    throw new ValidationError('reservation.id', reservation.id, 'must be a non-empty string');
  }
  assertThreadId('reservation.threadId', reservation.threadId);
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply from Redis within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** `console.warn`, at most one line per 10 s (the default `onError`). */
export function rateLimitedWarn(): (error: Error, operation: RedisLedgerOperation) => void {
  let last = 0;
  let suppressed = 0;
  return (error, operation) => {
    const t = Date.now();
    if (t - last < 10_000) {
      suppressed++;
      return;
    }
    const more = suppressed > 0 ? ` (${suppressed} similar messages suppressed)` : '';
    last = t;
    suppressed = 0;
    console.warn(`[tokenwarden] Redis budget ledger (${operation}): ${error.message}${more}`);
  };
}

/** Hands `err` to a ledger's `onError` hook; a hook that throws must not break accounting. */
export function reportLedgerError(onError: (error: Error, operation: RedisLedgerOperation) => void, err: unknown, operation: RedisLedgerOperation): void {
  try {
    onError(err instanceof Error ? err : new Error(String(err)), operation);
  } catch {
    // Ignored: see above.
  }
}

/**
 * Whether a call that failed with `err` goes on unmetered: only with `failOpen`, on a ledger not closed,
 * when Redis could not be reached (`LedgerUnavailableError`); such an error is reported first.
 */
export function failsOpen(failOpen: boolean, closed: boolean, err: unknown, report: (err: unknown) => void): boolean {
  if (!failOpen || closed || !(err instanceof LedgerUnavailableError)) return false;
  report(err);
  return true;
}
