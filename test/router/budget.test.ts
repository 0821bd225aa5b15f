import { describe, expect, it } from 'vitest';
import type { BudgetLedger, Reservation, UsageCharge } from '../../src/budget/types.js';
import { BudgetExhaustedError } from '../../src/core/errors.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { estimateTextTokens, estimateTokens, estimateToolsTokens } from '../../src/tokens/estimate.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { hi, httpError, okResponse, TestBackend, usage } from './helpers.js';

/** A MemoryBudgetLedger that logs every reserve / settle / release. */
class SpyLedger extends MemoryBudgetLedger {
  readonly log: Array<{ op: 'reserve'; tokens: number } | { op: 'settle'; usage: UsageCharge } | { op: 'release' }> = [];
  override async reserve(threadId: string, tokens: number): Promise<Reservation> {
    this.log.push({ op: 'reserve', tokens });
    return super.reserve(threadId, tokens);
  }
  override async settle(reservation: Reservation, u: UsageCharge) {
    this.log.push({ op: 'settle', usage: u });
    return super.settle(reservation, u);
  }
  override async release(reservation: Reservation): Promise<void> {
    this.log.push({ op: 'release' });
    return super.release(reservation);
  }
}

function setup(backends: TestBackend[], opts: { maxTokensPerThread?: number; ledger?: BudgetLedger } = {}) {
  const ledger = new SpyLedger({ maxTokensPerThread: opts.maxTokensPerThread ?? 100_000 });
  const tracker = new UsageTracker();
  const events: UsageEvent[] = [];
  tracker.subscribe((e) => events.push(e));
  const router = new LLMRouter({
    backends,
    ledger: opts.ledger ?? ledger,
    tracker,
    estimateTokens: () => 7,
    defaultCompletionReserve: 50,
    retries: { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0 },
  });
  return { router, ledger, tracker, events };
}

