/**
 * A hostile or broken upstream cannot overspend (issue 11, finding 4): real fake OpenAI servers on
 * 127.0.0.1 behind the OpenAI-compatible adapter, the router and the memory ledger.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter, type LLMRouterOptions, type RouterStreamChunk } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';

const PROMPT = 10; // the router's prompt estimate in these tests
const HELLO = [{ role: 'user' as const, content: 'Hello there' }];

// A fresh upstream per test: a scenario one test left queued never leaks into the next.
let srv: FakeServer<OpenAIScenario>;
beforeEach(async () => {
  srv = await startFakeOpenAIServer();
});
afterEach(async () => {
  await srv.close();
});

function setup(options: LLMRouterOptions = {}) {
  const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 5_000 });
  const tracker = new UsageTracker();
  const events: UsageEvent[] = [];
  tracker.subscribe((e) => events.push(e));
  const backend = new OpenAICompatibleBackend({ name: 'up', baseUrl: srv.url, models: '*', timeoutMs: 10_000 });
  const router = new LLMRouter({ backends: [backend], ledger, tracker, estimateTokens: () => PROMPT, retries: { maxAttempts: 1 }, ...options });
  return { router, ledger, events };
}

/** Reads a stream to its end (bounded), returning the chunks and the error that ended it, if any. */
async function drain(stream: AsyncIterable<RouterStreamChunk>, maxChunks = 1_000_000) {
  const chunks: RouterStreamChunk[] = [];
  try {
    for await (const c of stream) {
      chunks.push(c);
      if (chunks.length >= maxChunks) throw new Error(`stream not cut after ${maxChunks} chunks`);
    }
    return { chunks, error: undefined };
  } catch (error) {
    return { chunks, error };
  }
}

describe('streams are cut at the output cap and in time', () => {
  it('(a) an endless stream with maxTokens 20 is cut and charged its reservation, never more', async () => {
    srv.enqueue({ kind: 'endless-stream' });
    const { router, ledger, events } = setup();
    const { chunks, error } = await drain(router.stream({ model: 'gpt-4o', messages: HELLO, threadId: 't', maxTokens: 20 }), 10_000);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'OUTPUT_CAP_EXCEEDED', isRetryable: false });
    const delivered = chunks.filter((c) => c.type === 'delta').length;
    expect(delivered).toBeGreaterThan(0);
    expect(delivered).toBeLessThanOrEqual(2 * 20 + 16); // the cap plus its margin
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: PROMPT + 20, reservedTokens: 0 });
    expect(events.map((e) => [e.promptTokens, e.completionTokens])).toEqual([[PROMPT, 20]]);
  });

  it('an endless stream without maxTokens is charged what it delivered up to the completion ceiling, not just the default reserve', async () => {
    srv.enqueue({ kind: 'endless-stream' });
    const { router, ledger, events } = setup({ completionCeiling: 200, defaultCompletionReserve: 20 });
    const { error } = await drain(router.stream({ model: 'gpt-4o', messages: HELLO, threadId: 't' }), 10_000);
    expect(error).toMatchObject({ code: 'OUTPUT_CAP_EXCEEDED' });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: PROMPT + 200, reservedTokens: 0 });
    expect(events.map((e) => [e.promptTokens, e.completionTokens])).toEqual([[PROMPT, 200]]);
  });

  it('(b) a finite stream that runs past maxTokens (claiming 20 tokens) is cut too', async () => {
    srv.enqueue({ kind: 'endless-stream', word: 'more words ', maxChunks: 200, usage: { prompt_tokens: PROMPT, completion_tokens: 20 } });
    const { router, ledger, events } = setup();
    const { error } = await drain(router.stream({ model: 'gpt-4o', messages: HELLO, threadId: 't', maxTokens: 20 }));
    expect(error).toMatchObject({ code: 'OUTPUT_CAP_EXCEEDED' });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: PROMPT + 20, reservedTokens: 0 });
    expect(events).toHaveLength(1);
  });

  it('an honest stream that uses its whole cap is not cut', async () => {
    const words = Array.from({ length: 20 }, (_, i) => `w${i}`).join(' ');
    srv.enqueue({ kind: 'ok', content: words, usage: { prompt_tokens: PROMPT, completion_tokens: 20 } });
    const { router, ledger } = setup();
    const { chunks, error } = await drain(router.stream({ model: 'gpt-4o', messages: HELLO, threadId: 't', maxTokens: 20 }));
    expect(error).toBeUndefined();
    expect(chunks.at(-1)).toMatchObject({ type: 'usage', usageEstimated: false, usage: { totalTokens: PROMPT + 20 } });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: PROMPT + 20, reservedTokens: 0 });
  });

  it('a stream still running after maxStreamDurationMs is cut and charged its reservation', async () => {
    srv.enqueue({ kind: 'endless-stream', word: 'slow ', chunkDelayMs: 20 });
    const { router, ledger, events } = setup({ maxStreamDurationMs: 300 });
    const { chunks, error } = await drain(router.stream({ model: 'gpt-4o', messages: HELLO, threadId: 't', maxTokens: 4_000 }));
    expect(error).toMatchObject({ code: 'STREAM_TOO_LONG', isRetryable: false });
    expect(chunks.length).toBeGreaterThan(0);
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: PROMPT + 4_000, reservedTokens: 0 });
    expect(events).toHaveLength(1);
  });

  it("a call's own shorter timeoutMs stays a timeout (charged what was delivered)", async () => {
    srv.enqueue({ kind: 'endless-stream', word: 'slow ', chunkDelayMs: 20 });
    const { router, ledger } = setup({ maxStreamDurationMs: 60_000 });
    const { error } = await drain(router.stream({ model: 'gpt-4o', messages: HELLO, threadId: 't', maxTokens: 4_000, timeoutMs: 300 }));
    expect(error).toMatchObject({ name: 'CallAbortedError', reason: 'timeout' });
    const used = (await ledger.usage('t'))!;
    expect(used.reservedTokens).toBe(0);
    expect(used.totalTokens).toBeGreaterThan(PROMPT);
    expect(used.totalTokens).toBeLessThan(PROMPT + 4_000);
  });
});

