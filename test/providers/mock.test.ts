import { afterEach, describe, expect, it, vi } from 'vitest';
import { CallAbortedError, ProviderError, ValidationError } from '../../src/core/errors.js';
import { MockBackend } from '../../src/providers/mock.js';
import { estimateTextTokens, estimateTokens, estimateToolsTokens } from '../../src/tokens/estimate.js';
import type { BackendRequest, StreamChunk } from '../../src/core/types.js';
import { drain } from '../support/drain.js';

const request = (content = 'Summarise the quarterly budget report for the finance team', extra: Partial<BackendRequest> = {}): BackendRequest => ({
  model: 'mock-large',
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content },
  ],
  ...extra,
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('MockBackend', () => {
  it('has sensible defaults', () => {
    const mock = new MockBackend();
    expect(mock).toMatchObject({ name: 'mock', provider: 'mock', priority: 1, load: 0, calls: 0 });
    expect(mock.servesModel('anything')).toBe(true);
    expect(new MockBackend({ models: ['mock-*'] }).servesModel('gpt-4o')).toBe(false);
  });

  it('validates its options, naming the field', () => {
    expect(() => new MockBackend({ failureRate: 1.5 })).toThrow(/options\.failureRate/);
    expect(() => new MockBackend({ latencyMs: -1 })).toThrow(/options\.latencyMs/);
    expect(() => new MockBackend({ failWith: '418' as never })).toThrow(/options\.failWith/);
    expect(() => new MockBackend({ seed: 1.5 })).toThrow(/options\.seed/);
    expect(() => new MockBackend({ completionTokens: 0 })).toThrow(ValidationError);
    expect(() => new MockBackend({ models: [] })).toThrow(/options\.models/);
  });

  it('answers deterministically: same seed and request → same reply; another seed → another reply', async () => {
    const a = await new MockBackend({ seed: 1 }).complete(request());
    const b = await new MockBackend({ seed: 1 }).complete(request());
    const again = new MockBackend({ seed: 1 });
    await again.complete(request('something else entirely'));
    const c = await again.complete(request());
    const d = await new MockBackend({ seed: 2 }).complete(request());
    expect(b.content).toBe(a.content);
    expect(c.content).toBe(a.content); // independent of call order
    expect(d.content).not.toBe(a.content);
    expect(a.content).toMatch(/^Re: Summarise the quarterly budget report for/);
  });

  it('reports realistic token counts: the prompt estimate and the reply length', async () => {
    const req = request();
    const res = await new MockBackend().complete(req);
    const words = (res.content ?? '').split(' ').length;
    expect(res.usage?.promptTokens).toBe(estimateTokens(req.messages, { model: req.model }));
    expect(res.usage?.completionTokens).toBe(estimateTextTokens(res.content ?? ''));
    expect(res.usage?.completionTokens).toBeGreaterThanOrEqual(words);
    expect(res.usage?.completionTokens).toBeLessThanOrEqual(words * 3);
    const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];
    const withTools = await new MockBackend().complete({ ...req, tools });
    expect(withTools.usage?.promptTokens).toBe(estimateTokens(req.messages) + estimateToolsTokens(tools));
    expect(res.usage?.totalTokens).toBe((res.usage?.promptTokens ?? 0) + (res.usage?.completionTokens ?? 0));
    expect(res).toMatchObject({ model: 'mock-large', finishReason: 'stop', id: 'mock-1' });
  });

  it('uses completionTokens and reply when given, and caps at maxTokens with finish "length"', async () => {
    const exact = await new MockBackend({ completionTokens: 40 }).complete(request());
    expect(exact.usage?.completionTokens).toBe(40);
    expect((exact.content ?? '').split(' ')).toHaveLength(40);

    const replied = await new MockBackend({ reply: (r) => `echo ${r.model}` }).complete(request());
    expect(replied.content).toBe('echo mock-large');

    const capped = await new MockBackend({ completionTokens: 40 }).complete(request(undefined, { maxTokens: 10 }));
    expect(capped.finishReason).toBe('length');
    expect(capped.usage?.completionTokens).toBe(10);
    expect((capped.content ?? '').split(' ')).toHaveLength(10);
  });

  it('streams word by word, then finish and the same usage as complete()', async () => {
    const whole = await new MockBackend().complete(request());
    const chunks = await drain(new MockBackend().stream(request()));
    const deltas = chunks.filter((c) => c.type === 'delta');
    expect(deltas.length).toBe((whole.content ?? '').split(' ').length);
    expect(deltas.map((c) => (c.type === 'delta' ? c.content : '')).join('')).toBe(whole.content);
    expect(chunks.slice(-2)).toEqual([
      { type: 'finish', finishReason: 'stop' },
      { type: 'usage', usage: whole.usage },
    ]);
  });

  it('can omit usage like a provider that reports none', async () => {
    const mock = new MockBackend({ reportUsage: false });
    expect((await mock.complete(request())).usage).toBeUndefined();
    expect((await drain(mock.stream(request()))).some((c) => c.type === 'usage')).toBe(false);
  });

  it('fails with each configured failure mode', async () => {
    const expectations = {
      '429': { code: 'RATE_LIMITED', status: 429, isRetryable: true, retryAfterMs: 300 },
      '500': { code: 'PROVIDER_UNAVAILABLE', status: 500, isRetryable: true },
      timeout: { code: 'TIMEOUT', isRetryable: true },
      malformed: { code: 'MALFORMED_RESPONSE', status: 200, isRetryable: false },
      truncated: { code: 'CONNECTION_ERROR', isRetryable: true },
    } as const;
    for (const [failWith, expected] of Object.entries(expectations)) {
      const mock = new MockBackend({ name: 'flaky', failureRate: 1, failWith: failWith as keyof typeof expectations, retryAfterMs: 300 });
      const err = await mock.complete(request()).catch((e: unknown) => e);
      expect(err, failWith).toBeInstanceOf(ProviderError);
      expect(err, failWith).toMatchObject({ ...expected, provider: 'mock', backend: 'flaky' });
      const streamErr = await drain(mock.stream(request())).catch((e: unknown) => e);
      expect(streamErr, failWith).toBeInstanceOf(ProviderError);
    }
  });

  it('a truncated stream yields half the words, then STREAM_TRUNCATED', async () => {
    const full = await drain(new MockBackend({ completionTokens: 10 }).stream(request()));
    const mock = new MockBackend({ completionTokens: 10, failureRate: 1, failWith: 'truncated' });
    const seen: StreamChunk[] = [];
    const err = await (async () => {
      for await (const c of mock.stream(request())) seen.push(c);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(full.slice(0, 5));
    expect(err).toMatchObject({ code: 'STREAM_TRUNCATED', isRetryable: true });
  });

  it('draws failures from the seeded PRNG: same seed → same sequence, near the configured rate', async () => {
    const outcomes = async (seed: number): Promise<string> => {
      const mock = new MockBackend({ seed, failureRate: 0.3, failWith: '500' });
      let out = '';
      for (let i = 0; i < 400; i++) out += await mock.complete(request()).then(() => '.', () => 'x');
      return out;
    };
    const first = await outcomes(9);
    expect(await outcomes(9)).toBe(first);
    expect(await outcomes(10)).not.toBe(first);
    const failures = first.split('').filter((c) => c === 'x').length;
    expect(failures).toBeGreaterThan(80);
    expect(failures).toBeLessThan(160);
  });

  it('never calls Math.random', async () => {
    const spy = vi.spyOn(Math, 'random');
    const mock = new MockBackend({ failureRate: 0.5 });
    for (let i = 0; i < 20; i++) await mock.complete(request()).catch(() => undefined);
    await drain(mock.stream(request())).catch(() => undefined);
    expect(spy).not.toHaveBeenCalled();
  });

  it('uses no timers when latencyMs is 0, and waits latencyMs otherwise', async () => {
    vi.useFakeTimers();
    await expect(new MockBackend().complete(request())).resolves.toMatchObject({ finishReason: 'stop' });
    await drain(new MockBackend().stream(request()));

    let settled = false;
    const pending = new MockBackend({ latencyMs: 1000 }).complete(request()).then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await pending;
    expect(settled).toBe(true);
  });

  it('honours the caller signal: before the call, during latency, and between stream chunks', async () => {
    const mock = new MockBackend({ latencyMs: 10_000, chunkDelayMs: 0 });
    await expect(mock.complete(request(undefined, { signal: AbortSignal.abort() }))).rejects.toBeInstanceOf(CallAbortedError);
    expect(mock.calls).toBe(0);

    const controller = new AbortController();
    const pending = mock.complete(request(undefined, { signal: controller.signal }));
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED', reason: 'aborted' });

    const streamer = new MockBackend({ chunkDelayMs: 5 });
    const streamController = new AbortController();
    const seen: StreamChunk[] = [];
    const err = await (async () => {
      for await (const c of streamer.stream(request(undefined, { signal: streamController.signal }))) {
        seen.push(c);
        if (seen.length === 3) streamController.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CallAbortedError);
    expect(seen).toHaveLength(3);
  });
});
