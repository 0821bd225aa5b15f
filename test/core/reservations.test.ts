import { describe, expect, it } from 'vitest';
import { BudgetExhaustedError, TokenwardenError, ValidationError } from '../../src/errors.js';
import { ThreadBudgetRegistry } from '../../src/budget/registry.js';
import type { ThresholdEvent } from '../../src/budget/types.js';

describe('reservations', () => {
  it('holds count against remaining and are reported as reservedTokens', () => {
    const r = new ThreadBudgetRegistry({ maxTokensPerThread: 1000 });
    const hold = r.reserve('t', 600);
    expect(r.getUsage('t')).toMatchObject({ totalTokens: 0, reservedTokens: 600, remaining: 400 });
    expect(() => r.reserve('t', 401)).toThrow(BudgetExhaustedError);
    r.settle(hold, { promptTokens: 100, completionTokens: 50 });
    expect(r.getUsage('t')).toMatchObject({ totalTokens: 150, reservedTokens: 0, remaining: 850, requestCount: 1 });
  });

  it('a refused reservation holds nothing and carries the requested tokens', () => {
    const r = new ThreadBudgetRegistry({ maxTokensPerThread: 1000 });
    r.consume('t', { promptTokens: 700 });
    r.reserve('t', 200);
    let err: BudgetExhaustedError | undefined;
    try {
      r.reserve('t', 150);
    } catch (e) {
      err = e as BudgetExhaustedError;
    }
    expect(err).toBeInstanceOf(BudgetExhaustedError);
    expect(err).toBeInstanceOf(TokenwardenError);
    expect(err!.code).toBe('BUDGET_EXHAUSTED');
    expect(err!.requested).toBe(150);
    expect(err!.used).toBe(700);
    expect(err!.reserved).toBe(200);
    expect(err!.message).toContain('budget exhausted');
    expect(r.getUsage('t')!.reservedTokens).toBe(200);
  });

  it('settling or releasing twice charges once', () => {
    const r = new ThreadBudgetRegistry({ maxTokensPerThread: 1000 });
    const hold = r.reserve('t', 100);
    expect(r.settle(hold, { promptTokens: 40, completionTokens: 10 }).charged).toBe(true);
    expect(r.settle(hold, { promptTokens: 40, completionTokens: 10 }).charged).toBe(false);
    expect(r.release(hold)).toBe(false);
    expect(r.getUsage('t')).toMatchObject({ totalTokens: 50, requestCount: 1, reservedTokens: 0 });
    const other = r.reserve('t', 100);
    expect(r.release(other)).toBe(true);
    expect(r.settle(other, { promptTokens: 1 }).charged).toBe(false);
    expect(r.getUsage('t')).toMatchObject({ totalTokens: 50, reservedTokens: 0 });
  });

  it('a reservation settled after its thread ended charges nothing and does not revive it', () => {
    const r = new ThreadBudgetRegistry();
    const hold = r.reserve('t', 100);
    r.cleanupThread('t');
    expect(r.settle(hold, { promptTokens: 10 }).charged).toBe(false);
    expect(r.hasBudget('t')).toBe(false);
  });

  it('holds lapse after reservationTtlMs and the budget comes back', () => {
    let now = 1_000;
    const r = new ThreadBudgetRegistry({ maxTokensPerThread: 1000, reservationTtlMs: 500, now: () => now });
    const hold = r.reserve('t', 900);
    expect(() => r.reserve('t', 200)).toThrow(BudgetExhaustedError);
    now += 501;
    expect(r.getUsage('t')!.reservedTokens).toBe(0);
    expect(r.settle(hold, { promptTokens: 5 }).charged).toBe(false);
    expect(() => r.reserve('t', 1000)).not.toThrow();
  });

  it('many concurrent reserve/settle cycles never overspend the thread', async () => {
    const max = 10_000;
    const r = new ThreadBudgetRegistry({ maxTokensPerThread: max });
    let refused = 0;
    const worker = async (i: number) => {
      for (let k = 0; k < 50; k++) {
        let hold;
        try {
          hold = r.reserve('hot', 300);
        } catch (err) {
          if (!(err instanceof BudgetExhaustedError)) throw err;
          refused++;
          await Promise.resolve();
          continue;
        }
        await new Promise<void>((resolve) => setImmediate(resolve)); // calls overlap
        if ((i + k) % 7 === 0) r.release(hold);
        else r.settle(hold, { promptTokens: 100 + ((i * k) % 150), completionTokens: 50 });
        expect(r.getUsage('hot')!.totalTokens).toBeLessThanOrEqual(max);
      }
    };
    await Promise.all(Array.from({ length: 200 }, (_, i) => worker(i)));
    const usage = r.getUsage('hot')!;
    expect(refused).toBeGreaterThan(0);
    expect(usage.totalTokens).toBeLessThanOrEqual(max);
    expect(usage.reservedTokens).toBe(0);
  });
});

describe('per-thread limits', () => {
  it('setBudget raises or lowers one thread at any time', () => {
    const r = new ThreadBudgetRegistry({ maxTokensPerThread: 1000 });
    r.setBudget('big', 5000);
    expect(r.getUsage('big')!.maxTokens).toBe(5000);
    r.consume('small', { promptTokens: 300 });
    r.setBudget('small', 200);
    expect(r.getUsage('small')).toMatchObject({ maxTokens: 200, remaining: 0 });
    expect(() => r.checkBudget('small', 1)).toThrow(BudgetExhaustedError);
    expect(r.getUsage('other')).toBeUndefined();
    expect(r.getBudget('other').maxTokens).toBe(1000);
  });
});

