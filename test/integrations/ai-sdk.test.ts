/**
 * `tokenwarden/ai-sdk` driven through the real `ai` package (generateText, streamText, generateObject, a
 * tool loop) and the real `@ai-sdk/openai` provider against the fake OpenAI server: refusals with no
 * provider request and no retry, exact charges (thread ledger == reported usage == usage event), holds
 * released on every error path, cut and aborted streams charged for what they delivered.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { generateObject, generateText, jsonSchema, stepCountIs, streamText, tool, wrapLanguageModel } from 'ai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import type { BudgetLedger } from '../../src/budget/types.js';
import { BudgetExhaustedError, PolicyExhaustedError } from '../../src/core/errors.js';
import { tokenwardenBudget, type TokenwardenBudgetOptions } from '../../src/integrations/ai-sdk/index.js';
import { estimateCostNanos } from '../../src/pricing/estimate.js';
import { estimateTextTokens, tokenProfileForModel } from '../../src/tokens/estimate.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { RecordingGuard } from '../support/recording-guard.js';

const MODEL = 'gpt-4o-mini';

let srv: FakeServer<OpenAIScenario>;
let ledger: MemoryBudgetLedger;
let tracker: UsageTracker;
let events: UsageEvent[];
let reserves: number;

beforeEach(async () => {
  srv = await startFakeOpenAIServer();
  ledger = new MemoryBudgetLedger({ maxTokensPerThread: 100_000 });
  tracker = new UsageTracker();
  events = [];
  tracker.subscribe((e) => events.push(e));
  reserves = 0;
});
afterEach(async () => {
  await srv.close();
});

/** The ledger, counting reserve calls (a retried refusal would reserve again). */
function countingLedger(): BudgetLedger {
  return new Proxy(ledger, {
    get(target, key, receiver) {
      if (key === 'reserve') return (...args: Parameters<BudgetLedger['reserve']>) => (reserves++, target.reserve(...args));
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

function model(options: TokenwardenBudgetOptions = {}) {
  const openai = createOpenAI({ baseURL: srv.url, apiKey: 'test-key' });
  return wrapLanguageModel({ model: openai.chat(MODEL), middleware: tokenwardenBudget({ ledger: countingLedger(), tracker, threadId: 't1', agentId: 'writer', ...options }) });
}

function tokensOf(text: string): number {
  return estimateTextTokens(text, tokenProfileForModel(MODEL));
}

async function expectNoHolds(threadId = 't1'): Promise<void> {
  const usage = await ledger.usage(threadId);
  expect(usage?.reservedTokens ?? 0).toBe(0);
}

/** Lets the middleware's charge (taken after the provider's last part) land. */
async function settled(count: number): Promise<void> {
  for (let i = 0; i < 200 && events.length < count; i++) await new Promise((r) => setTimeout(r, 5));
}

describe('generateText', () => {
  it('charges the thread, records the event and settles exactly to the reported usage', async () => {
    srv.enqueue({ kind: 'ok', content: 'Hi there', usage: { prompt_tokens: 21, completion_tokens: 7 } });
    const result = await generateText({ model: model({ userId: 'ann', orgId: 'acme', metadata: { app: 'docs' } }), prompt: 'Say hi' });
    expect(result.text).toBe('Hi there');
    const usage = await ledger.usage('t1');
    expect(usage).toMatchObject({ promptTokens: 21, completionTokens: 7, totalTokens: 28, reservedTokens: 0, requestCount: 1 });
    expect(events).toHaveLength(1);
    const event = events[0]!;
    expect(event).toMatchObject({ threadId: 't1', agentId: 'writer', model: MODEL, provider: 'openai', promptTokens: 21, completionTokens: 7, totalTokens: 28 });
    expect(event.costNanos).toBe(estimateCostNanos(MODEL, { promptTokens: 21, completionTokens: 7 }));
    expect(event.costNanos).toBeGreaterThan(0);
    expect(event.metadata).toEqual({ app: 'docs', user_id: 'ann', org_id: 'acme' });
    expect(event.latencyMs).toBeGreaterThan(0);
    // A call without a cap is sent the default cap: the hold bounds what it can cost.
    expect((srv.requests[0]!.body as { max_tokens?: number }).max_tokens).toBe(4096);
  });

  it('maps cache reads and reasoning tokens from the provider usage', async () => {
    const usage = { prompt_tokens: 40, completion_tokens: 12, prompt_tokens_details: { cached_tokens: 32 }, completion_tokens_details: { reasoning_tokens: 5 } };
    srv.enqueue({ kind: 'ok', content: 'ok', usage });
    await generateText({ model: model(), prompt: 'Think', maxOutputTokens: 100 });
    expect(events[0]).toMatchObject({ promptTokens: 40, completionTokens: 12, cachedPromptTokens: 32, reasoningTokens: 5 });
    expect((srv.requests[0]!.body as { max_tokens?: number }).max_tokens).toBe(100);
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 52, reservedTokens: 0 });
  });

  it('charges the estimate of what was delivered when the provider reports no usage (never zero)', async () => {
    const content = 'An answer without any usage figures attached to it.';
    srv.enqueue({ kind: 'ok', content, usage: null });
    await generateText({ model: model(), prompt: 'Answer' });
    const event = events[0]!;
    expect(event.completionTokens).toBe(tokensOf(content));
    expect(event.promptTokens).toBeGreaterThan(0);
    expect(await ledger.usage('t1')).toMatchObject({ promptTokens: event.promptTokens, completionTokens: event.completionTokens, reservedTokens: 0 });
  });

  it('refuses a call the thread cannot afford: no request, no retry, nothing held', async () => {
    await ledger.setBudget('t1', 100);
    const err = await generateText({ model: model(), prompt: 'Say hi', maxRetries: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExhaustedError);
    expect(srv.requests).toHaveLength(0);
    expect(reserves).toBe(1);
    expect(events).toHaveLength(0);
    await expectNoHolds();
  });

  it('releases the hold when the upstream fails after the AI SDK retries', async () => {
    srv.setDefault({ kind: 'status', status: 500, headers: { 'retry-after-ms': '1' }, body: { error: { message: 'boom', type: 'server_error' } } });
    await expect(generateText({ model: model(), prompt: 'Say hi', maxRetries: 2 })).rejects.toThrow(/boom/);
    expect(srv.requests).toHaveLength(3);
    expect(reserves).toBe(3);
    expect(events).toHaveLength(0);
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 0, reservedTokens: 0, requestCount: 0 });
  });

  it('takes the thread per call from providerOptions.tokenwarden, then from x-thread-id', async () => {
    const wrapped = model();
    await generateText({ model: wrapped, prompt: 'a', providerOptions: { tokenwarden: { threadId: 't-own', userId: 'bob', metadata: { step: 3 } } } });
    await generateText({ model: wrapped, prompt: 'b', headers: { 'x-thread-id': 't-header', 'x-agent-id': 'critic' } });
    expect(events.map((e) => [e.threadId, e.agentId, e.metadata.user_id, e.metadata.step])).toEqual([
      ['t-own', 'writer', 'bob', 3],
      ['t-header', 'critic', undefined, undefined],
    ]);
    expect(await ledger.usage('t-own')).toMatchObject({ totalTokens: 20 });
    expect(await ledger.usage('t-header')).toMatchObject({ totalTokens: 20 });
    expect(await ledger.usage('t1')).toBeUndefined();
  });
});

describe('options', () => {
  it('names a bad option', () => {
    expect(() => tokenwardenBudget({ thread: 't' } as never)).toThrow(/thread: unknown tokenwardenBudget option/);
    expect(() => tokenwardenBudget({ maxOutputTokensDefault: 0 })).toThrow(/maxOutputTokensDefault: must be at least 1/);
    expect(() => tokenwardenBudget({ threadId: '' })).toThrow(/threadId: must be a non-empty string/);
  });
});

describe('policies', () => {
  it('reserves the policies with the thread, settles them to the event cost, and releases the thread when a policy refuses', async () => {
    const guard = new RecordingGuard();
    const wrapped = model({ policies: guard, userId: 'ann', orgId: 'acme', keyName: 'ci' });
    await generateText({ model: wrapped, prompt: 'Say hi', maxOutputTokens: 50 });
    expect(guard.reserves[0]!.subject).toEqual({ model: MODEL, thread: 't1', agent: 'writer', user: 'ann', org: 'acme', key: 'ci' });
    expect(guard.reserves[0]!.estimate.completionTokens).toBe(50);
    expect(guard.settles).toEqual([{ id: 'p1', actual: { nanos: events[0]!.costNanos, tokens: 20 } }]);

    guard.refusal = new PolicyExhaustedError({ policy: 'user-daily', scope: 'user', entity: 'ann', limit: 'usd', max: 5, used: 5, reserved: 0, requested: 0.01, resetsAt: null });
    await expect(generateText({ model: wrapped, prompt: 'again', maxRetries: 2 })).rejects.toBeInstanceOf(PolicyExhaustedError);
    expect(srv.requests).toHaveLength(1);
    expect(guard.reserves).toHaveLength(2);
    await expectNoHolds();
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 20, requestCount: 1 });
    expect(guard.endings()).toEqual(['settled']);
  });

  it('releases the policy hold when the thread refuses', async () => {
    const guard = new RecordingGuard();
    await ledger.setBudget('t1', 10);
    await expect(generateText({ model: model({ policies: guard }), prompt: 'Say hi' })).rejects.toBeInstanceOf(BudgetExhaustedError);
    expect(guard.endings()).toEqual(['released']);
    expect(srv.requests).toHaveLength(0);
  });
});