describe('LLMRouter budget reservations', () => {
  it('reserves the prompt estimate plus maxTokens (or the default reserve) before calling, then settles', async () => {
    let reservedWhenCalled: number | undefined;
    const { router, ledger } = setup([]);
    const a = new TestBackend({
      name: 'a',
      respond: async () => {
        reservedWhenCalled = (await ledger.usage('t'))?.reservedTokens;
        return okResponse('hi', usage(30, 20));
      },
    });
    router.addBackend(a);
    const res = await router.complete({ model: 'm', messages: hi, threadId: 't', maxTokens: 100 });
    expect(reservedWhenCalled).toBe(107);
    await router.complete({ model: 'm', messages: hi, threadId: 't' });
    expect(ledger.log).toEqual([
      { op: 'reserve', tokens: 107 },
      { op: 'settle', usage: { promptTokens: 30, completionTokens: 20 } },
      { op: 'reserve', tokens: 57 },
      { op: 'settle', usage: { promptTokens: 30, completionTokens: 20 } },
    ]);
    expect(res.budget?.usage).toMatchObject({ totalTokens: 50, reservedTokens: 0, requestCount: 1 });
    expect(await ledger.usage('t')).toMatchObject({ promptTokens: 60, completionTokens: 40, reservedTokens: 0, requestCount: 2 });
  });

  it('by default estimates the prompt from the messages and the tool definitions, per model', async () => {
    const ledger = new SpyLedger();
    const router = new LLMRouter({ backends: [new TestBackend({ name: 'a' })], ledger, tracker: new UsageTracker() });
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object' } } }];
    await router.complete({ model: 'gpt-4o', messages: hi, threadId: 't', maxTokens: 10, tools });
    const expected = estimateTokens(hi, { model: 'gpt-4o' }) + estimateToolsTokens(tools, { model: 'gpt-4o' }) + 10;
    expect(ledger.log[0]).toEqual({ op: 'reserve', tokens: expected });
    expect(estimateToolsTokens(tools)).toBeGreaterThan(0);
  });

  it('reports the thresholds a call crossed', async () => {
    const { router } = setup([new TestBackend({ name: 'a', respond: () => okResponse('x', usage(700, 100)) })], { maxTokensPerThread: 1_000 });
    const res = await router.complete({ model: 'm', messages: hi, threadId: 't', maxTokens: 100 });
    expect(res.budget?.crossed.map((c) => c.severity)).toEqual(['warning']);
    expect(res.budget?.usage?.remaining).toBe(200);
  });

  it('charges an estimate, never zero, when the provider reports no usage', async () => {
    const content = 'The quick brown fox jumps over the lazy dog, twice over.';
    const { router, ledger, events } = setup([new TestBackend({ name: 'a', respond: () => okResponse(content, null) })]);
    const res = await router.complete({ model: 'm', messages: hi, threadId: 't' });
    const completion = estimateTextTokens(content);
    expect(completion).toBeGreaterThan(0);
    expect(res.usageEstimated).toBe(true);
    expect(res.usage).toEqual({ promptTokens: 7, completionTokens: completion, totalTokens: 7 + completion });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 7 + completion, reservedTokens: 0 });
    expect(events[0]!.totalTokens).toBe(7 + completion);
  });

  it('refuses nonsense provider usage as implausible and charges the reservation', async () => {
    const bad = { promptTokens: -3, completionTokens: Number.NaN, totalTokens: 0 };
    const { router, ledger, events } = setup([new TestBackend({ name: 'a', respond: () => okResponse('abc', bad) })]);
    await expect(router.complete({ model: 'm', messages: hi, threadId: 't' })).rejects.toMatchObject({
      code: 'IMPLAUSIBLE_USAGE',
      isRetryable: false,
    });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 57, reservedTokens: 0 });
    expect(events.map((e) => e.totalTokens)).toEqual([57]);
  });

  it('treats usage without both counts as not reported (estimated)', async () => {
    const partial = { completionTokens: 3 } as unknown as ReturnType<typeof usage>;
    const { router } = setup([new TestBackend({ name: 'a', respond: () => okResponse('abc', partial) })]);
    const res = await router.complete({ model: 'm', messages: hi });
    expect(res.usageEstimated).toBe(true);
    expect(res.usage.promptTokens).toBe(7);
  });

  it('releases the reservation when every attempt fails, and when the answer is non-retryable', async () => {
    const { router, ledger, events } = setup([
      new TestBackend({
        name: 'a',
        respond: () => {
          throw httpError('a', 503);
        },
      }),
    ]);
    await expect(router.complete({ model: 'm', messages: hi, threadId: 't' })).rejects.toThrow(/All attempts/);
    const { router: r2, ledger: l2 } = setup([
      new TestBackend({
        name: 'b',
        respond: () => {
          throw httpError('b', 401);
        },
      }),
    ]);
    await expect(r2.complete({ model: 'm', messages: hi, threadId: 't' })).rejects.toThrow(/401/);
    for (const l of [ledger, l2]) {
      expect(await l.usage('t')).toMatchObject({ reservedTokens: 0, totalTokens: 0, requestCount: 0 });
      expect(l.log.map((e) => e.op)).toEqual(['reserve', 'release']);
    }
    expect(events).toHaveLength(0);
  });

  it('refuses a call the thread cannot afford without calling any backend', async () => {
    const a = new TestBackend({ name: 'a' });
    const { router, ledger } = setup([a], { maxTokensPerThread: 100 });
    await expect(router.complete({ model: 'm', messages: hi, threadId: 't', maxTokens: 94 })).rejects.toBeInstanceOf(BudgetExhaustedError);
    expect(a.calls).toBe(0);
    expect(await ledger.usage('t')).toMatchObject({ reservedTokens: 0, totalTokens: 0 });
    await router.complete({ model: 'm', messages: hi, threadId: 't', maxTokens: 93 }); // 7 + 93 = 100 fits
    expect(a.calls).toBe(1);
  });

  it('does not touch any budget without a threadId', async () => {
    const { router, ledger } = setup([new TestBackend({ name: 'a' })]);
    const res = await router.complete({ model: 'm', messages: hi });
    expect(ledger.log).toEqual([]);
    expect(ledger.registry.size).toBe(0);
    expect(res.budget).toBeUndefined();
  });

  it('200 concurrent calls on one thread never charge more than its maximum', async () => {
    // Each call reserves 7 + 20 = 27 and the backend charges the full 27: at most floor(1000/27) = 37 fit.
    const a = new TestBackend({
      name: 'a',
      respond: async (_req, n) => {
        await new Promise((r) => setTimeout(r, n % 4));
        return okResponse('x', usage(7, 20));
      },
    });
    const { router, ledger, events } = setup([a], { maxTokensPerThread: 1_000 });
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () => router.complete({ model: 'm', messages: hi, threadId: 't', maxTokens: 20 })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof BudgetExhaustedError).length;
    expect(ok + refused).toBe(200);
    expect(ok).toBe(37);
    expect(a.calls).toBe(37);
    expect(events).toHaveLength(37);
    const u = await ledger.usage('t');
    expect(u!.totalTokens).toBe(37 * 27);
    expect(u!.totalTokens).toBeLessThanOrEqual(1_000);
    expect(u!.reservedTokens).toBe(0);
  });

  it('keeps charging correctly under concurrency when calls cost less than they reserve', async () => {
    const a = new TestBackend({
      name: 'a',
      respond: async (_req, n) => {
        await new Promise((r) => setTimeout(r, n % 3));
        return okResponse('x', usage(5, 3));
      },
    });
    const { router, ledger } = setup([a], { maxTokensPerThread: 1_000 });
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () => router.complete({ model: 'm', messages: hi, threadId: 't', maxTokens: 20 })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const u = await ledger.usage('t');
    expect(u!.totalTokens).toBe(ok * 8);
    expect(u!.totalTokens).toBeLessThanOrEqual(1_000);
    expect(u!.reservedTokens).toBe(0);
  });
});

