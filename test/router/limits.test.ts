import { describe, expect, it } from 'vitest';
import { CallAbortedError, ProviderError } from '../../src/core/errors.js';
import { ConcurrencyLimiter, TokenRateWindow } from '../../src/router/limits.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { deferred, fakeClock, hi, okResponse, TestBackend, usage } from './helpers.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('ConcurrencyLimiter', () => {
  it('hands slots over in FIFO order', async () => {
    const limiter = new ConcurrencyLimiter({ max: 1, maxQueue: 10, name: 'a' });
    await limiter.acquire();
    const order: number[] = [];
    const w1 = limiter.acquire().then(() => order.push(1));
    const w2 = limiter.acquire().then(() => order.push(2));
    expect(limiter.queued).toBe(2);
    limiter.release();
    await w1;
    limiter.release();
    await w2;
    expect(order).toEqual([1, 2]);
    expect(limiter.active).toBe(1);
    limiter.release();
    expect(limiter.active).toBe(0);
  });

  it('drops an aborted waiter from the queue and rejects when the queue is full', async () => {
    const limiter = new ConcurrencyLimiter({ max: 1, maxQueue: 1, name: 'a', provider: 'p' });
    await limiter.acquire();
    const ac = new AbortController();
    const waiting = limiter.acquire(ac.signal);
    const full = await limiter.acquire().catch((e: unknown) => e);
    expect(full).toBeInstanceOf(ProviderError);
    expect((full as ProviderError).code).toBe('BACKEND_BUSY');
    expect((full as ProviderError).isRetryable).toBe(true);
    ac.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    expect(limiter.queued).toBe(0);
    limiter.release();
    expect(limiter.active).toBe(0);
  });
});

describe('TokenRateWindow', () => {
  it('slides over 60 s and reports how long until tokens fit', () => {
    const w = new TokenRateWindow({ tokensPerMinute: 100 });
    const t0 = 1_000_000;
    w.add(60, t0);
    w.add(30, t0 + 10_000);
    expect(w.used(t0 + 10_000)).toBe(90);
    expect(w.fits(10, t0 + 10_000)).toBe(true);
    expect(w.fits(20, t0 + 10_000)).toBe(false);
    expect(w.waitMs(20, t0 + 10_000)).toBe(50_000); // when the first 60 leave the window
    expect(w.waitMs(80, t0 + 10_000)).toBe(60_000); // both must leave
    expect(w.used(t0 + 60_000)).toBe(30);
    expect(w.used(t0 + 70_000)).toBe(0);
  });

  it('lets one call larger than the limit through an empty window only', () => {
    const w = new TokenRateWindow({ tokensPerMinute: 100 });
    expect(w.fits(500, 0)).toBe(true);
    w.add(500, 0);
    expect(w.fits(1, 1_000)).toBe(false);
    expect(w.waitMs(1, 1_000)).toBe(59_000);
  });

  it('adjusts an entry to the real usage', () => {
    const w = new TokenRateWindow({ tokensPerMinute: 100 });
    const e = w.add(80, 0);
    w.adjust(e, 10);
    expect(w.used(0)).toBe(10);
    expect(w.fits(90, 0)).toBe(true);
  });
});

