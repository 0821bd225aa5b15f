import { describe, expect, it } from 'vitest';
import { AllBackendsFailedError, CallAbortedError } from '../../src/core/errors.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { hangUntilAborted, hi, httpError, TestBackend } from './helpers.js';

function setup(backends: TestBackend[], extra: ConstructorParameters<typeof LLMRouter>[0] = {}) {
  const ledger = new MemoryBudgetLedger();
  const tracker = new UsageTracker();
  const router = new LLMRouter({ backends, ledger, tracker, estimateTokens: () => 5, ...extra });
  return { router, ledger, tracker };
}

async function settledWithin<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown }> {
  const guard = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`did not settle within ${ms} ms`)), ms).unref());
  try {
    return { value: await Promise.race([p, guard]) };
  } catch (error) {
    return { error };
  }
}

describe('LLMRouter abort and timeout', () => {
  it('rejects with CallAbortedError when the caller aborts mid-call, releasing the reservation', async () => {
    const a = new TestBackend({ name: 'a', respond: (req) => hangUntilAborted(req.signal) });
    const { router, ledger, tracker } = setup([a]);
    const ac = new AbortController();
    const call = router.complete({ model: 'm', messages: hi, threadId: 't', maxTokens: 10, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 5));
    expect((await ledger.usage('t'))!.reservedTokens).toBe(15);
    ac.abort();
    const { error } = await settledWithin(call, 2_000);
    expect(error).toBeInstanceOf(CallAbortedError);
    expect((error as CallAbortedError).reason).toBe('aborted');
    expect((error as Error).message).toBe('Call to model "m" was aborted by the caller');
    expect(a.requests[0]!.signal!.aborted).toBe(true); // the abort reached the backend
    expect(await ledger.usage('t')).toMatchObject({ reservedTokens: 0, totalTokens: 0 });
    expect(tracker.getTotals().requestCount).toBe(0);
  });

  it('rejects promptly even when the backend ignores the signal', async () => {
    const a = new TestBackend({ name: 'a', respond: () => new Promise(() => undefined) });
    const { router, ledger } = setup([a]);
    const ac = new AbortController();
    const call = router.complete({ model: 'm', messages: hi, threadId: 't', signal: ac.signal });
    setTimeout(() => ac.abort(), 5);
    const { error } = await settledWithin(call, 2_000);
    expect(error).toBeInstanceOf(CallAbortedError);
    expect((await ledger.usage('t'))!.reservedTokens).toBe(0);
  });

  it('does not call any backend when the signal is already aborted', async () => {
    const a = new TestBackend({ name: 'a' });
    const { router, ledger } = setup([a]);
    const ac = new AbortController();
    ac.abort();
    await expect(router.complete({ model: 'm', messages: hi, threadId: 't', signal: ac.signal })).rejects.toBeInstanceOf(CallAbortedError);
    expect(a.calls).toBe(0);
    expect((await ledger.usage('t'))!.reservedTokens).toBe(0);
  });

  it('request.timeoutMs bounds the whole call (no failover after it) and reports a timeout', async () => {
    const a = new TestBackend({ name: 'a', priority: 1, respond: (req) => hangUntilAborted(req.signal) });
    const b = new TestBackend({ name: 'b', priority: 2 });
    const { router, ledger } = setup([a, b]);
    const { error } = await settledWithin(router.complete({ model: 'm', messages: hi, threadId: 't', timeoutMs: 30 }), 2_000);
    expect(error).toBeInstanceOf(CallAbortedError);
    expect((error as CallAbortedError).reason).toBe('timeout');
    expect((error as Error).message).toBe('Call to model "m" timed out after 30 ms');
    expect(b.calls).toBe(0);
    expect((await ledger.usage('t'))!.reservedTokens).toBe(0);
  });

  it('a backend timeout on the last attempt ends in AllBackendsFailedError naming the timeouts', async () => {
    const a = new TestBackend({ name: 'a', respond: (req) => hangUntilAborted(req.signal) });
    const { router, ledger } = setup([], { retries: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    router.addBackend(a, { timeoutMs: 20 });
    const { error } = await settledWithin(router.complete({ model: 'm', messages: hi, threadId: 't' }), 2_000);
    expect(error).toBeInstanceOf(AllBackendsFailedError);
    expect((error as AllBackendsFailedError).errors.map((e) => (e as { code?: string }).code)).toEqual(['TIMEOUT', 'TIMEOUT']);
    expect((error as Error).message).toContain('backend "a" (test) timed out after 20 ms');
    expect(a.calls).toBe(2);
    expect((await ledger.usage('t'))!.reservedTokens).toBe(0);
  });

  it('an abort during a backoff wait (real timers) ends the call at once', async () => {
    const a = new TestBackend({
      name: 'a',
      respond: () => {
        throw httpError('a', 429, 10_000);
      },
    });
    const { router, ledger } = setup([a], { retries: { maxAttempts: 3, maxRetryAfterMs: 10_000 } });
    const ac = new AbortController();
    const call = router.complete({ model: 'm', messages: hi, threadId: 't', signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    const { error } = await settledWithin(call, 5_000);
    expect(error).toBeInstanceOf(CallAbortedError);
    expect(a.calls).toBe(1);
    expect((await ledger.usage('t'))!.reservedTokens).toBe(0);
  });
});
