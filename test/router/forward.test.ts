/**
 * `router.forward()` / `forwardStream()` / `forwardUncharged()`: the pass-through calls, with test-double
 * backends whose events and answers are scripted, against the memory ledger: reserve first, fail over only
 * before the first event, charge the reported usage or what was delivered, hold the last events back.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { BudgetExhaustedError, NoBackendError, ProviderError } from '../../src/core/errors.js';
import type { Backend, ForwardEvent, ForwardRequest, ForwardResponse, WireApi } from '../../src/core/types.js';
import { LLMRouter, type ForwardCallRequest, type RouterForwardChunk } from '../../src/router/router.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';

const USAGE = { promptTokens: 10, completionTokens: 5, totalTokens: 15 };

/** A pass-through backend whose streams and answers are scripted per call. */
class ScriptedBackend implements Backend {
  priority = 1;
  load = 0;
  readonly calls: ForwardRequest[] = [];
  constructor(
    readonly name: string,
    readonly apis: readonly WireApi[],
    private readonly script: { events?: () => AsyncIterable<ForwardEvent>; answer?: () => Promise<ForwardResponse> },
    readonly provider = 'openai',
  ) {}
  servesModel(): boolean {
    return true;
  }
  complete(): never {
    throw new Error('not used');
  }
  forward(request: ForwardRequest): Promise<ForwardResponse> {
    this.calls.push(request);
    return this.script.answer!();
  }
  forwardStream(request: ForwardRequest): AsyncIterable<ForwardEvent> {
    this.calls.push(request);
    return this.script.events!();
  }
}

function failing(status: number): ProviderError {
  return new ProviderError({ code: 'HTTP_ERROR', provider: 'openai', backend: 'x', status, isRetryable: status >= 500, message: `HTTP ${status}` });
}

async function* events(list: ForwardEvent[], thenThrow?: Error): AsyncGenerator<ForwardEvent> {
  for (const e of list) yield e;
  if (thenThrow) throw thenThrow;
}

const chatEvents = (): ForwardEvent[] => [
  { data: '{"choices":[{"delta":{"content":"Hello"}}]}', text: 'Hello' },
  { data: '{"choices":[{"delta":{"content":" world"}}]}', text: ' world' },
  { data: '{"choices":[],"usage":{}}', usage: USAGE, usageOnly: true },
  { data: '[DONE]', done: true },
];

