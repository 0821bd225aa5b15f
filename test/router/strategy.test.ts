import { describe, expect, it } from 'vitest';
import { NoBackendError, ValidationError } from '../../src/core/errors.js';
import { LLMRouter } from '../../src/router/router.js';
import { orderBackends } from '../../src/router/strategy.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { deferred, hi, okResponse, TestBackend } from './helpers.js';

function router(strategy: 'failover' | 'round-robin' | 'least-loaded', backends: TestBackend[]) {
  return new LLMRouter({ strategy, backends, tracker: new UsageTracker(), ledger: new MemoryBudgetLedger() });
}

describe('orderBackends', () => {
  const a = new TestBackend({ name: 'a', priority: 2 });
  const b = new TestBackend({ name: 'b', priority: 1 });
  const c = new TestBackend({ name: 'c', priority: 2 });

  it('failover sorts by priority and keeps configured order among equals', () => {
    expect(orderBackends('failover', [a, b, c], { turn: 0, loadOf: () => 0 }).map((x) => x.name)).toEqual(['b', 'a', 'c']);
  });

  it('round-robin rotates the configured order by the turn', () => {
    const names = (turn: number) => orderBackends('round-robin', [a, b, c], { turn, loadOf: () => 0 }).map((x) => x.name);
    expect(names(0)).toEqual(['a', 'b', 'c']);
    expect(names(1)).toEqual(['b', 'c', 'a']);
    expect(names(5)).toEqual(['c', 'a', 'b']);
  });

  it('least-loaded sorts by load, then priority', () => {
    const loads = new Map([[a, 0], [b, 3], [c, 0]]);
    expect(orderBackends('least-loaded', [a, b, c], { turn: 0, loadOf: (x) => loads.get(x as TestBackend)! }).map((x) => x.name)).toEqual([
      'a',
      'c',
      'b',
    ]);
  });
});

