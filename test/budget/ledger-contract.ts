/**
 * The contract every {@link BudgetLedger} keeps, run against each implementation (memory, Redis).
 *
 * @example
 * ```ts
 * runBudgetLedgerContract('MemoryBudgetLedger', async (opts) => new MemoryBudgetLedger(opts));
 * ```
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { BudgetExhaustedError, ValidationError } from '../../src/core/errors.js';
import type { BudgetLedger, Reservation, Threshold, ThresholdEvent } from '../../src/budget/types.js';

/** Options the suite passes to `makeLedger`; implementations map them onto their own options. */
export interface LedgerContractOptions {
  maxTokensPerThread?: number;
  thresholds?: readonly Threshold[];
  reservationTtlMs?: number;
  /** Receives errors thrown by threshold listeners (so the suite's deliberate throws stay quiet). */
  onError?: (error: unknown) => void;
}

export type MakeLedger = (options: LedgerContractOptions) => Promise<BudgetLedger>;

/** Awaits `promise` and returns what it rejected with; fails the test if it resolved. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Polls `check` every 20 ms until it returns true, failing after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function expectValidation(err: unknown, field: string): void {
  expect(err).toBeInstanceOf(ValidationError);
  const v = err as ValidationError;
  expect(v.code).toBe('INVALID_ARGUMENT');
  expect(v.field).toBe(field);
  expect(v.message).toContain(field);
}

/** Registers the ledger contract tests under `describe(name)`. */
export function runBudgetLedgerContract(name: string, makeLedger: MakeLedger): void {
  describe(`BudgetLedger contract: ${name}`, () => {
    const open: BudgetLedger[] = [];
    const quiet = (): void => undefined;
    const make = async (options: LedgerContractOptions = {}): Promise<BudgetLedger> => {
      const ledger = await makeLedger({ onError: quiet, ...options });
      open.push(ledger);
      return ledger;
    };
    const thread = (label = 't'): string => `${label}-${randomUUID()}`;

    afterEach(async () => {
      await Promise.all(open.splice(0).map((l) => l.close()));
    });

    it('reports no usage for a thread it has never seen', async () => {
      const ledger = await make();
      expect(await ledger.usage(thread())).toBeUndefined();
    });

    it('reserve holds tokens; settle charges real usage and frees the hold', async () => {
      const ledger = await make({ maxTokensPerThread: 10_000 });
      const id = thread();
      const hold = await ledger.reserve(id, 1_500);
      expect(hold.threadId).toBe(id);
      expect(hold.tokens).toBe(1_500);
      expect(typeof hold.id).toBe('string');
      expect(await ledger.usage(id)).toEqual({
        promptTokens: 0,
        completionTokens: 0,
        totalTokens: 0,
        remaining: 8_500,
        maxTokens: 10_000,
        requestCount: 0,
        reservedTokens: 1_500,
      });

      const result = await ledger.settle(hold, { promptTokens: 700, completionTokens: 310 });
      const expected = {
        promptTokens: 700,
        completionTokens: 310,
        totalTokens: 1_010,
        remaining: 8_990,
        maxTokens: 10_000,
        requestCount: 1,
        reservedTokens: 0,
      };
      expect(result).toEqual({ charged: true, usage: expected, crossed: [] });
      expect(await ledger.usage(id)).toEqual(expected);
    });

    it('settle may charge more than was held (actual usage wins) and remaining never goes negative', async () => {
      const ledger = await make({ maxTokensPerThread: 1_000 });
      const id = thread();
      const hold = await ledger.reserve(id, 900);
      const result = await ledger.settle(hold, { promptTokens: 800, completionTokens: 400 });
      expect(result.charged).toBe(true);
      expect(result.usage).toMatchObject({ totalTokens: 1_200, remaining: 0, reservedTokens: 0 });
      expect(await rejectionOf(ledger.reserve(id, 0))).toBeInstanceOf(BudgetExhaustedError);
    });

    it('settle with no usage charges nothing but counts the request', async () => {
      const ledger = await make();
      const id = thread();
      const result = await ledger.settle(await ledger.reserve(id, 100), {});
      expect(result.charged).toBe(true);
      expect(result.usage).toMatchObject({ totalTokens: 0, requestCount: 1, reservedTokens: 0 });
    });

    it('release frees the hold without charging', async () => {
      const ledger = await make({ maxTokensPerThread: 1_000 });
      const id = thread();
      const hold = await ledger.reserve(id, 600);
      await ledger.release(hold);
      expect(await ledger.usage(id)).toMatchObject({ totalTokens: 0, requestCount: 0, reservedTokens: 0, remaining: 1_000 });
    });

    it('settle is idempotent by reservation id; settle after release and release after settle do nothing', async () => {
      const ledger = await make({ maxTokensPerThread: 10_000 });
      const id = thread();
      const a = await ledger.reserve(id, 500);
      expect((await ledger.settle(a, { promptTokens: 300, completionTokens: 100 })).charged).toBe(true);
      const again = await ledger.settle(a, { promptTokens: 300, completionTokens: 100 });
      expect(again.charged).toBe(false);
      expect(again.crossed).toEqual([]);
      await ledger.release(a);
      expect(await ledger.usage(id)).toMatchObject({ totalTokens: 400, requestCount: 1, reservedTokens: 0 });

      const b = await ledger.reserve(id, 500);
      await ledger.release(b);
      await ledger.release(b);
      expect((await ledger.settle(b, { promptTokens: 1 })).charged).toBe(false);
      expect(await ledger.usage(id)).toMatchObject({ totalTokens: 400, requestCount: 1, reservedTokens: 0, remaining: 9_600 });
    });

    it('a settle copied from another reservation id, or for an ended thread, charges nothing', async () => {
      const ledger = await make();
      const id = thread();
      const hold = await ledger.reserve(id, 100);
      const forged: Reservation = { ...hold, id: `${hold.id}-other` };
      expect((await ledger.settle(forged, { promptTokens: 50 })).charged).toBe(false);
      await ledger.endThread(id);
      expect(await ledger.settle(hold, { promptTokens: 50 })).toEqual({ charged: false, usage: undefined, crossed: [] });
      expect(await ledger.usage(id)).toBeUndefined();
    });

    it('throws BudgetExhaustedError with threadId, used, reserved, maxTokens and requested, holding nothing', async () => {
      const ledger = await make({ maxTokensPerThread: 1_000 });
      const id = thread();
      await ledger.settle(await ledger.reserve(id, 600), { promptTokens: 500, completionTokens: 100 });
      await ledger.reserve(id, 300);
      const err = await rejectionOf(ledger.reserve(id, 200));
      expect(err).toBeInstanceOf(BudgetExhaustedError);
      const e = err as BudgetExhaustedError;
      expect(e.code).toBe('BUDGET_EXHAUSTED');
      expect(e.message).toContain('budget exhausted');
      expect(e.threadId).toBe(id);
      expect(e.used).toBe(600);
      expect(e.reserved).toBe(300);
      expect(e.maxTokens).toBe(1_000);
      expect(e.requested).toBe(200);
      expect(await ledger.usage(id)).toMatchObject({ reservedTokens: 300, remaining: 100 });
      // Exactly what is left still fits.
      const last = await ledger.reserve(id, 100);
      expect(last.tokens).toBe(100);
      expect(await ledger.usage(id)).toMatchObject({ reservedTokens: 400, remaining: 0 });
    });

    it('a request larger than the whole budget of a new thread is refused', async () => {
      const ledger = await make({ maxTokensPerThread: 1_000 });
      const id = thread();
      const err = (await rejectionOf(ledger.reserve(id, 1_001))) as BudgetExhaustedError;
      expect(err).toBeInstanceOf(BudgetExhaustedError);
      expect(err).toMatchObject({ threadId: id, used: 0, reserved: 0, maxTokens: 1_000, requested: 1_001 });
    });

    it('holds count against what others can reserve until released', async () => {
      const ledger = await make({ maxTokensPerThread: 1_000 });
      const id = thread();
      const big = await ledger.reserve(id, 700);
      expect(await rejectionOf(ledger.reserve(id, 400))).toBeInstanceOf(BudgetExhaustedError);
      await ledger.release(big);
      const next = await ledger.reserve(id, 400);
      expect(next.tokens).toBe(400);
    });

    it('keeps threads independent', async () => {
      const ledger = await make({ maxTokensPerThread: 1_000 });
      const a = thread('a');
      const b = thread('b');
      await ledger.settle(await ledger.reserve(a, 1_000), { promptTokens: 1_000 });
      expect(await rejectionOf(ledger.reserve(a, 1))).toBeInstanceOf(BudgetExhaustedError);
      expect((await ledger.reserve(b, 1_000)).tokens).toBe(1_000);
    });

    it('setBudget raises or lowers one thread, before or after it has used anything', async () => {
      const ledger = await make({ maxTokensPerThread: 1_000 });
      const high = thread('high');
      expect(await ledger.setBudget(high, 5_000)).toMatchObject({ maxTokens: 5_000, totalTokens: 0, remaining: 5_000 });
      expect((await ledger.reserve(high, 3_000)).tokens).toBe(3_000);

      const low = thread('low');
      await ledger.setBudget(low, 100);
      const err = (await rejectionOf(ledger.reserve(low, 200))) as BudgetExhaustedError;
      expect(err).toBeInstanceOf(BudgetExhaustedError);
      expect(err.maxTokens).toBe(100);

      const used = thread('used');
      await ledger.settle(await ledger.reserve(used, 500), { promptTokens: 500 });
      expect(await ledger.setBudget(used, 400)).toMatchObject({ maxTokens: 400, totalTokens: 500, remaining: 0 });
      expect(await rejectionOf(ledger.reserve(used, 1))).toBeInstanceOf(BudgetExhaustedError);
      await ledger.setBudget(used, 2_000);
      expect((await ledger.reserve(used, 1_500)).tokens).toBe(1_500);
      expect(await ledger.usage(used)).toMatchObject({ maxTokens: 2_000, totalTokens: 500, reservedTokens: 1_500, remaining: 0 });

      // Other threads keep the default.
      expect((await ledger.setBudget(thread(), 1)).maxTokens).toBe(1);
      expect(await rejectionOf(ledger.reserve(thread(), 1_001))).toBeInstanceOf(BudgetExhaustedError);
    });

    it('endThread returns the final usage and removes the thread', async () => {
      const ledger = await make({ maxTokensPerThread: 2_000 });
      const id = thread();
      await ledger.settle(await ledger.reserve(id, 400), { promptTokens: 250, completionTokens: 50 });
      await ledger.settle(await ledger.reserve(id, 400), { promptTokens: 100, completionTokens: 20 });
      await ledger.reserve(id, 900); // still held when the thread ends
      const final = await ledger.endThread(id);
      expect(final).toMatchObject({ promptTokens: 350, completionTokens: 70, totalTokens: 420, maxTokens: 2_000, requestCount: 2 });
      expect(await ledger.usage(id)).toBeUndefined();
      expect(await ledger.endThread(id)).toBeUndefined();
      // The id starts afresh if used again.
      await ledger.reserve(id, 10);
      expect(await ledger.usage(id)).toMatchObject({ totalTokens: 0, requestCount: 0, reservedTokens: 10, maxTokens: 2_000 });
    });

    it('fires each threshold once, with the fields of the crossing, in settle results and to listeners', async () => {
      const ledger = await make({ maxTokensPerThread: 1_000 });
      const id = thread();
      const seen: ThresholdEvent[] = [];
      ledger.onThreshold((e) => seen.push(e));

      const first = await ledger.settle(await ledger.reserve(id, 700), { promptTokens: 700 });
      expect(first.crossed).toEqual([]);
      const warn = await ledger.settle(await ledger.reserve(id, 60), { promptTokens: 40, completionTokens: 20 });
      const warning: ThresholdEvent = {
        threadId: id,
        percent: 75,
        severity: 'warning',
        percentUsed: 76,
        usedTokens: 760,
        remainingTokens: 240,
        maxTokens: 1_000,
      };
      expect(warn.crossed).toEqual([warning]);
      expect(seen).toEqual([warning]);

      // A hold outstanding during the crossing lowers remainingTokens, not percentUsed.
      const outstanding = await ledger.reserve(id, 20);
      const both = await ledger.settle(await ledger.reserve(id, 200), { completionTokens: 200 });
      const expectedBoth: ThresholdEvent[] = [
        { threadId: id, percent: 90, severity: 'critical', percentUsed: 96, usedTokens: 960, remainingTokens: 20, maxTokens: 1_000 },
        { threadId: id, percent: 95, severity: 'final', percentUsed: 96, usedTokens: 960, remainingTokens: 20, maxTokens: 1_000 },
      ];
      expect(both.crossed).toEqual(expectedBoth);
      expect(seen).toEqual([warning, ...expectedBoth]);

      const after = await ledger.settle(outstanding, { promptTokens: 20 });
      expect(after.crossed).toEqual([]);
      expect(seen).toHaveLength(3);
    });

    it('counts a crossing exactly at the threshold, fires none below it, and honours custom thresholds', async () => {
      const ledger = await make({
        maxTokensPerThread: 200,
        thresholds: [
          { percent: 50, severity: 'warning' },
          { percent: 87.5, severity: 'critical' },
        ],
      });
      const id = thread();
      expect((await ledger.settle(await ledger.reserve(id, 99), { promptTokens: 99 })).crossed).toEqual([]);
      const half = await ledger.settle(await ledger.reserve(id, 1), { promptTokens: 1 });
      expect(half.crossed.map((e) => [e.percent, e.severity, e.percentUsed])).toEqual([[50, 'warning', 50]]);
      expect((await ledger.settle(await ledger.reserve(id, 74), { promptTokens: 74 })).crossed).toEqual([]);
      const late = await ledger.settle(await ledger.reserve(id, 1), { completionTokens: 1 });
      expect(late.crossed.map((e) => [e.percent, e.severity, e.percentUsed, e.usedTokens])).toEqual([[87.5, 'critical', 87.5, 175]]);
    });

    it('lowering a budget with setBudget fires the thresholds it crosses, once', async () => {
      const ledger = await make({ maxTokensPerThread: 10_000 });
      const id = thread();
      const seen: ThresholdEvent[] = [];
      ledger.onThreshold((e) => seen.push(e));
      await ledger.settle(await ledger.reserve(id, 800), { promptTokens: 800 });
      expect(seen).toEqual([]);
      await ledger.setBudget(id, 1_000);
      expect(seen.map((e) => [e.percent, e.usedTokens, e.maxTokens, e.remainingTokens])).toEqual([[75, 800, 1_000, 200]]);
      await ledger.setBudget(id, 10_000);
      await ledger.setBudget(id, 1_000);
      expect(seen).toHaveLength(1);
    });

    it('unsubscribed listeners hear nothing; a throwing listener breaks neither settle nor the others', async () => {
      const errors: unknown[] = [];
      const ledger = await make({ maxTokensPerThread: 100, onError: (e) => errors.push(e) });
      const id = thread();
      const heard: number[] = [];
      const gone: number[] = [];
      ledger.onThreshold(() => {
        throw new Error('listener bug');
      });
      const off = ledger.onThreshold((e) => gone.push(e.percent));
      ledger.onThreshold((e) => heard.push(e.percent));
      off();
      const result = await ledger.settle(await ledger.reserve(id, 80), { promptTokens: 80 });
      expect(result.charged).toBe(true);
      expect(result.crossed.map((e) => e.percent)).toEqual([75]);
      expect(heard).toEqual([75]);
      expect(gone).toEqual([]);
      expect(errors).toHaveLength(1);
      expect((errors[0] as Error).message).toBe('listener bug');
      expect(await ledger.usage(id)).toMatchObject({ totalTokens: 80, reservedTokens: 0 });
    });

    it('expired holds give their budget back, and settling one charges nothing', async () => {
      const ledger = await make({ maxTokensPerThread: 1_000, reservationTtlMs: 200 });
      const id = thread();
      const before = Date.now();
      const hold = await ledger.reserve(id, 800);
      expect(typeof hold.expiresAt).toBe('number');
      // Allow for the Redis clock and a slow machine, but it must be about the TTL away.
      expect(hold.expiresAt!).toBeGreaterThanOrEqual(before + 200 - 50);
      expect(hold.expiresAt!).toBeLessThanOrEqual(Date.now() + 200 + 50);
      expect(await rejectionOf(ledger.reserve(id, 300))).toBeInstanceOf(BudgetExhaustedError);
      await waitFor(async () => (await ledger.usage(id))!.reservedTokens === 0, 5_000, 'the hold to expire');
      expect(await ledger.usage(id)).toMatchObject({ reservedTokens: 0, remaining: 1_000, totalTokens: 0 });
      expect((await ledger.settle(hold, { promptTokens: 800 })).charged).toBe(false);
      expect(await ledger.usage(id)).toMatchObject({ totalTokens: 0, requestCount: 0 });
      expect((await ledger.reserve(id, 1_000)).tokens).toBe(1_000);
    });

    it('an expired hold is not charged even if nothing has looked at the thread since it lapsed', async () => {
      const ledger = await make({ maxTokensPerThread: 1_000, reservationTtlMs: 100 });
      const id = thread();
      const hold = await ledger.reserve(id, 500);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, hold.expiresAt! - Date.now()) + 30));
      expect((await ledger.settle(hold, { promptTokens: 500 })).charged).toBe(false);
      expect(await ledger.usage(id)).toMatchObject({ totalTokens: 0, reservedTokens: 0 });
    });

    it('500 concurrent reserve/settle/release calls on one thread never overspend, and account exactly', async () => {
      const ledger = await make({ maxTokensPerThread: 10_000 });
      const id = thread();
      let settled = 0;
      let released = 0;
      let refused = 0;
      let charged = 0;
      await Promise.all(
        Array.from({ length: 500 }, async (_, i) => {
          let hold: Reservation;
          try {
            hold = await ledger.reserve(id, 40);
          } catch (err) {
            expect(err).toBeInstanceOf(BudgetExhaustedError);
            refused++;
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, i % 3));
          if (i % 5 === 0) {
            await ledger.release(hold);
            released++;
            return;
          }
          // Charge exactly the hold: any overspend by the ledger would push the total past the maximum.
          const result = await ledger.settle(hold, { promptTokens: 25, completionTokens: 15 });
          expect(result.charged).toBe(true);
          settled++;
          charged += 40;
        }),
      );
      expect(settled + released + refused).toBe(500);
      expect(settled).toBeGreaterThan(0);
      const usage = (await ledger.usage(id))!;
      expect(usage.totalTokens).toBe(charged);
      expect(usage.totalTokens).toBeLessThanOrEqual(10_000);
      expect(usage.promptTokens).toBe(settled * 25);
      expect(usage.completionTokens).toBe(settled * 15);
      expect(usage.requestCount).toBe(settled);
      expect(usage.reservedTokens).toBe(0);
      expect(usage.remaining).toBe(10_000 - charged);
    });

    it('rejects bad arguments with a ValidationError naming the field', async () => {
      const ledger = await make();
      const id = thread();
      expectValidation(await rejectionOf(ledger.reserve('', 10)), 'threadId');
      expectValidation(await rejectionOf(ledger.reserve(42 as unknown as string, 10)), 'threadId');
      expectValidation(await rejectionOf(ledger.reserve(id, -1)), 'tokens');
      expectValidation(await rejectionOf(ledger.reserve(id, Number.NaN)), 'tokens');
      expectValidation(await rejectionOf(ledger.reserve(id, 1.5)), 'tokens');
      expectValidation(await rejectionOf(ledger.reserve(id, Number.POSITIVE_INFINITY)), 'tokens');
      expectValidation(await rejectionOf(ledger.setBudget(id, 0)), 'maxTokens');
      expectValidation(await rejectionOf(ledger.setBudget(id, 2.5)), 'maxTokens');
      expectValidation(await rejectionOf(ledger.setBudget('', 10)), 'threadId');
      // Counts beyond 2^53 - 1 are not exact as doubles: refused by every ledger.
      expectValidation(await rejectionOf(ledger.reserve(id, 2 ** 53)), 'tokens');
      expectValidation(await rejectionOf(ledger.setBudget(id, 2 ** 53)), 'maxTokens');
      // Nothing was created by the refused calls.
      expect(await ledger.usage(id)).toBeUndefined();

      const hold = await ledger.reserve(id, 100);
      expectValidation(await rejectionOf(ledger.settle(hold, { promptTokens: -5 })), 'promptTokens');
      expectValidation(await rejectionOf(ledger.settle(hold, { completionTokens: Number.NaN })), 'completionTokens');
      expectValidation(await rejectionOf(ledger.settle(hold, { promptTokens: 0.5 })), 'promptTokens');
      expectValidation(await rejectionOf(ledger.settle(hold, { completionTokens: 2 ** 53 })), 'completionTokens');
      // A refused settle leaves the hold in place, so the real settle still charges.
      expect(await ledger.usage(id)).toMatchObject({ reservedTokens: 100, requestCount: 0 });
      expect((await ledger.settle(hold, { promptTokens: 60 })).charged).toBe(true);
    });
  });
}
