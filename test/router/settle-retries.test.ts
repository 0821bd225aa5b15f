/**
 * The router's background settle retries (issue 11, finding 8): only a ledger that could not be reached
 * is asked again; a settle the ledger refuses for good is given up at once, not retried for a minute.
 */
import { describe, expect, it } from 'vitest';
import type { Reservation } from '../../src/budget/types.js';
import { ValidationError } from '../../src/core/errors.js';
import { SettleRetries } from '../../src/router/settle-retries.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';

/** Resolves with `work`, or rejects when it takes longer than `ms` (a bound, not a timing assertion). */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  return Promise.race([work, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms))]);
}

describe('SettleRetries', () => {
  it('gives up at once on a settle the ledger refuses (not unreachable)', async () => {
    const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 1_000 });
    const hold = await ledger.reserve('t', 100);
    const givenUp: Array<[unknown, Reservation]> = [];
    const retries = new SettleRetries((err, reservation) => givenUp.push([err, reservation]));
    const refused = await ledger.settle(hold, { promptTokens: -1 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ValidationError);
    retries.add(ledger, hold, { promptTokens: -1 }, refused);
    await within(retries.idle(), 5_000);
    expect(givenUp).toHaveLength(1);
    expect(givenUp[0]![0]).toBe(refused);
    expect(givenUp[0]![1]).toBe(hold);
    // The hold is untouched: it is still there to be released or to lapse.
    expect(await ledger.usage('t')).toMatchObject({ reservedTokens: 100, totalTokens: 0 });
  });
});