function setup(backends: Backend[], maxTokens = 1_000) {
  const ledger = new MemoryBudgetLedger({ maxTokensPerThread: maxTokens });
  const tracker = new UsageTracker();
  const recorded: UsageEvent[] = [];
  tracker.subscribe((e) => recorded.push(e));
  const router = new LLMRouter({ backends, ledger, tracker, retries: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
  return { router, ledger, recorded };
}

const request = (over: Partial<ForwardCallRequest> = {}): ForwardCallRequest => ({
  api: 'chat', model: 'gpt-4o-mini', body: { model: 'gpt-4o-mini', messages: [], x_unknown: [1] }, inputTokens: 10, maxOutputTokens: 20, threadId: 't', ...over,
});

async function drain(stream: AsyncIterable<RouterForwardChunk>): Promise<{ chunks: RouterForwardChunk[]; error?: unknown }> {
  const chunks: RouterForwardChunk[] = [];
  try {
    for await (const c of stream) chunks.push(c);
    return { chunks };
  } catch (error) {
    return { chunks, error };
  }
}

describe('router.forward', () => {
  it('sends the body as it is, returns the answer as sent and charges its usage', async () => {
    const body = { id: 'chatcmpl-1', system_fingerprint: 'fp', choices: [] };
    const b = new ScriptedBackend('a', ['chat'], { answer: async () => ({ body, usage: USAGE, model: 'gpt-4o-mini-2024' }) });
    const { router, ledger, recorded } = setup([b]);
    const req = request();
    const res = await router.forward(req);
    expect(b.calls[0]!.body).toBe(req.body);
    expect(res.body).toBe(body);
    expect(res.model).toBe('gpt-4o-mini-2024');
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 15, reservedTokens: 0 });
    expect(recorded).toHaveLength(1);
  });

  it('reserves inputTokens + cap × choices and refuses, with no backend call, what the thread cannot afford', async () => {
    const b = new ScriptedBackend('a', ['chat'], { answer: async () => ({ body: {}, usage: USAGE }) });
    const { router } = setup([b], 60);
    await expect(router.forward(request({ choices: 3 }))).rejects.toBeInstanceOf(BudgetExhaustedError); // 10 + 60
    expect(b.calls).toHaveLength(0);
    await expect(router.forward(request({ choices: 2 }))).resolves.toBeDefined(); // 10 + 40
  });

  it('refuses usage no honest upstream could report for the body, charging the reservation', async () => {
    const b = new ScriptedBackend('a', ['chat'], { answer: async () => ({ body: {}, usage: { promptTokens: 1e9, completionTokens: 1, totalTokens: 1e9 + 1 } }) });
    const { router, ledger } = setup([b]);
    await expect(router.forward(request())).rejects.toMatchObject({ code: 'IMPLAUSIBLE_USAGE' });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 30, reservedTokens: 0 });
  });

  it('charges an estimate of the answer text when the upstream reports no usage', async () => {
    const b = new ScriptedBackend('a', ['chat'], { answer: async () => ({ body: { choices: [{ message: { content: 'one two three four' } }] } }) });
    const { router } = setup([b]);
    const res = await router.forward(request());
    expect(res.usageEstimated).toBe(true);
    expect(res.usage.completionTokens).toBeGreaterThanOrEqual(4);
  });

  it('fails over to the next backend that speaks the API and skips those that do not', async () => {
    const other = new ScriptedBackend('messages-only', ['messages'], { answer: async () => ({ body: 'wrong' }) });
    const down = new ScriptedBackend('down', ['chat'], { answer: async () => Promise.reject(failing(503)) });
    const up = new ScriptedBackend('up', ['chat'], { answer: async () => ({ body: { ok: true }, usage: USAGE }) });
    const { router, ledger } = setup([other, down, up]);
    expect((await router.forward(request())).body).toEqual({ ok: true });
    expect(other.calls).toHaveLength(0);
    expect(down.calls).toHaveLength(1);
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 15, reservedTokens: 0 });
    expect(router.speaks('gpt-4o-mini', 'responses')).toBe(false);
    await expect(router.forward(request({ api: 'responses' }))).rejects.toBeInstanceOf(NoBackendError);
  });

  it('releases the hold when every attempt fails', async () => {
    const down = new ScriptedBackend('down', ['chat'], { answer: async () => Promise.reject(failing(400)) });
    const { router, ledger } = setup([down]);
    await expect(router.forward(request())).rejects.toBeInstanceOf(ProviderError);
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 0, reservedTokens: 0 });
  });

  it('forwardUncharged leaves nothing in the backend\'s rate window', async () => {
    const b = new ScriptedBackend('a', ['count_tokens'], { answer: async () => ({ body: { input_tokens: 7 } }) });
    const router = new LLMRouter({ backends: [{ backend: b, tokensPerMinute: 3_000 }], retries: { maxAttempts: 1 } });
    for (let i = 0; i < 10; i++) await router.forwardUncharged(request({ api: 'count_tokens', threadId: undefined, inputTokens: 1_000 }));
    expect(b.calls).toHaveLength(10);
  });

  it('forwardUncharged touches no budget and records no event', async () => {
    const b = new ScriptedBackend('a', ['count_tokens'], { answer: async () => ({ body: { input_tokens: 7 } }) });
    const { router, ledger, recorded } = setup([b]);
    expect((await router.forwardUncharged(request({ api: 'count_tokens' }))).body).toEqual({ input_tokens: 7 });
    expect(await ledger.usage('t')).toBeUndefined();
    expect(recorded).toHaveLength(0);
  });
});