describe('usage no upstream could honestly report', () => {
  it.each([
    ['(c) a completion of 1e15', { prompt_tokens: 12, completion_tokens: 1e15 }],
    ['a completion above maxTokens', { prompt_tokens: 12, completion_tokens: 21 }],
    ['a prompt far above any count of the prompt', { prompt_tokens: 50_000, completion_tokens: 5 }],
    ['a negative count', { prompt_tokens: -1, completion_tokens: 5 }],
    ['a fractional count', { prompt_tokens: 2.5, completion_tokens: 5 }],
    ['more cached tokens than prompt tokens', { prompt_tokens: 12, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 13 } }],
  ])('%s is a non-retryable provider error charged at the reservation', async (_label, usage) => {
    srv.enqueue({ kind: 'ok', usage });
    const { router, ledger, events } = setup();
    const call = router.complete({ model: 'gpt-4o', messages: HELLO, threadId: 't', maxTokens: 20 });
    await expect(call).rejects.toMatchObject({ code: 'IMPLAUSIBLE_USAGE', isRetryable: false, backend: 'up' });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: PROMPT + 20, reservedTokens: 0 });
    expect(events).toHaveLength(1);
    expect(Number.isSafeInteger(events[0]!.costNanos)).toBe(true); // gpt-4o is priced: no overflow
  });

  it('(c) 1e15 in a stream, and without a thread: same refusal, the event still bills the reservation', async () => {
    srv.enqueue({ kind: 'ok', usage: { prompt_tokens: 12, completion_tokens: 1e15 } });
    const { router, events } = setup();
    const { error } = await drain(router.stream({ model: 'gpt-4o', messages: HELLO, maxTokens: 20 }));
    expect(error).toMatchObject({ code: 'IMPLAUSIBLE_USAGE' });
    expect(events.map((e) => e.totalTokens)).toEqual([PROMPT + 20]);
  });
});

describe('a provider reporting more than was reserved, plausibly', () => {
  it('(d) one token more is charged and billed as reported, the excess on the event', async () => {
    srv.enqueue({ kind: 'ok', usage: { prompt_tokens: PROMPT + 1, completion_tokens: 20 } });
    const { router, ledger, events } = setup();
    const res = await router.complete({ model: 'gpt-4o', messages: HELLO, threadId: 't', maxTokens: 20 });
    expect(res.usage.totalTokens).toBe(PROMPT + 21);
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: PROMPT + 21, reservedTokens: 0 });
    expect(events).toHaveLength(1);
    expect(events[0]!.overspendTokens).toBe(1);
  });

  it('a charge within the reservation carries no overspend field', async () => {
    srv.enqueue({ kind: 'ok', usage: { prompt_tokens: PROMPT, completion_tokens: 3 } });
    const { router, events } = setup();
    await router.complete({ model: 'gpt-4o', messages: HELLO, threadId: 't', maxTokens: 20 });
    expect(events[0]).not.toHaveProperty('overspendTokens');
  });
});

describe('the model an upstream echoes', () => {
  it.each([
    ['(e) a NUL', 'gpt-4o\u0000evil'],
    ['a newline', 'gpt-4o\nINFO forged log line'],
    ['more than 256 characters', 'm'.repeat(257)],
  ])('with %s is not copied into the event: the requested model is', async (_label, model) => {
    srv.enqueue({ kind: 'ok', model });
    const { router, events } = setup();
    const res = await router.complete({ model: 'gpt-4o', messages: HELLO });
    expect(res.model).toBe('gpt-4o');
    expect(events[0]!.model).toBe('gpt-4o');
  });

  it('a sane answered model (a dated snapshot) is kept', async () => {
    srv.enqueue({ kind: 'ok', model: 'gpt-4o-2024-08-06' });
    const { router, events } = setup();
    await router.complete({ model: 'gpt-4o', messages: HELLO });
    expect(events[0]!.model).toBe('gpt-4o-2024-08-06');
  });
});

describe('options', () => {
  it('validates completionCeiling and maxStreamDurationMs', () => {
    expect(() => new LLMRouter({ completionCeiling: 0 })).toThrow(/completionCeiling/);
    expect(() => new LLMRouter({ maxStreamDurationMs: -1 })).toThrow(/maxStreamDurationMs/);
    expect(new LLMRouter()).toMatchObject({ completionCeiling: 131_072, maxStreamDurationMs: 600_000 });
  });

  it('without maxTokens, completionCeiling is the limit: honest long answers pass, beyond it is refused', async () => {
    srv.enqueue({ kind: 'ok', usage: { prompt_tokens: PROMPT, completion_tokens: 3_000 } });
    srv.enqueue({ kind: 'ok', usage: { prompt_tokens: PROMPT, completion_tokens: 5_001 } });
    const { router, events } = setup({ defaultCompletionReserve: 1_000, completionCeiling: 5_000 });
    const res = await router.complete({ model: 'gpt-4o', messages: HELLO, threadId: 't' });
    expect(res.usage.completionTokens).toBe(3_000);
    expect(events[0]!.overspendTokens).toBe(2_000);
    await expect(router.complete({ model: 'gpt-4o', messages: HELLO, threadId: 't' })).rejects.toMatchObject({ code: 'IMPLAUSIBLE_USAGE' });
  });
});