describe('LLMRouter strategies', () => {
  it('failover sends every call to the preferred (lowest priority) backend', async () => {
    const slow = new TestBackend({ name: 'secondary', priority: 5 });
    const fast = new TestBackend({ name: 'primary', priority: 1 });
    const r = router('failover', [slow, fast]);
    for (let i = 0; i < 3; i++) expect((await r.complete({ model: 'm', messages: hi })).backend).toBe('primary');
    expect(fast.calls).toBe(3);
    expect(slow.calls).toBe(0);
  });

  it('round-robin rotates across the backends serving the model', async () => {
    const bs = ['a', 'b', 'c'].map((name) => new TestBackend({ name }));
    const r = router('round-robin', bs);
    const served: string[] = [];
    for (let i = 0; i < 6; i++) served.push((await r.complete({ model: 'm', messages: hi })).backend);
    expect(served).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('least-loaded sends a call to the backend with the fewest calls in flight', async () => {
    const gate = deferred();
    const a = new TestBackend({ name: 'a', respond: async () => (await gate.promise, okResponse('a')) });
    const b = new TestBackend({ name: 'b', respond: async () => (await gate.promise, okResponse('b')) });
    const r = router('least-loaded', [a, b]);
    const first = r.complete({ model: 'm', messages: hi });
    await new Promise((res) => setImmediate(res));
    expect(r.inFlight(a)).toBe(1);
    expect(a.load).toBe(0); // the router counts calls in flight itself and never writes into a backend
    const second = r.complete({ model: 'm', messages: hi });
    const third = r.complete({ model: 'm', messages: hi });
    await new Promise((res) => setImmediate(res));
    gate.resolve();
    const served = (await Promise.all([first, second, third])).map((x) => x.backend);
    expect(served).toEqual(['a', 'b', 'a']);
    expect(r.inFlight(a)).toBe(0);
    expect(r.inFlight(b)).toBe(0);
    expect(a.load).toBe(0);
    expect(b.load).toBe(0);
  });

  it('counts calls in flight itself: a frozen backend object is routed least-loaded all the same', async () => {
    const gate = deferred();
    const a = Object.freeze(new TestBackend({ name: 'a', respond: async () => (await gate.promise, okResponse('a')) }));
    const b = Object.freeze(new TestBackend({ name: 'b', respond: async () => (await gate.promise, okResponse('b')) }));
    const r = new LLMRouter({ strategy: 'least-loaded', backends: [a, b], tracker: new UsageTracker(), ledger: new MemoryBudgetLedger() });
    const calls = [r.complete({ model: 'm', messages: hi }), r.complete({ model: 'm', messages: hi })];
    await new Promise((res) => setImmediate(res));
    expect([r.inFlight(a), r.inFlight(b)]).toEqual([1, 1]);
    gate.resolve();
    expect((await Promise.all(calls)).map((x) => x.backend)).toEqual(['a', 'b']);
    expect([r.inFlight(a), r.inFlight(b), a.load, b.load]).toEqual([0, 0, 0, 0]);
  });

  it('only considers backends that serve the requested model', async () => {
    const gpt = new TestBackend({ name: 'openai', priority: 1, models: ['gpt-4o'] });
    const claude = new TestBackend({ name: 'anthropic', priority: 2, models: ['claude-sonnet-4'] });
    const r = router('failover', [gpt, claude]);
    expect((await r.complete({ model: 'claude-sonnet-4', messages: hi })).backend).toBe('anthropic');
    expect(gpt.calls).toBe(0);
  });

  it('throws NoBackendError naming the model and the configured backends', async () => {
    const r = router('failover', [new TestBackend({ name: 'openai', models: ['gpt-4o'] }), new TestBackend({ name: 'local', models: ['llama3'] })]);
    const err = await r.complete({ model: 'grok-4', messages: hi }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoBackendError);
    expect((err as Error).message).toBe('No backend serves model "grok-4"; configured backends: openai, local');
    const none = await new LLMRouter({ tracker: new UsageTracker() }).complete({ model: 'x', messages: hi }).catch((e: unknown) => e);
    expect((none as Error).message).toContain('configured backends: (none)');
  });
});

describe('LLMRouter options and request validation', () => {
  it('rejects bad options naming the option', () => {
    expect(() => new LLMRouter({ strategy: 'random' as never })).toThrow(/^strategy: must be one of failover, round-robin, least-loaded/);
    expect(() => new LLMRouter({ retries: { maxAttempts: 0 } })).toThrow(/^retries\.maxAttempts: must be an integer from 1 to 20/);
    expect(() => new LLMRouter({ retries: { maxDelayMs: 10, baseDelayMs: 100 } })).toThrow(/^retries\.maxDelayMs/);
    expect(() => new LLMRouter({ retries: { tries: 3 } as never })).toThrow(/^retries\.tries: unknown option/);
    expect(() => new LLMRouter({ cooldown: { failureThreshold: 0 } })).toThrow(/^cooldown\.failureThreshold/);
    expect(() => new LLMRouter({ defaultCompletionReserve: -1 })).toThrow(/^defaultCompletionReserve/);
    expect(() => new LLMRouter({ timeoutMs: 0 })).toThrow(/^timeoutMs/);
    expect(() => new LLMRouter({ ledger: {} as never })).toThrow(/^ledger: must be a BudgetLedger/);
    expect(() => new LLMRouter({ ledger: new MemoryBudgetLedger(), registry: new MemoryBudgetLedger().registry })).toThrow(/^registry: cannot be combined/);
    expect(() => new LLMRouter({ sleep: 5 as never })).toThrow(/^sleep: must be a function/);
    expect(() => new LLMRouter({ strategyy: 'failover' } as never)).toThrow(/^strategyy: unknown LLMRouter option/);
    expect(() => new LLMRouter({ backends: [{ name: 'x' } as never] })).toThrow(/^backends\[0\]\.servesModel: must be a function/);
    expect(() => new LLMRouter(null as never)).toThrow(/^options: must be an object/);
    // An unknown option is named before any bad value.
    expect(() => new LLMRouter({ timeoutMs: 0, strategyy: 'failover' } as never)).toThrow(/^strategyy: unknown LLMRouter option/);
    expect(() => new LLMRouter({ backends: [{ backend: new TestBackend({ name: 'x' }), timeout: 5 } as never] })).toThrow(
      /^backends\[0\]\.timeout: unknown backend limit/,
    );
  });

  it('validates backend limits and unique names in addBackend', () => {
    const r = new LLMRouter({ tracker: new UsageTracker() });
    r.addBackend(new TestBackend({ name: 'a' }));
    expect(() => r.addBackend(new TestBackend({ name: 'a' }))).toThrow(/^backend\.name: a backend with this name is already configured/);
    expect(() => r.addBackend(new TestBackend({ name: 'b' }), { maxConcurrent: 0 })).toThrow(/^backend\.maxConcurrent: must be an integer >= 1/);
    expect(() => r.addBackend(new TestBackend({ name: 'b' }), { tokensPerMinute: 1.5 })).toThrow(/^backend\.tokensPerMinute/);
    expect(() => r.addBackend(new TestBackend({ name: 'b' }), { timeout: 5 } as never)).toThrow(/^backend\.timeout: unknown backend limit/);
    expect(r.backends.map((b) => b.name)).toEqual(['a']);
    expect(r.removeBackend('a')).toBe(true);
    expect(r.backends).toEqual([]);
  });

  it('rejects bad requests naming the field, before touching the budget', async () => {
    const ledger = new MemoryBudgetLedger();
    const r = new LLMRouter({ backends: [new TestBackend({ name: 'a' })], ledger, tracker: new UsageTracker() });
    await expect(r.complete({ model: '', messages: hi })).rejects.toThrow(ValidationError);
    await expect(r.complete({ model: 'm', messages: 'hi' as never })).rejects.toThrow(/^messages: must be an array/);
    await expect(r.complete({ model: 'm', messages: hi, maxTokens: 0, threadId: 't' })).rejects.toThrow(/^maxTokens: must be an integer >= 1/);
    await expect(r.complete({ model: 'm', messages: hi, threadId: '' })).rejects.toThrow(/^threadId: must not be empty/);
    await expect(r.complete({ model: 'm', messages: hi, max_tokens: 5 } as never)).rejects.toThrow(/^max_tokens: unknown request field/);
    expect(await ledger.usage('t')).toBeUndefined();
  });

  it('refuses up front what its usage event could not carry, so an answered call is always recorded', async () => {
    const backend = new TestBackend({ name: 'a' });
    const r = new LLMRouter({ backends: [backend], ledger: new MemoryBudgetLedger(), tracker: new UsageTracker() });
    await expect(r.complete({ model: 'm\u0000', messages: hi, threadId: 't' })).rejects.toThrow(/^model: must not contain control characters/);
    await expect(r.complete({ model: 'm', messages: hi, agentId: 'a\u001b[31m' })).rejects.toThrow(/^agentId: must not contain control characters/);
    const huge = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v']));
    await expect(r.complete({ model: 'm', messages: hi, metadata: huge })).rejects.toThrow(/^metadata/);
    await expect(r.complete({ model: 'm', messages: hi, metadata: { user_id: 'x\ud800' } })).rejects.toThrow(/lone surrogate/);
    expect(backend.calls).toBe(0);
  });
});