describe('LLMRouter usage events', () => {
  it('records one event per successful call with the backend provider, latency and metadata', async () => {
    const a = new TestBackend({ name: 'openai-main', provider: 'openai', respond: () => ({ ...okResponse('x', usage(100, 50)), model: '' }) });
    const { router, events } = setup([a]);
    const res = await router.complete({ model: 'gpt-4o', messages: hi, threadId: 't1', agentId: 'writer', metadata: { org_id: 'acme' } });
    expect(events).toHaveLength(1);
    expect(res.event).toBe(events[0]);
    expect(events[0]).toMatchObject({
      threadId: 't1',
      agentId: 'writer',
      model: 'gpt-4o', // the response had no model: the requested one
      provider: 'openai',
      promptTokens: 100,
      completionTokens: 50,
      totalTokens: 150,
      metadata: { org_id: 'acme' },
    });
    expect(events[0]!.latencyMs).toBeGreaterThanOrEqual(0);
    expect(res).toMatchObject({ backend: 'openai-main', provider: 'openai', model: 'gpt-4o', usageEstimated: false });
  });

  it('passes cached and reasoning tokens through and keeps per-agent totals', async () => {
    const a = new TestBackend({
      name: 'a',
      respond: () => okResponse('x', { promptTokens: 100, completionTokens: 40, totalTokens: 140, cachedPromptTokens: 60, reasoningTokens: 10 }),
    });
    const { router, tracker, events } = setup([a]);
    await router.complete({ model: 'm', messages: hi, agentId: 'greeter' });
    await router.complete({ model: 'm', messages: hi, agentId: 'greeter' });
    await router.complete({ model: 'm', messages: hi, agentId: 'shouter' });
    expect(events[0]).toMatchObject({ cachedPromptTokens: 60, reasoningTokens: 10 });
    expect(tracker.getAgentTotals('greeter')).toMatchObject({ totalTokens: 280, requestCount: 2 });
    expect(tracker.getAgentTotals('shouter')).toMatchObject({ totalTokens: 140, requestCount: 1 });
  });

  it('records no event for a failed call', async () => {
    const { router, events } = setup([
      new TestBackend({
        name: 'a',
        respond: () => {
          throw httpError('a', 400);
        },
      }),
    ]);
    await expect(router.complete({ model: 'm', messages: hi })).rejects.toThrow();
    expect(events).toEqual([]);
  });
});

describe('LLMRouter charges an answered call even when its answer is odd', () => {
  it('toolCalls that are not a list add no text: the answer is charged its estimate', async () => {
    const { router, ledger, events } = setup([]);
    router.addBackend(new TestBackend({ name: 'a', respond: () => ({ ...okResponse('hello', null), toolCalls: 5 as never }) }));
    const res = await router.complete({ model: 'm', messages: hi, threadId: 't' });
    expect(res.usageEstimated).toBe(true);
    expect(res.usage.completionTokens).toBe(estimateTextTokens('hello'));
    expect(ledger.log.map((entry) => entry.op)).toEqual(['reserve', 'settle']);
    expect(events).toHaveLength(1);
  });

  it('an answer whose delivered text cannot be read is charged its reservation, never released', async () => {
    const { router, ledger } = setup([]);
    const answer = okResponse('', null);
    Object.defineProperty(answer, 'content', { get: () => { throw new Error('unreadable content'); } });
    router.addBackend(new TestBackend({ name: 'a', respond: () => answer }));
    await expect(router.complete({ model: 'm', messages: hi, threadId: 't' })).rejects.toThrow('unreadable content');
    expect(ledger.log).toEqual([
      { op: 'reserve', tokens: 57 },
      { op: 'settle', usage: expect.objectContaining({ promptTokens: 7, completionTokens: 50 }) },
    ]);
    expect((await ledger.usage('t'))?.reservedTokens).toBe(0);
  });
});
