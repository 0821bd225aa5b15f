/**
 * `tokenwarden/langchain` driven through the real `@langchain/openai` ChatOpenAI and
 * `@langchain/anthropic` ChatAnthropic against the fake OpenAI and Anthropic servers: a refusal fails the
 * call before any request, exact charges (thread ledger == usage_metadata == usage event), holds
 * released on errors, streams charged for what they delivered, a loop of calls on one thread.
 */
import { ChatAnthropic } from '@langchain/anthropic';
import { AIMessage, HumanMessage, SystemMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { BudgetExhaustedError, PolicyExhaustedError } from '../../src/core/errors.js';
import { TokenwardenCallbackHandler, type TokenwardenCallbackOptions } from '../../src/integrations/langchain/index.js';
import { estimateCostNanos } from '../../src/pricing/estimate.js';
import { estimateTextTokens, tokenProfileForModel } from '../../src/tokens/estimate.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { startFakeAnthropicServer, type AnthropicScenario } from '../support/fake-anthropic-server.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { RecordingGuard } from '../support/recording-guard.js';

let openaiSrv: FakeServer<OpenAIScenario>;
let anthropicSrv: FakeServer<AnthropicScenario>;
let ledger: MemoryBudgetLedger;
let tracker: UsageTracker;
let events: UsageEvent[];

beforeAll(() => {
  // LangChain logs a raising handler's error before rethrowing it: keep the test output readable.
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
});
afterAll(() => vi.restoreAllMocks());
beforeEach(async () => {
  openaiSrv = await startFakeOpenAIServer();
  anthropicSrv = await startFakeAnthropicServer();
  ledger = new MemoryBudgetLedger({ maxTokensPerThread: 100_000 });
  tracker = new UsageTracker();
  events = [];
  tracker.subscribe((e) => events.push(e));
});
afterEach(async () => {
  await Promise.all([openaiSrv.close(), anthropicSrv.close()]);
});

function handler(options: TokenwardenCallbackOptions = {}): TokenwardenCallbackHandler {
  return new TokenwardenCallbackHandler({ ledger, tracker, threadId: 't1', agentId: 'researcher', ...options });
}

function openai(budget: TokenwardenCallbackHandler, fields: Record<string, unknown> = {}): ChatOpenAI {
  return new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'test', maxTokens: 256, maxRetries: 0, configuration: { baseURL: openaiSrv.url }, callbacks: [budget], ...fields });
}

function anthropic(budget: TokenwardenCallbackHandler, fields: Record<string, unknown> = {}): ChatAnthropic {
  return new ChatAnthropic({ model: 'claude-3-5-haiku-latest', apiKey: 'test', maxTokens: 300, maxRetries: 0, anthropicApiUrl: anthropicSrv.url, callbacks: [budget], ...fields });
}

/**
 * Tokens of what a consumer read, but for the chunk it stopped at: LangChain calls handleLLMNewToken
 * after handing a chunk to the consumer, and never for the chunk the consumer stopped at.
 */
function reportedBefore(read: string): number {
  return estimateTextTokens(read.slice(0, -'more '.length), tokenProfileForModel('gpt-4o-mini'));
}

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
}

async function expectNoHolds(budget: TokenwardenCallbackHandler, threadId = 't1'): Promise<void> {
  expect((await ledger.usage(threadId))?.reservedTokens ?? 0).toBe(0);
  expect(budget.openRuns).toBe(0);
}