describe('router.forwardStream', () => {
  it('yields the events as sent, holds the usage chunk and the end marker back, then charges the reported usage', async () => {
    const b = new ScriptedBackend('a', ['chat'], { events: () => events(chatEvents()) });
    const { router, ledger } = setup([b]);
    const { chunks, error } = await drain(router.forwardStream(request()));
    expect(error).toBeUndefined();
    expect(chunks.slice(0, 2).map((c) => (c as ForwardEvent).text)).toEqual(['Hello', ' world']);
    const end = chunks[2] as Extract<RouterForwardChunk, { type: 'usage' }>;
    expect(end.type).toBe('usage');
    expect(end.tail.map((e) => e.data)).toEqual(['{"choices":[],"usage":{}}', '[DONE]']);
    expect(end.usage).toEqual(USAGE);
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 15, reservedTokens: 0 });
  });

  it('fails over when the upstream reports an error in its first event, not after an event went out', async () => {
    const early = new ScriptedBackend('early', ['chat'], { events: () => events([{ data: '{"error":{"type":"overloaded_error"}}', error: 'Overloaded' }]) });
    const late = new ScriptedBackend('late', ['chat'], { events: () => events(chatEvents().slice(0, 1), failing(502)) });
    const fine = new ScriptedBackend('fine', ['chat'], { events: () => events(chatEvents()) });
    const first = setup([early, fine]);
    expect((await drain(first.router.forwardStream(request()))).error).toBeUndefined();
    expect(fine.calls).toHaveLength(1);
    const second = setup([late, fine]);
    const broken = await drain(second.router.forwardStream(request()));
    expect(broken.error).toBeInstanceOf(ProviderError);
    expect(fine.calls).toHaveLength(1); // no failover mid-answer
    // charged the prompt estimate plus the estimate of what was delivered ("Hello"): never nothing, not the reservation
    const charged = (await second.ledger.usage('t'))!;
    expect(charged.reservedTokens).toBe(0);
    expect(charged.totalTokens).toBeGreaterThan(10);
    expect(charged.totalTokens).toBeLessThan(30);
  });

  it('does not fail over, nor hold a backend to account, for an in-band error about the request itself', async () => {
    const refusing = new ScriptedBackend('refusing', ['responses'], { events: () => events([{ event: 'error', data: '{"type":"error","code":"invalid_prompt"}', error: 'invalid prompt' }]) });
    const fine = new ScriptedBackend('fine', ['responses'], { events: () => events(chatEvents()) });
    const { router, ledger } = setup([refusing, fine]);
    const { error } = await drain(router.forwardStream(request({ api: 'responses' })));
    expect(error).toMatchObject({ isRetryable: false });
    expect(fine.calls).toHaveLength(0);
    expect(router.isCoolingDown(refusing)).toBe(false);
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 0, reservedTokens: 0 });
  });

  it('cuts an upstream that goes on sending after its usage chunk', async () => {
    async function* chatter(): AsyncGenerator<ForwardEvent> {
      yield { data: '{}', text: 'Hi' };
      yield { data: '{"choices":[]}', usage: USAGE, usageOnly: true };
      for (;;) yield { data: '' };
    }
    const b = new ScriptedBackend('a', ['chat'], { events: chatter });
    const { router, ledger } = setup([b]);
    const { error } = await drain(router.forwardStream(request()));
    expect(error).toMatchObject({ code: 'STREAM_PROTOCOL' });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 30, reservedTokens: 0 });
  });

  it('passes an error the upstream reports mid-answer on in the tail and charges what was delivered', async () => {
    const b = new ScriptedBackend('a', ['messages'], {
      events: () => events([{ event: 'content_block_delta', data: '{}', text: 'partial answer' }, { event: 'error', data: '{"type":"error"}', error: 'overloaded' }]),
    });
    const { router, ledger } = setup([b]);
    const { chunks } = await drain(router.forwardStream(request({ api: 'messages' })));
    const end = chunks.at(-1) as Extract<RouterForwardChunk, { type: 'usage' }>;
    expect(end.tail.map((e) => e.event)).toEqual(['error']);
    expect(end.usageEstimated).toBe(true);
    expect((await ledger.usage('t'))!.totalTokens).toBeGreaterThan(10);
  });

  it('cuts a stream past its output cap and charges its reservation', async () => {
    async function* endless(): AsyncGenerator<ForwardEvent> {
      for (;;) yield { data: '{}', text: ' spam' };
    }
    const b = new ScriptedBackend('a', ['chat'], { events: endless });
    const { router, ledger } = setup([b]);
    const { error } = await drain(router.forwardStream(request({ maxOutputTokens: 5 })));
    expect(error).toMatchObject({ code: 'OUTPUT_CAP_EXCEEDED' });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 15, reservedTokens: 0 });
  });

  it('charges what was delivered when the consumer stops reading', async () => {
    const b = new ScriptedBackend('a', ['chat'], { events: () => events(chatEvents()) });
    const { router, ledger, recorded } = setup([b]);
    for await (const chunk of router.forwardStream(request())) {
      expect((chunk as ForwardEvent).text).toBe('Hello');
      break;
    }
    const charged = (await ledger.usage('t'))!;
    expect(charged.reservedTokens).toBe(0);
    expect(charged.totalTokens).toBeGreaterThan(10);
    expect(charged.totalTokens).toBeLessThan(30);
    expect(recorded).toHaveLength(1);
  });
});
