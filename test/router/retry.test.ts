import { describe, expect, it } from 'vitest';
import { AllBackendsFailedError, ProviderError } from '../../src/core/errors.js';
import { backoffDelayMs, resolveRetryPolicy } from '../../src/router/retry.js';
import { LLMRouter, type LLMRouterOptions } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { fakeClock, hangUntilAborted, hi, httpError, okResponse, resetError, TestBackend } from './helpers.js';

function setup(backends: TestBackend[], options: LLMRouterOptions = {}) {
  const clock = fakeClock();
  const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 100_000 });
  const router = new LLMRouter({
    backends,
    ledger,
    tracker: new UsageTracker(),
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    ...options,
  });
  return { clock, ledger, router };
}

/** Fails with `errors` in turn, then answers. */
function scripted(name: string, errors: Array<Error | undefined>, priority = 1) {
  return new TestBackend({
    name,
    priority,
    respond: (_req, n) => {
      const e = errors[n - 1];
      if (e) throw e;
      return okResponse(`${name} answered`);
    },
  });
}

function alwaysFailing(name: string, make: () => Error, priority = 1) {
  return new TestBackend({
    name,
    priority,
    respond: () => {
      throw make();
    },
  });
}

describe('backoff helpers', () => {
  it('backs off exponentially with full jitter, capped', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1_000 };
    expect([1, 2, 3, 4, 5].map((r) => backoffDelayMs(r, policy, () => 0.5))).toEqual([50, 100, 200, 400, 500]);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
    expect(backoffDelayMs(60, policy, () => 0.999)).toBeLessThan(1_000);
  });

  it('fills in retry defaults', () => {
    expect(resolveRetryPolicy(undefined)).toEqual({ maxAttempts: 3, baseDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 30_000 });
  });
});

