import { describe, expect, it } from 'vitest';
import { BudgetExhaustedError, ThreadLimitError, TokenwardenError, ValidationError } from '../../src/core/errors.js';
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
    ['2^53 (beyond exact doubles)', 2 ** 53],
    ['1e300', 1e300],
  ];
  for (const [label, value] of bad) {
    it(`rejects a ${label} token count naming the field and value`, () => {
      expect(() => r.consume('t', { promptTokens: value as number })).toThrow(ValidationError);
      expect(() => r.consume('t', { promptTokens: value as number })).toThrow(/promptTokens/);
      expect(() => r.reserve('t', value as number)).toThrow(/tokens: .*\(got /);
      expect(() => r.checkBudget('t', value as number)).toThrow(/estimatedTokens/);
      expect(() => r.setBudget('t', value as number)).toThrow(/maxTokens/);
      const hold = r.reserve('t', 1);
      expect(() => r.settle(hold, { completionTokens: value as number })).toThrow(/completionTokens/);
      expect(r.release(hold)).toBe(true); // the refused settle left the hold in place
    });
  }
  it('accepts 2^53 - 1 (the largest exact count) and says what the bound is above it', () => {
    const big = new ThreadBudgetRegistry({ maxTokensPerThread: Number.MAX_SAFE_INTEGER });
    big.settle(big.reserve('t', Number.MAX_SAFE_INTEGER), { promptTokens: 1 });
    expect(() => big.reserve('t', 2 ** 53)).toThrow(/tokens: must be at most 9007199254740991/);
    expect(() => new ThreadBudgetRegistry({ maxTokensPerThread: 2 ** 53 })).toThrow(/maxTokensPerThread: must be at most/);
  });
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

describe('hold objects cannot be edited', () => {
  it('assigning a hold field throws and changes nothing; defineProperty changes nothing the registry counts', () => {
    const r = new ThreadBudgetRegistry({ maxTokensPerThread: 1_000 });
    const hold = r.reserve('t', 300);
    const tamper = hold as unknown as Record<string, unknown>;
    expect(() => {
      tamper.tokens = -1_000_000;
    }).toThrow(TypeError);
    expect(() => {
      tamper.threadId = 'other';
    }).toThrow(TypeError);
    tamper.done = true; // the old public "settled" flag: now just an unrelated property
    Object.defineProperty(hold, 'tokens', { value: -1_000_000 });
    expect(r.getUsage('t')).toMatchObject({ reservedTokens: 300, remaining: 700 });
    // Still live, settles once, frees exactly the 300 it holds: no negative reserved, no double settle.
    expect(r.settle(hold, { promptTokens: 100 }).charged).toBe(true);
    expect(r.settle(hold, { promptTokens: 100 }).charged).toBe(false);
    expect(r.getUsage('t')).toMatchObject({ totalTokens: 100, reservedTokens: 0, remaining: 900, requestCount: 1 });
    expect(r.reservedTokens).toBe(0);
  });

  it('a copy or look-alike of a hold is refused, and JSON shows the hold', () => {
    const r = new ThreadBudgetRegistry();
    const hold = r.reserve('t', 10);
    expect(() => r.settle(JSON.parse(JSON.stringify(hold)) as never, {})).toThrow(/reservation: must be a reservation returned by this registry/);
    expect(() => r.release(Object.create(hold) as never)).toThrow(ValidationError);
    expect(JSON.parse(JSON.stringify(hold))).toEqual({ id: hold.id, threadId: 't', tokens: 10 });
    expect(new ThreadBudgetRegistry().isLive(hold)).toBe(false);
  });
});

describe('threads per group and idle expiry', () => {
  const groupOf = (id: string): string | undefined => (id.includes('/') ? id.slice(0, id.indexOf('/')) : undefined);

  it('a group at its cap cannot open threads; other groups and its own open threads go on', () => {
    const r = new ThreadBudgetRegistry({ groupOf, maxThreadsPerGroup: 3 });
    for (const t of ['a/1', 'a/2', 'a/3']) r.reserve(t, 1);
    const err = (() => {
      try {
        r.reserve('a/4', 1);
      } catch (e) {
        return e as ThreadLimitError;
      }
    })();
    expect(err).toBeInstanceOf(ThreadLimitError);
    expect(err).toMatchObject({ code: 'TOO_MANY_THREADS', scope: 'group', group: 'a', limit: 3, threadId: 'a/4' });
    expect(r.hasBudget('a/4')).toBe(false);
    expect(() => r.setBudget('a/5', 10)).toThrow(ThreadLimitError);
    expect(() => r.consume('a/6')).toThrow(ThreadLimitError);
    expect(r.reserve('a/1', 1).tokens).toBe(1); // existing threads are unaffected
    for (let i = 0; i < 3; i++) r.reserve(`b/${i}`, 1); // group b is not blocked by group a
    expect(() => r.reserve('b/3', 1)).toThrow(expect.objectContaining({ group: 'b' }) as Error);
    r.reserve('no-group', 1); // threads without a group count only toward maxThreads
    expect(r.groupSize('a')).toBe(3);
    r.cleanupThread('a/2');
    expect(r.groupSize('a')).toBe(2);
    expect(() => r.reserve('a/4', 1)).not.toThrow();
  });

  it('the global maxThreads still bounds everything, with scope "global"', () => {
    const r = new ThreadBudgetRegistry({ groupOf, maxThreadsPerGroup: 10, maxThreads: 2 });
    r.reserve('a/1', 1);
    r.reserve('b/1', 1);
    expect(() => r.reserve('c/1', 1)).toThrow(expect.objectContaining({ scope: 'global', limit: 2 }) as Error);
  });

  it('idle threads leave after idleTtlMs (never while holding), swept lazily; memory stays bounded', () => {
    let now = 1_000_000;
    const r = new ThreadBudgetRegistry({ idleTtlMs: 60_000, reservationTtlMs: 600_000, now: () => now });
    r.settle(r.reserve('idle', 100), { promptTokens: 40 });
    const held = r.reserve('busy', 100); // a call in flight for longer than the idle TTL
    r.settle(r.reserve('used', 100), { promptTokens: 1 });
    now += 59_000;
    r.settle(r.reserve('used', 100), { promptTokens: 1 }); // used again within the TTL
    now += 2_000;
    expect(r.size).toBe(2); // 'idle' left; 'busy' holds; 'used' was used 2 s ago
    expect(r.hasBudget('idle')).toBe(false);
    expect(r.hasBudget('busy')).toBe(true);
    now += 120_000;
    expect(r.size).toBe(1); // 'used' idled out; 'busy' still holds
    r.settle(held, { promptTokens: 10 });
    expect(r.getUsage('busy')).toMatchObject({ totalTokens: 10 });
    now += 60_000;
    expect(r.size).toBe(0);
    // Creating 100 000 threads one TTL apart in batches never holds more than two batches.
    for (let batch = 0; batch < 10; batch++) {
      for (let i = 0; i < 10_000; i++) r.settle(r.reserve(`b${batch}-${i}`, 1), { promptTokens: 1 });
      now += 60_000;
      expect(r.size).toBeLessThanOrEqual(20_000);
    }
  });

  it('a hold that lapsed does not keep its thread from idling out', () => {
    let now = 0;
    const r = new ThreadBudgetRegistry({ idleTtlMs: 1_000, reservationTtlMs: 500, now: () => now });
    r.reserve('t', 10);
    now = 2_000;
    expect(r.size).toBe(0);
    expect(r.reservedTokens).toBe(0);
  });

  it('restoreThread brings a thread back with its spend; reached thresholds do not fire again', () => {
    const r = new ThreadBudgetRegistry({ maxTokensPerThread: 1_000 });
    const seen: number[] = [];
    r.onThreshold((e) => seen.push(e.percent));
    r.restoreThread('t', { promptTokens: 700, completionTokens: 100, requestCount: 3 });
    expect(r.getUsage('t')).toMatchObject({ totalTokens: 800, requestCount: 3, remaining: 200 });
    r.settle(r.reserve('t', 100), { promptTokens: 110 }); // 91 %: 90 fires, 75 does not again
    expect(seen).toEqual([90]);
    // A held thread is left as it is.
    r.restoreThread('t', { promptTokens: 0, completionTokens: 0, requestCount: 0 });
    expect(r.getUsage('t')!.totalTokens).toBe(910);
    expect(() => r.restoreThread('u', { promptTokens: -1, completionTokens: 0, requestCount: 0 })).toThrow(/spent.promptTokens/);
  });

  it('validates the new options', () => {
    expect(() => new ThreadBudgetRegistry({ maxThreadsPerGroup: 5 })).toThrow(/maxThreadsPerGroup: needs the groupOf option/);
    expect(() => new ThreadBudgetRegistry({ groupOf, maxThreadsPerGroup: 0 })).toThrow(/maxThreadsPerGroup/);
    expect(() => new ThreadBudgetRegistry({ groupOf: 'org' as never })).toThrow(/groupOf: must be a function/);
    expect(() => new ThreadBudgetRegistry({ idleTtlMs: 1.5 })).toThrow(/idleTtlMs/);
  });
});
