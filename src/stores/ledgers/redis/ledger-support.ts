import { LedgerUnavailableError, ValidationError } from '../../../core/errors.js';
import type { Reservation, RestoredSpend, ThreadUsage } from '../../../budget/types.js';
import { assertPositiveTokens, assertThreadId, assertTokenCount } from '../../../core/validate.js';
import type { RedisLedgerOperation } from './ledger-options.js';

/** Helpers of `RedisBudgetLedger`: reply decoding, argument checks, timeouts, the default error hook. */

/** Calls `restore` and checks what it returned; its failure becomes `LedgerUnavailableError`. */
export async function loadRestored(restore: (threadId: string) => Promise<RestoredSpend | undefined>, threadId: string): Promise<RestoredSpend | undefined> {
  let spent: RestoredSpend | undefined;
  try {
    spent = await restore(threadId);
  } catch (err) {
    // No thread id in the message: it may be an internal (namespaced) id that reaches a client.
    throw new LedgerUnavailableError(`restoring a thread's spend from the usage record failed: ${errorMessage(err)}`, { cause: err });
  }
  if (spent === undefined || spent === null) return undefined;
  const { promptTokens, completionTokens, requestCount } = spent;
  assertSafeTokens('restore().promptTokens', promptTokens);
  assertSafeTokens('restore().completionTokens', completionTokens);
  assertSafeTokens('restore().requestCount', requestCount);
  return { promptTokens, completionTokens, requestCount };
}

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

/** Token counts also have to survive Lua's doubles exactly. */
export function assertSafeTokens(field: string, value: unknown, positive = false): asserts value is number {
  if (positive) assertPositiveTokens(field, value);
  else assertTokenCount(field, value);
  if (value > Number.MAX_SAFE_INTEGER) {
    throw new ValidationError(field, value, `must be at most ${Number.MAX_SAFE_INTEGER}`);
  }
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

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