describe('LLMRouter per-backend limits', () => {
  function router(extra: ConstructorParameters<typeof LLMRouter>[0] = {}) {
    return new LLMRouter({ tracker: new UsageTracker(), ledger: new MemoryBudgetLedger(), estimateTokens: () => 5, ...extra });
  }

  it('never runs more than maxConcurrent calls on a backend; the rest wait their turn', async () => {
    let running = 0;
    let peak = 0;
    const a = new TestBackend({
      name: 'a',
      respond: async (_req, n) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 1 + (n % 3)));
        running--;
        return okResponse('x');
      },
    });
    const r = router();
    r.addBackend(a, { maxConcurrent: 2 });
    const results = await Promise.all(Array.from({ length: 12 }, () => r.complete({ model: 'm', messages: hi })));
    expect(results).toHaveLength(12);
    expect(peak).toBe(2);
    expect(r.inFlight(a)).toBe(0);
  });

  it('fails over when a backend’s queue is full', async () => {
    const gate = deferred();
    const a = new TestBackend({ name: 'a', priority: 1, respond: async () => (await gate.promise, okResponse('a')) });
    const b = new TestBackend({ name: 'b', priority: 2 });
    const r = router();
    r.addBackend(a, { maxConcurrent: 1, maxQueue: 0 }).addBackend(b);
    const first = r.complete({ model: 'm', messages: hi });
    await tick();
    const second = await r.complete({ model: 'm', messages: hi });
    expect(second.backend).toBe('b');
    gate.resolve();
    expect((await first).backend).toBe('a');
  });

  it('a call aborted while queued leaves the queue and releases its reservation', async () => {
    const gate = deferred();
    const a = new TestBackend({ name: 'a', respond: async () => (await gate.promise, okResponse('a')) });
    const ledger = new MemoryBudgetLedger();
    const r = router({ ledger });
    r.addBackend(a, { maxConcurrent: 1 });
    const first = r.complete({ model: 'm', messages: hi, threadId: 't', maxTokens: 10 });
    await tick();
    const ac = new AbortController();
    const queued = r.complete({ model: 'm', messages: hi, threadId: 't', maxTokens: 10, signal: ac.signal });
    await tick();
    expect((await ledger.usage('t'))!.reservedTokens).toBe(30);
    ac.abort();
    const err = await queued.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CallAbortedError);
    expect((err as CallAbortedError).reason).toBe('aborted');
    expect((await ledger.usage('t'))!.reservedTokens).toBe(15);
    gate.resolve();
    await first;
    expect(a.calls).toBe(1);
    expect(await ledger.usage('t')).toMatchObject({ reservedTokens: 0, requestCount: 1 });
  });

  it('skips a backend over its tokens-per-minute while another can serve', async () => {
    const clock = fakeClock(1_700_000_000_000);
    const a = new TestBackend({ name: 'a', priority: 1, respond: () => okResponse('a', usage(5, 45)) });
    const b = new TestBackend({ name: 'b', priority: 2 });
    const r = router({ now: clock.now, sleep: clock.sleep });
    r.addBackend(a, { tokensPerMinute: 100 }).addBackend(b);
    const served: string[] = [];
    // each call counts 5 (prompt estimate) + 45 (maxTokens) = 50 tokens against the window
    for (let i = 0; i < 3; i++) served.push((await r.complete({ model: 'm', messages: hi, maxTokens: 45 })).backend);
    expect(served).toEqual(['a', 'a', 'b']);
    clock.advance(60_000);
    expect((await r.complete({ model: 'm', messages: hi, maxTokens: 45 })).backend).toBe('a');
    expect(clock.sleeps).toEqual([]);
  });

  it('counts real usage, not the reservation, once a call is done', async () => {
    const clock = fakeClock(1_700_000_000_000);
    const a = new TestBackend({ name: 'a', priority: 1, respond: () => okResponse('a', usage(5, 5)) });
    const b = new TestBackend({ name: 'b', priority: 2 });
    const r = router({ now: clock.now, sleep: clock.sleep });
    r.addBackend(a, { tokensPerMinute: 100 }).addBackend(b);
    for (let i = 0; i < 5; i++) expect((await r.complete({ model: 'm', messages: hi, maxTokens: 45 })).backend).toBe('a');
  });

  it('waits for the window to free when no other backend can serve', async () => {
    const clock = fakeClock(1_700_000_000_000);
    const a = new TestBackend({ name: 'a', respond: () => okResponse('a', usage(5, 45)) });
    const r = router({ now: clock.now, sleep: clock.sleep });
    r.addBackend(a, { tokensPerMinute: 100 });
    for (let i = 0; i < 3; i++) await r.complete({ model: 'm', messages: hi, maxTokens: 45 });
    expect(clock.sleeps).toEqual([60_000]);
    expect(a.calls).toBe(3);
  });

  it('fails fast with a timeout when the window frees only after the call’s timeout', async () => {
    const clock = fakeClock(1_700_000_000_000);
    const a = new TestBackend({ name: 'a', respond: () => okResponse('a', usage(5, 95)) });
    const ledger = new MemoryBudgetLedger();
    const r = router({ now: clock.now, sleep: clock.sleep, ledger });
    r.addBackend(a, { tokensPerMinute: 100 });
    await r.complete({ model: 'm', messages: hi, maxTokens: 95 });
    const err = await r.complete({ model: 'm', messages: hi, maxTokens: 95, timeoutMs: 5_000, threadId: 't' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CallAbortedError);
    expect((err as CallAbortedError).reason).toBe('timeout');
    expect((err as Error).message).toMatch(/available again in 60000 ms/);
    expect(clock.sleeps).toEqual([]);
    expect(a.calls).toBe(1);
    expect((await ledger.usage('t'))!.reservedTokens).toBe(0);
  });
});