describe('LLMRouter retries', () => {
  it('retries one backend with exponential backoff and full jitter', async () => {
    const a = scripted('a', [httpError('a', 503), httpError('a', 503), httpError('a', 503)]);
    const { router, clock } = setup([a], { retries: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 } });
    const res = await router.complete({ model: 'm', messages: hi });
    expect(res.content).toBe('a answered');
    expect(a.calls).toBe(4);
    expect(clock.sleeps).toEqual([50, 100, 200]);
  });

  it('honours Retry-After before retrying the backend that asked for it', async () => {
    const a = scripted('a', [httpError('a', 429, 2_000)]);
    const { router, clock } = setup([a], { retries: { baseDelayMs: 100 } });
    await router.complete({ model: 'm', messages: hi });
    expect(clock.sleeps).toEqual([2_000]);
  });

  it('caps Retry-After at maxRetryAfterMs', async () => {
    const a = scripted('a', [httpError('a', 429, 120_000)]);
    const { router, clock } = setup([a], { retries: { maxRetryAfterMs: 5_000 } });
    await router.complete({ model: 'm', messages: hi });
    expect(clock.sleeps).toEqual([5_000]);
  });

  it.each([
    ['429', () => httpError('a', 429)],
    ['500', () => httpError('a', 500)],
    ['502', () => httpError('a', 502)],
    ['503', () => httpError('a', 503)],
    ['connection reset', () => resetError('a')],
    ['ECONNRESET from a custom backend', () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['status 503 on a plain error (SDK style)', () => Object.assign(new Error('Service Unavailable'), { status: 503 })],
  ])('fails over to the next backend at once on %s', async (_label, make) => {
    const a = alwaysFailing('a', make, 1);
    const b = scripted('b', [], 2);
    const { router, clock, ledger } = setup([a, b]);
    const res = await router.complete({ model: 'm', messages: hi, threadId: 't' });
    expect(res.backend).toBe('b');
    expect([a.calls, b.calls]).toEqual([1, 1]);
    expect(clock.sleeps).toEqual([]); // failing over to an untried backend needs no backoff
    expect(await ledger.usage('t')).toMatchObject({ reservedTokens: 0, totalTokens: 15 });
  });

  it('fails over when a backend times out (the router cuts it off after its timeoutMs)', async () => {
    const a = new TestBackend({ name: 'a', priority: 1, respond: (req) => hangUntilAborted(req.signal) });
    const b = scripted('b', [], 2);
    const { router } = setup([]);
    router.addBackend(a, { timeoutMs: 30 }).addBackend(b);
    const res = await router.complete({ model: 'm', messages: hi });
    expect(res.backend).toBe('b');
    expect(a.requests[0]!.signal!.aborted).toBe(true);
  });

  it('gives up on a backend that ignores its abort signal, promptly', async () => {
    const a = new TestBackend({ name: 'a', priority: 1, respond: () => new Promise(() => undefined) });
    const b = scripted('b', [], 2);
    const { router } = setup([]);
    router.addBackend(a, { timeoutMs: 25 }).addBackend(b);
    expect((await router.complete({ model: 'm', messages: hi })).backend).toBe('b');
  });

  it('cycles through the backends and throws AllBackendsFailedError listing every attempt', async () => {
    const a = alwaysFailing('a', () => httpError('a', 503), 1);
    const b = alwaysFailing('b', () => httpError('b', 502), 2);
    const { router, clock, ledger } = setup([a, b], { retries: { maxAttempts: 4, baseDelayMs: 100 } });
    const err = await router.complete({ model: 'm', messages: hi, threadId: 't' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllBackendsFailedError);
    const all = err as AllBackendsFailedError;
    expect(all.errors.map((e) => (e as ProviderError).backend)).toEqual(['a', 'b', 'a', 'b']);
    expect(all.message).toContain('"a" answered HTTP 503');
    expect(all.message).toContain('"b" answered HTTP 502');
    expect(clock.sleeps).toEqual([100, 200]); // backoff only when going back to a backend already tried
    expect(await ledger.usage('t')).toMatchObject({ reservedTokens: 0, totalTokens: 0, requestCount: 0 });
  });

  it.each([400, 401, 403, 404, 422])('does not retry HTTP %i and says which backend answered what', async (status) => {
    const a = alwaysFailing('primary', () => httpError('primary', status), 1);
    const b = scripted('b', [], 2);
    const { router, ledger } = setup([a, b]);
    const err = await router.complete({ model: 'm', messages: hi, threadId: 't' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).status).toBe(status);
    expect((err as ProviderError).backend).toBe('primary');
    expect((err as Error).message).toContain('"primary"');
    expect((err as Error).message).toContain(String(status));
    expect(b.calls).toBe(0);
    expect(a.calls).toBe(1);
    expect(await ledger.usage('t')).toMatchObject({ reservedTokens: 0, totalTokens: 0 });
  });

  it('does not retry a malformed response or an unknown error, and names the backend', async () => {
    const malformed = new ProviderError({
      code: 'MALFORMED_RESPONSE',
      provider: 'test',
      backend: 'a',
      status: 200,
      isRetryable: false,
      message: 'invalid JSON',
    });
    const a = alwaysFailing('a', () => malformed, 1);
    const b = scripted('b', [], 2);
    const { router } = setup([a, b]);
    const err = await router.complete({ model: 'm', messages: hi }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('backend "a" (test) answered HTTP 200: invalid JSON');
    expect((err as ProviderError).code).toBe('MALFORMED_RESPONSE');
    expect(b.calls).toBe(0);

    const c = alwaysFailing('c', () => new Error('boom'), 1);
    const { router: r2 } = setup([c, scripted('d', [], 2)]);
    await expect(r2.complete({ model: 'm', messages: hi })).rejects.toThrow('backend "c" (test) failed: boom');
  });
});

describe('LLMRouter cooldown and Retry-After memory', () => {
  it('skips a backend after N consecutive failures until its cooldown ends', async () => {
    const a = alwaysFailing('a', () => httpError('a', 503), 1);
    const b = scripted('b', [], 2);
    const { router, clock } = setup([a, b], { cooldown: { failureThreshold: 2, cooldownMs: 10_000 } });
    await router.complete({ model: 'm', messages: hi });
    expect(router.isCoolingDown(a)).toBe(false);
    await router.complete({ model: 'm', messages: hi });
    expect(router.isCoolingDown(a)).toBe(true);
    expect(a.calls).toBe(2);
    await router.complete({ model: 'm', messages: hi });
    await router.complete({ model: 'm', messages: hi });
    expect(a.calls).toBe(2); // skipped while cooling
    expect(b.calls).toBe(4);
    clock.advance(10_001);
    expect(router.isCoolingDown(a)).toBe(false);
    await router.complete({ model: 'm', messages: hi });
    expect(a.calls).toBe(3); // tried again after the cooldown
    expect(router.isCoolingDown(a)).toBe(true); // and still failing: cools down again at once
  });

  it('a success resets the failure count', async () => {
    let fail = true;
    const a = new TestBackend({
      name: 'a',
      priority: 1,
      respond: () => {
        if (fail) throw httpError('a', 500);
        return okResponse('a');
      },
    });
    const { router } = setup([a, scripted('b', [], 2)], { cooldown: { failureThreshold: 2, cooldownMs: 10_000 } });
    await router.complete({ model: 'm', messages: hi });
    fail = false;
    expect((await router.complete({ model: 'm', messages: hi })).backend).toBe('a');
    fail = true;
    await router.complete({ model: 'm', messages: hi });
    expect(router.isCoolingDown(a)).toBe(false);
  });

  it('still calls cooling backends when every candidate is cooling', async () => {
    let fail = true;
    const a = new TestBackend({
      name: 'a',
      respond: () => {
        if (fail) throw httpError('a', 503);
        return okResponse('recovered');
      },
    });
    const { router } = setup([a], { cooldown: { failureThreshold: 1, cooldownMs: 60_000 }, retries: { maxAttempts: 1 } });
    await expect(router.complete({ model: 'm', messages: hi })).rejects.toThrow(AllBackendsFailedError);
    expect(router.isCoolingDown(a)).toBe(true);
    fail = false;
    expect((await router.complete({ model: 'm', messages: hi })).content).toBe('recovered');
    expect(router.isCoolingDown(a)).toBe(false);
  });

  it("avoids a backend during its Retry-After on later calls too", async () => {
    const a = scripted('a', [httpError('a', 429, 5_000)], 1);
    const b = scripted('b', [], 2);
    const { router, clock } = setup([a, b]);
    expect((await router.complete({ model: 'm', messages: hi })).backend).toBe('b');
    expect((await router.complete({ model: 'm', messages: hi })).backend).toBe('b');
    expect(a.calls).toBe(1);
    clock.advance(5_000);
    expect((await router.complete({ model: 'm', messages: hi })).backend).toBe('a');
  });
});