describe('ChatOpenAI', () => {
  it('charges invoke exactly to usage_metadata and records the event', async () => {
    openaiSrv.enqueue({ kind: 'ok', content: 'Hello!', usage: { prompt_tokens: 25, completion_tokens: 4, prompt_tokens_details: { cached_tokens: 16 }, completion_tokens_details: { reasoning_tokens: 2 } } });
    const budget = handler({ userId: 'ann' });
    const reply = await openai(budget).invoke([new SystemMessage('Be brief.'), new HumanMessage('Hi')]);
    expect(reply.content).toBe('Hello!');
    expect(await ledger.usage('t1')).toMatchObject({ promptTokens: 25, completionTokens: 4, reservedTokens: 0, requestCount: 1 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ threadId: 't1', agentId: 'researcher', provider: 'openai', model: 'gpt-4o-mini', promptTokens: 25, completionTokens: 4, cachedPromptTokens: 16, reasoningTokens: 2 });
    expect(events[0]!.costNanos).toBe(estimateCostNanos('gpt-4o-mini', { promptTokens: 25, completionTokens: 4, cachedPromptTokens: 16, reasoningTokens: 2 }));
    expect(events[0]!.metadata.user_id).toBe('ann');
    await expectNoHolds(budget);
  });

  it('refuses before the request is sent (raiseError + awaitHandlers), holding nothing', async () => {
    await ledger.setBudget('t1', 100);
    const budget = handler();
    await expect(openai(budget, { maxRetries: 2 }).invoke('Hi')).rejects.toBeInstanceOf(BudgetExhaustedError);
    expect(openaiSrv.requests).toHaveLength(0);
    expect(events).toHaveLength(0);
    await expectNoHolds(budget);
  });

  it('reserves the model maxTokens on top of the prompt estimate', async () => {
    const guard = new RecordingGuard();
    const budget = handler({ policies: guard, orgId: 'acme' });
    await openai(budget, { maxTokens: 77 }).invoke('Hi', { metadata: { thread_id: 't-lg', user_id: 'ann' } });
    expect(guard.reserves[0]!.estimate.completionTokens).toBe(77);
    expect(guard.reserves[0]!.subject).toEqual({ model: 'gpt-4o-mini', thread: 't-lg', agent: 'researcher', user: 'ann', org: 'acme', key: undefined });
    expect(guard.settles).toEqual([{ id: 'p1', actual: { nanos: events[0]!.costNanos, tokens: 20 } }]);
    expect(await ledger.usage('t-lg')).toMatchObject({ totalTokens: 20, reservedTokens: 0 });
  });

  it('releases the thread hold when a policy refuses, and the policy hold when the thread refuses', async () => {
    const guard = new RecordingGuard();
    guard.refusal = new PolicyExhaustedError({ policy: 'user-daily', scope: 'user', entity: 'ann', limit: 'tokens', max: 10, used: 10, reserved: 0, requested: 30, resetsAt: null });
    const budget = handler({ policies: guard });
    await expect(openai(budget).invoke('Hi')).rejects.toBeInstanceOf(PolicyExhaustedError);
    await expectNoHolds(budget);
    guard.refusal = undefined;
    await ledger.setBudget('t1', 10);
    await expect(openai(budget).invoke('Hi')).rejects.toBeInstanceOf(BudgetExhaustedError);
    expect(guard.endings()).toEqual(['released']);
    expect(openaiSrv.requests).toHaveLength(0);
  });

  it('releases the hold when the upstream fails after LangChain retries', async () => {
    openaiSrv.setDefault({ kind: 'status', status: 500, body: { error: { message: 'bad', type: 'server_error' } } });
    const budget = handler();
    await expect(openai(budget, { maxRetries: 1 }).invoke('Hi')).rejects.toThrow(/bad/);
    expect(openaiSrv.requests.length).toBeGreaterThanOrEqual(2);
    expect(events).toHaveLength(0);
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 0, reservedTokens: 0 });
    await expectNoHolds(budget);
  });

  it('charges a stream exactly to its usage chunk', async () => {
    openaiSrv.enqueue({ kind: 'ok', content: 'Streaming words here', usage: { prompt_tokens: 18, completion_tokens: 5 } });
    const budget = handler();
    let text = '';
    for await (const chunk of await openai(budget).stream('Hi')) text += String(chunk.content);
    expect(text).toBe('Streaming words here');
    expect(events[0]).toMatchObject({ promptTokens: 18, completionTokens: 5 });
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 23, reservedTokens: 0 });
  });

  it('charges a stream cut by the network for the tokens delivered', async () => {
    openaiSrv.enqueue({ kind: 'truncated-stream', chunks: 3 });
    const budget = handler();
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of await openai(budget).stream('Hi')) text += String(chunk.content);
      })(),
    ).rejects.toThrow();
    expect(text).toBe('part0 part1 part2 ');
    expect(events[0]!.completionTokens).toBe(estimateTextTokens(text, tokenProfileForModel('gpt-4o-mini')));
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: events[0]!.totalTokens, reservedTokens: 0 });
    await expectNoHolds(budget);
  });

  it('charges a stream aborted by the caller for the tokens delivered', async () => {
    openaiSrv.enqueue({ kind: 'endless-stream', word: 'more ', chunkDelayMs: 5 });
    const budget = handler();
    const abort = new AbortController();
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of await openai(budget).stream('Hi', { signal: abort.signal })) {
          text += String(chunk.content);
          if (text.length > 20) abort.abort();
        }
      })(),
    ).rejects.toThrow();
    await until(() => events.length > 0);
    expect(events).toHaveLength(1);
    expect(events[0]!.completionTokens).toBe(reportedBefore(text));
    await expectNoHolds(budget);
  });

  it('closes a stream its consumer stopped reading after abandonAfterMs, charging what it delivered', async () => {
    openaiSrv.enqueue({ kind: 'endless-stream', word: 'more ', chunkDelayMs: 5 });
    const budget = handler({ abandonAfterMs: 100 });
    let text = '';
    for await (const chunk of await openai(budget).stream('Hi')) {
      text += String(chunk.content);
      if (text.length > 20) break;
    }
    expect(budget.openRuns).toBe(1);
    await until(() => events.length > 0);
    expect(events).toHaveLength(1);
    expect(events[0]!.completionTokens).toBe(reportedBefore(text));
    await expectNoHolds(budget);
  });

  it('charges a non-streamed call that runs longer than abandonAfterMs when it ends (no abandonment without a stream)', async () => {
    openaiSrv.enqueue({ kind: 'ok', delayMs: 300, usage: { prompt_tokens: 21, completion_tokens: 9 } });
    const budget = handler({ abandonAfterMs: 50 });
    await openai(budget).invoke('Hi');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ promptTokens: 21, completionTokens: 9 });
    await expectNoHolds(budget);
  });

  it('meters a LangGraph-style loop of calls on one thread, with tool calls and results', async () => {
    openaiSrv.enqueue(
      { kind: 'ok', content: null, toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'search', arguments: '{"q":"oslo"}' } }], usage: { prompt_tokens: 40, completion_tokens: 12 } },
      { kind: 'ok', content: 'Oslo is in Norway.', usage: { prompt_tokens: 70, completion_tokens: 8 } },
    );
    const budget = handler();
    const model = openai(budget).bindTools([{ type: 'function', function: { name: 'search', description: 'Search', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }]);
    const history: BaseMessage[] = [new HumanMessage('Where is Oslo?')];
    const config = { metadata: { thread_id: 'graph-1' } };
    const first = await model.invoke(history, config);
    expect(first.tool_calls?.[0]?.name).toBe('search');
    history.push(first as AIMessage, new ToolMessage({ tool_call_id: 'call_1', content: 'Oslo, capital of Norway' }));
    const second = await model.invoke(history, config);
    expect(second.content).toBe('Oslo is in Norway.');
    expect(events.map((e) => [e.threadId, e.promptTokens, e.completionTokens])).toEqual([['graph-1', 40, 12], ['graph-1', 70, 8]]);
    expect(await ledger.usage('graph-1')).toMatchObject({ promptTokens: 110, completionTokens: 20, requestCount: 2, reservedTokens: 0 });
    await expectNoHolds(budget, 'graph-1');
  });

  it('holds and charges once when the handler is attached to the model and to the call (one hold per run id)', async () => {
    const budget = handler();
    await openai(budget).invoke('Hi', { callbacks: [budget] });
    expect(events).toHaveLength(1);
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 20, requestCount: 1, reservedTokens: 0 });
    await expectNoHolds(budget);
  });

  it('fails a whole batch when one prompt is refused, holding nothing for the others', async () => {
    await ledger.setBudget('t1', 600);
    const budget = handler();
    await expect(openai(budget, { maxTokens: 250 }).generate([[new HumanMessage('a')], [new HumanMessage('b')], [new HumanMessage('c')]])).rejects.toBeInstanceOf(BudgetExhaustedError);
    expect(openaiSrv.requests).toHaveLength(0);
    await expectNoHolds(budget);
  });
});