describe('streamText', () => {
  it('settles a whole stream to the usage of its finish part', async () => {
    srv.enqueue({ kind: 'ok', content: 'Streaming hello to you', usage: { prompt_tokens: 30, completion_tokens: 6 } });
    const result = streamText({ model: model(), prompt: 'Say hi' });
    let text = '';
    for await (const piece of result.textStream) text += piece;
    expect(text).toBe('Streaming hello to you');
    await settled(1);
    expect(events[0]).toMatchObject({ promptTokens: 30, completionTokens: 6 });
    expect(await ledger.usage('t1')).toMatchObject({ promptTokens: 30, completionTokens: 6, reservedTokens: 0 });
    expect((srv.requests[0]!.body as { stream_options?: unknown }).stream_options).toEqual({ include_usage: true });
  });

  it('charges a stream cut by the network for what it delivered', async () => {
    srv.enqueue({ kind: 'truncated-stream', chunks: 3 });
    const result = streamText({ model: model(), prompt: 'Say hi', onError: () => undefined });
    let text = '';
    await expect(
      (async () => {
        for await (const piece of result.textStream) text += piece;
      })(),
    ).rejects.toThrow(/successful response/);
    expect(text).toBe('part0 part1 part2 ');
    await settled(1);
    expect(events[0]!.completionTokens).toBe(tokensOf('part0 part1 part2 '));
    expect(events[0]!.promptTokens).toBeGreaterThan(0);
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: events[0]!.totalTokens, reservedTokens: 0 });
  });

  it('charges a stream the consumer aborts mid-way for what was delivered', async () => {
    srv.enqueue({ kind: 'endless-stream', word: 'more ', chunkDelayMs: 5 });
    const abort = new AbortController();
    const result = streamText({ model: model(), prompt: 'Go on', abortSignal: abort.signal, onError: () => undefined });
    let seen = '';
    for await (const piece of result.textStream) {
      seen += piece;
      if (seen.length >= 25) abort.abort();
    }
    await settled(1);
    const event = events[0]!;
    expect(event.completionTokens).toBeGreaterThanOrEqual(tokensOf(seen));
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: event.totalTokens, reservedTokens: 0 });
  });

  it('charges in full a stream whose consumer stops reading textStream (streamText reads the model to the end)', async () => {
    srv.enqueue({ kind: 'endless-stream', word: 'more ', chunkDelayMs: 5, maxChunks: 40, usage: { prompt_tokens: 9, completion_tokens: 40 } });
    const result = streamText({ model: model(), prompt: 'Go on' });
    for await (const piece of result.textStream) {
      if (piece.length > 0) break;
    }
    await settled(1);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ promptTokens: 9, completionTokens: 40 });
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 49, reservedTokens: 0 });
  });

  it('charges a model stream its reader cancels mid-way for what it delivered', async () => {
    srv.enqueue({ kind: 'endless-stream', word: 'more ', chunkDelayMs: 5 });
    const wrapped = model();
    const { stream } = await wrapped.doStream({ prompt: [{ role: 'user', content: [{ type: 'text', text: 'Go on' }] }] });
    const reader = stream.getReader();
    let delivered = '';
    while (delivered.length < 20) {
      const { value } = await reader.read();
      if (value?.type === 'text-delta') delivered += value.delta;
    }
    await reader.cancel();
    expect(events).toHaveLength(1);
    expect(events[0]!.completionTokens).toBe(tokensOf(delivered));
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: events[0]!.totalTokens, reservedTokens: 0 });
  });

  it('releases the hold of a stream that fails before any output', async () => {
    srv.setDefault({ kind: 'status', status: 500, headers: { 'retry-after-ms': '1' }, body: { error: { message: 'down', type: 'server_error' } } });
    const errors: unknown[] = [];
    const result = streamText({ model: model(), prompt: 'Say hi', maxRetries: 1, onError: ({ error }) => void errors.push(error) });
    await result.consumeStream();
    expect(errors).toHaveLength(1);
    expect(srv.requests).toHaveLength(2);
    expect(events).toHaveLength(0);
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 0, reservedTokens: 0 });
  });

  it('refuses a stream before any request', async () => {
    await ledger.setBudget('t1', 100);
    const errors: unknown[] = [];
    const result = streamText({ model: model(), prompt: 'Say hi', onError: ({ error }) => void errors.push(error) });
    await result.consumeStream();
    expect(errors[0]).toBeInstanceOf(BudgetExhaustedError);
    expect(srv.requests).toHaveLength(0);
    await expectNoHolds();
  });
});

