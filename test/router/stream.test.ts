import { describe, expect, it } from 'vitest';
import { BudgetExhaustedError, CallAbortedError, NoBackendError, ProviderError } from '../../src/core/errors.js';
import { LLMRouter, type RouterUsageChunk } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { estimateTextTokens } from '../../src/tokens/estimate.js';
import type { BackendRequest, StreamChunk } from '../../src/core/types.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { chunks, hi, httpError, resetError, TestBackend, usage } from './helpers.js';
import { drain as collect } from '../support/drain.js';

const PROMPT = 5;

function setup(backends: TestBackend[], extra: ConstructorParameters<typeof LLMRouter>[0] = {}) {
  const ledger = new MemoryBudgetLedger();
  const tracker = new UsageTracker();
  const events: UsageEvent[] = [];
  tracker.subscribe((e) => events.push(e));
  const router = new LLMRouter({ backends, ledger, tracker, estimateTokens: () => PROMPT, ...extra });
  return { router, ledger, events };
}

function streamer(name: string, make: (req: BackendRequest, n: number) => AsyncIterable<StreamChunk>, priority = 1) {
  return new TestBackend({ name, priority, stream: make });
}

describe('LLMRouter.stream', () => {
  it('yields deltas, then finish, then one usage chunk charged from the provider’s usage', async () => {
    const a = streamer('a', () => chunks(['Hel', 'lo', '!'], { finish: 'stop', usage: usage(12, 3) }));
    const { router, ledger, events } = setup([a]);
    const out = await collect(router.stream({ model: 'm', messages: hi, threadId: 't', maxTokens: 50 }));
    expect(out.map((c) => c.type)).toEqual(['delta', 'delta', 'delta', 'finish', 'usage']);
    const last = out[4] as RouterUsageChunk;
    expect(last).toMatchObject({ usage: usage(12, 3), usageEstimated: false, backend: 'a', provider: 'test' });
    expect(last.budget?.usage).toMatchObject({ totalTokens: 15, reservedTokens: 0 });
    expect(events).toHaveLength(1);
    expect(last.event).toBe(events[0]);
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 15, reservedTokens: 0, requestCount: 1 });
  });

  it('reads ahead past finish so a provider’s trailing usage is not lost', async () => {
    const a = streamer('a', async function* () {
      yield { type: 'delta', content: 'x' };
      yield { type: 'finish', finishReason: 'stop' };
      yield { type: 'usage', usage: usage(9, 1) };
    });
    const { router, ledger } = setup([a]);
    for await (const c of router.stream({ model: 'm', messages: hi, threadId: 't' })) {
      if (c.type === 'finish') break; // a consumer that stops at finish still gets the provider's figure charged
    }
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 10, reservedTokens: 0 });
  });

  it('counts the delivered text when the provider sends no usage', async () => {
    const parts = ['The budget ', 'was checked ', 'twice.'];
    const a = streamer('a', () => chunks(parts, { finish: 'stop' }));
    const { router, ledger, events } = setup([a]);
    const out = await collect(router.stream({ model: 'm', messages: hi, threadId: 't' }));
    const last = out.at(-1) as RouterUsageChunk;
    const completion = estimateTextTokens(parts.join(''));
    expect(last.usageEstimated).toBe(true);
    expect(last.usage).toEqual(usage(PROMPT, completion));
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: PROMPT + completion, reservedTokens: 0 });
    expect(events[0]!.totalTokens).toBe(PROMPT + completion);
  });

  it('fails over before the first delta', async () => {
    const a = streamer(
      'a',
      // eslint-disable-next-line require-yield
      async function* () {
        throw httpError('a', 503);
      },
      1,
    );
    const b = streamer('b', () => chunks(['from b'], { finish: 'stop', usage: usage(4, 2) }), 2);
    const { router, ledger } = setup([a, b]);
    const out = await collect(router.stream({ model: 'm', messages: hi, threadId: 't' }));
    expect((out.at(-1) as RouterUsageChunk).backend).toBe('b');
    expect(out[0]).toEqual({ type: 'delta', content: 'from b' });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 6, reservedTokens: 0 });
  });

  it('does not fail over after a delta: a broken stream throws and is charged what was delivered', async () => {
    const a = streamer(
      'a',
      async function* () {
        yield { type: 'delta', content: 'partial answer' };
        throw resetError('a');
      },
      1,
    );
    const b = streamer('b', () => chunks(['never'], { usage: usage(1, 1) }), 2);
    const { router, ledger, events } = setup([a, b]);
    const seen: string[] = [];
    const err = await (async () => {
      for await (const c of router.stream({ model: 'm', messages: hi, threadId: 't', maxTokens: 500 })) {
        if (c.type === 'delta') seen.push(c.content);
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as Error).message).toContain('"a"');
    expect(seen).toEqual(['partial answer']);
    expect(b.calls).toBe(0);
    const charged = PROMPT + estimateTextTokens('partial answer');
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: charged, reservedTokens: 0, requestCount: 1 });
    expect(charged).toBeLessThan(PROMPT + 500);
    expect(events).toHaveLength(1);
    expect(events[0]!.totalTokens).toBe(charged);
  });

  it('a consumer that stops early is charged for what it received, and the backend stream is closed', async () => {
    let closed = false;
    const a = streamer('a', async function* () {
      try {
        for (let i = 0; i < 100; i++) yield { type: 'delta', content: `word${i} ` };
        yield { type: 'usage', usage: usage(5, 100) };
      } finally {
        closed = true;
      }
    });
    const { router, ledger, events } = setup([a]);
    const got: string[] = [];
    for await (const c of router.stream({ model: 'm', messages: hi, threadId: 't', maxTokens: 1_000 })) {
      if (c.type === 'delta') got.push(c.content);
      if (got.length === 2) break;
    }
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(true);
    const charged = PROMPT + estimateTextTokens(got.join(''));
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: charged, reservedTokens: 0 });
    expect(events).toHaveLength(1);
    expect(router.inFlight(a)).toBe(0);
  });

  it('a caller abort mid-stream throws CallAbortedError and charges the delivered part', async () => {
    const a = streamer('a', async function* (req) {
      yield { type: 'delta', content: 'first part' };
      await new Promise((_, reject) => req.signal!.addEventListener('abort', () => reject(req.signal!.reason), { once: true }));
    });
    const { router, ledger } = setup([a]);
    const ac = new AbortController();
    const err = await (async () => {
      for await (const c of router.stream({ model: 'm', messages: hi, threadId: 't', signal: ac.signal })) {
        if (c.type === 'delta') setTimeout(() => ac.abort(), 5);
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CallAbortedError);
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: PROMPT + estimateTextTokens('first part'), reservedTokens: 0 });
  });

  it('an idle stream is cut by the backend timeout; before any delta it fails over', async () => {
    // eslint-disable-next-line require-yield
    const a = streamer('a', async function* (req) {
      await new Promise((_, reject) => req.signal!.addEventListener('abort', () => reject(req.signal!.reason), { once: true }));
    });
    const b = streamer('b', () => chunks(['ok'], { usage: usage(2, 1) }));
    const { router, ledger } = setup([]);
    router.addBackend(a, { timeoutMs: 20 }).addBackend(b);
    const out = await collect(router.stream({ model: 'm', messages: hi, threadId: 't' }));
    expect((out.at(-1) as RouterUsageChunk).backend).toBe('b');
    expect((await ledger.usage('t'))!.reservedTokens).toBe(0);
  });

  it('a slow consumer does not trip the idle timeout', async () => {
    const a = streamer('a', () => chunks(['a', 'b', 'c'], { usage: usage(1, 3) }));
    const { router } = setup([]);
    router.addBackend(a, { timeoutMs: 15 });
    const got: string[] = [];
    for await (const c of router.stream({ model: 'm', messages: hi })) {
      if (c.type === 'delta') {
        got.push(c.content);
        await new Promise((r) => setTimeout(r, 30));
      }
    }
    expect(got).toEqual(['a', 'b', 'c']);
  });

  it('refuses before streaming when the budget cannot cover it, and needs a streaming backend', async () => {
    const a = streamer('a', () => chunks(['x']));
    const { router } = setup([a], { ledger: new MemoryBudgetLedger({ maxTokensPerThread: 10 }) });
    await expect(collect(router.stream({ model: 'm', messages: hi, threadId: 't', maxTokens: 50 }))).rejects.toBeInstanceOf(BudgetExhaustedError);
    expect(a.calls).toBe(0);

    const plain = new TestBackend({ name: 'plain' });
    const { router: r2 } = setup([plain]);
    const err = await collect(r2.stream({ model: 'm', messages: hi })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoBackendError);
    expect((err as Error).message).toContain('cannot stream');
  });
});