describe('options', () => {
  it('names a bad option', () => {
    expect(() => new TokenwardenCallbackHandler({ threadID: 't' } as never)).toThrow(/threadID: unknown TokenwardenCallbackHandler option/);
    expect(() => new TokenwardenCallbackHandler({ abandonAfterMs: 0 })).toThrow(/abandonAfterMs: must be an integer >= 1/);
    expect(() => new TokenwardenCallbackHandler({ ledger: {} as never })).toThrow(/ledger: must be a BudgetLedger/);
  });
});

describe('ChatAnthropic', () => {
  it('charges invoke exactly, cache reads and writes included', async () => {
    anthropicSrv.enqueue({ kind: 'ok', content: 'Bonjour', usage: { input_tokens: 10, output_tokens: 6, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 } });
    const budget = handler();
    const reply = await anthropic(budget).invoke('Say hello in French');
    expect(reply.content).toBe('Bonjour');
    expect(events[0]).toMatchObject({ provider: 'anthropic', promptTokens: 130, completionTokens: 6, cachedPromptTokens: 100, cacheWriteTokens: 20 });
    expect(await ledger.usage('t1')).toMatchObject({ promptTokens: 130, completionTokens: 6, reservedTokens: 0 });
    await expectNoHolds(budget);
  });

  it('refuses before any request', async () => {
    await ledger.setBudget('t1', 200);
    const budget = handler();
    await expect(anthropic(budget).invoke('Hi')).rejects.toBeInstanceOf(BudgetExhaustedError);
    expect(anthropicSrv.requests).toHaveLength(0);
    await expectNoHolds(budget);
  });

  it('charges a stream exactly to its usage', async () => {
    anthropicSrv.enqueue({ kind: 'ok', content: 'A streamed answer', usage: { input_tokens: 14, output_tokens: 5 } });
    const budget = handler();
    let text = '';
    for await (const chunk of await anthropic(budget).stream('Hi')) text += typeof chunk.content === 'string' ? chunk.content : '';
    expect(text).toBe('A streamed answer');
    // ChatAnthropic's usage_metadata adds message_start's output_tokens (1 here) to message_delta's (5):
    // the handler charges what the model reports.
    expect(events[0]).toMatchObject({ promptTokens: 14, completionTokens: 6 });
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 20, reservedTokens: 0 });
  });

  it('charges a stream that fails mid-way for the tokens delivered', async () => {
    anthropicSrv.enqueue({ kind: 'stream-error', chunks: 2 });
    const budget = handler();
    await expect(
      (async () => {
        for await (const chunk of await anthropic(budget).stream('Hi')) void chunk;
      })(),
    ).rejects.toThrow(/Overloaded/);
    expect(events).toHaveLength(1);
    expect(events[0]!.completionTokens).toBe(estimateTextTokens('part0 part1 ', tokenProfileForModel('claude-3-5-haiku-latest')));
    await expectNoHolds(budget);
  });

  it('meters a loop of calls on one thread until the budget refuses the next', async () => {
    anthropicSrv.setDefault({ kind: 'ok', content: 'step', usage: { input_tokens: 200, output_tokens: 50 } });
    await ledger.setBudget('loop', 1_000);
    const budget = handler({ threadId: 'loop' });
    const model = anthropic(budget, { maxTokens: 100 });
    let calls = 0;
    const err = await (async () => {
      for (;;) {
        await model.invoke('next step');
        calls++;
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExhaustedError);
    expect(anthropicSrv.requests).toHaveLength(calls);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(await ledger.usage('loop')).toMatchObject({ totalTokens: 250 * calls, requestCount: calls, reservedTokens: 0 });
  });
});