describe('thresholds', () => {
  it('fire once per thread at 75, 90 and 95 % with the numbers', () => {
    const r = new ThreadBudgetRegistry({ maxTokensPerThread: 1000 });
    const events: ThresholdEvent[] = [];
    r.onThreshold((e) => events.push(e));
    r.consume('t', { promptTokens: 740 });
    expect(events).toHaveLength(0);
    r.consume('t', { promptTokens: 10 });
    expect(events).toEqual([
      { threadId: 't', percent: 75, severity: 'warning', percentUsed: 75, usedTokens: 750, remainingTokens: 250, maxTokens: 1000 },
    ]);
    r.consume('t', { completionTokens: 1 });
    expect(events).toHaveLength(1);
    const hold = r.reserve('t', 200);
    const result = r.settle(hold, { promptTokens: 200 });
    expect(result.crossed.map((e) => e.severity)).toEqual(['critical', 'final']);
    expect(events.map((e) => e.percent)).toEqual([75, 90, 95]);
    r.consume('t', { promptTokens: 100 });
    expect(events).toHaveLength(3);
  });

  it('are configurable, validated, and a throwing listener goes to onError', () => {
    const errors: unknown[] = [];
    const r = new ThreadBudgetRegistry({
      maxTokensPerThread: 100,
      thresholds: [{ percent: 50, severity: 'warning' }],
      onError: (e) => errors.push(e),
    });
    const seen: number[] = [];
    r.onThreshold(() => {
      throw new Error('listener broke');
    });
    r.onThreshold((e) => seen.push(e.percent));
    r.consume('t', { promptTokens: 60 });
    expect(seen).toEqual([50]);
    expect(errors).toHaveLength(1);
    expect(r.getUsage('t')!.totalTokens).toBe(60);
    expect(() => new ThreadBudgetRegistry({ thresholds: [{ percent: 120, severity: 'warning' }] })).toThrow(
      /thresholds\[0\]\.percent/,
    );
  });
});

describe('validation', () => {
  const r = new ThreadBudgetRegistry();
  const bad: Array<[string, unknown]> = [
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['infinite', Number.POSITIVE_INFINITY],
    ['string', '100'],
  ];
  for (const [label, value] of bad) {
    it(`rejects a ${label} token count naming the field and value`, () => {
      expect(() => r.consume('t', { promptTokens: value as number })).toThrow(ValidationError);
      expect(() => r.consume('t', { promptTokens: value as number })).toThrow(/promptTokens/);
      expect(() => r.reserve('t', value as number)).toThrow(/tokens: .*\(got /);
      expect(() => r.checkBudget('t', value as number)).toThrow(/estimatedTokens/);
    });
  }
  it('rejects empty or non-string thread ids', () => {
    expect(() => r.reserve('', 1)).toThrow(/threadId: must not be empty/);
    expect(() => r.reserve(42 as unknown as string, 1)).toThrow(/threadId: must be a string \(got 42\)/);
    expect(() => r.consume(undefined as unknown as string)).toThrow(ValidationError);
  });
  it('rejects bad options up front', () => {
    expect(() => new ThreadBudgetRegistry({ maxTokensPerThread: 0 })).toThrow(/maxTokensPerThread/);
    expect(() => new ThreadBudgetRegistry({ maxTokensPerThread: -5 })).toThrow(/maxTokensPerThread/);
    const e = (() => {
      try {
        r.consume('t', { completionTokens: -3 });
      } catch (err) {
        return err as ValidationError;
      }
    })();
    expect(e!.code).toBe('INVALID_ARGUMENT');
    expect(e!.field).toBe('completionTokens');
    expect(e!.value).toBe(-3);
  });
  it('bounds the number of live threads', () => {
    const small = new ThreadBudgetRegistry({ maxThreads: 2 });
    small.getBudget('a');
    small.getBudget('b');
    expect(() => small.reserve('c', 1)).toThrow(/2 threads are live/);
    small.cleanupThread('a');
    expect(() => small.reserve('c', 1)).not.toThrow();
  });
});

describe('reservation bookkeeping', () => {
  it('counts outstanding reservations across threads and drops them on settle, release and thread end', () => {
    const r = new ThreadBudgetRegistry();
    const a = r.reserve('a', 10);
    const b = r.reserve('b', 10);
    r.reserve('c', 10);
    expect(r.reservationCount).toBe(3);
    r.settle(a, { promptTokens: 1 });
    r.release(b);
    expect(r.reservationCount).toBe(1);
    r.cleanupThread('c');
    expect(r.getUsage('c')).toBeUndefined();
  });
});

describe('threshold bookkeeping', () => {
  it('fires exactly at the boundary, for fractional percents too, and again after setBudget lowers the maximum', () => {
    const r = new ThreadBudgetRegistry({ maxTokensPerThread: 1000, thresholds: [{ percent: 33.3, severity: 'warning' }, { percent: 80, severity: 'final' }] });
    const seen: number[] = [];
    r.onThreshold((e) => seen.push(e.percent));
    r.consume('t', { promptTokens: 332 });
    expect(seen).toEqual([]);
    r.consume('t', { promptTokens: 1 });
    expect(seen).toEqual([33.3]);
    r.setBudget('t', 400); // 333 of 400 = 83 %: the 80 % threshold is now crossed
    expect(seen).toEqual([33.3, 80]);
  });
});