describe('generateObject and tool loops', () => {
  it('charges generateObject exactly, its schema counted in the estimate', async () => {
    srv.enqueue({ kind: 'ok', content: '{"name":"Ada","age":36}', usage: { prompt_tokens: 50, completion_tokens: 11 } });
    const guard = new RecordingGuard();
    const schema = jsonSchema<{ name: string; age: number }>({ type: 'object', properties: { name: { type: 'string' }, age: { type: 'number' } }, required: ['name', 'age'], additionalProperties: false });
    const { object } = await generateObject({ model: model({ policies: guard }), schema, prompt: 'A person' });
    expect(object).toEqual({ name: 'Ada', age: 36 });
    expect(events[0]).toMatchObject({ promptTokens: 50, completionTokens: 11 });
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 61, reservedTokens: 0 });
    const plain = new RecordingGuard();
    await generateText({ model: model({ policies: plain }), prompt: 'A person' });
    expect(guard.reserves[0]!.estimate.promptTokens).toBeGreaterThan(plain.reserves[0]!.estimate.promptTokens + 20);
  });

  it('meters every step of a tool loop on one thread', async () => {
    srv.enqueue(
      { kind: 'ok', content: null, toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }], usage: { prompt_tokens: 60, completion_tokens: 15 } },
      { kind: 'ok', content: 'It is 3 degrees in Oslo.', usage: { prompt_tokens: 90, completion_tokens: 10 } },
    );
    const weather = tool({
      description: 'Weather of a city',
      inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
      execute: async ({ city }) => ({ city, celsius: 3 }),
    });
    const result = await generateText({ model: model(), prompt: 'Weather in Oslo?', tools: { weather }, stopWhen: stepCountIs(3) });
    expect(result.text).toBe('It is 3 degrees in Oslo.');
    expect(result.steps).toHaveLength(2);
    expect(events.map((e) => [e.promptTokens, e.completionTokens])).toEqual([[60, 15], [90, 10]]);
    expect(await ledger.usage('t1')).toMatchObject({ promptTokens: 150, completionTokens: 25, requestCount: 2, reservedTokens: 0 });
  });

  it('stops a tool loop when the thread runs out, after the steps it could afford', async () => {
    srv.setDefault({ kind: 'ok', content: null, toolCalls: [{ id: 'c', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }], usage: { prompt_tokens: 600, completion_tokens: 15 } });
    const weather = tool({
      inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
      execute: async () => ({ celsius: 3 }),
    });
    await ledger.setBudget('t1', 1_500);
    const run = generateText({ model: model(), prompt: 'Weather?', tools: { weather }, maxOutputTokens: 200, stopWhen: stepCountIs(10) });
    await expect(run).rejects.toBeInstanceOf(BudgetExhaustedError);
    expect(srv.requests).toHaveLength(events.length);
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 615 * events.length, reservedTokens: 0 });
  });
});
