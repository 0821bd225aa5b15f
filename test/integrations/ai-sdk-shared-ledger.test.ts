/**
 * The AI SDK middleware over a shared ledger (real Redis): two processes' worth of middleware (two
 * ledgers on one Redis) racing on one thread never jointly overspend it; streamed tool loops are charged
 * step by step.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool, wrapLanguageModel } from 'ai';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { BudgetExhaustedError } from '../../src/core/errors.js';
import { tokenwardenBudget } from '../../src/integrations/ai-sdk/index.js';
import { RedisBudgetLedger } from '../../src/stores/ledgers/redis/index.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { describeRedis, REDIS_URL } from '../support/services.js';

let srv: FakeServer<OpenAIScenario>;
let ledgers: RedisBudgetLedger[];
let tracker: UsageTracker;
let events: UsageEvent[];

beforeEach(async () => {
  srv = await startFakeOpenAIServer();
  tracker = new UsageTracker();
  events = [];
  tracker.subscribe((e) => events.push(e));
  const keyPrefix = `tw-test:integ:${process.pid}:${Date.now()}:${Math.random().toString(36).slice(2)}:`;
  ledgers = [0, 1].map(() => new RedisBudgetLedger({ url: REDIS_URL, keyPrefix, maxTokensPerThread: 100_000 }));
});
afterEach(async () => {
  await Promise.all([srv.close(), ...ledgers.map((l) => l.close())]);
});

function model(ledger: RedisBudgetLedger) {
  const openai = createOpenAI({ baseURL: srv.url, apiKey: 'test-key' });
  return wrapLanguageModel({ model: openai.chat('gpt-4o-mini'), middleware: tokenwardenBudget({ ledger, tracker, threadId: 'shared' }) });
}

describeRedis('the AI SDK middleware on a Redis ledger', () => {
  it('lets two instances racing on one thread take only what it can afford', async () => {
    srv.setDefault({ kind: 'ok', content: 'ok', delayMs: 50, usage: { prompt_tokens: 12, completion_tokens: 8 } });
    await ledgers[0]!.setBudget('shared', 2_100); // two holds of about 1,010 tokens fit, a third does not
    const calls = Array.from({ length: 6 }, (_, i) => generateText({ model: model(ledgers[i % 2]!), prompt: 'Say ok', maxOutputTokens: 1_000, maxRetries: 2 }));
    const outcomes = await Promise.allSettled(calls);
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(refused).toHaveLength(4);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(BudgetExhaustedError);
    expect(srv.requests).toHaveLength(2);
    expect(events).toHaveLength(2);
    expect(await ledgers[1]!.usage('shared')).toMatchObject({ totalTokens: 40, requestCount: 2, reservedTokens: 0 });
  });

  it('charges each step of a streamed tool loop exactly', async () => {
    srv.enqueue(
      { kind: 'ok', content: '', toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }], usage: { prompt_tokens: 60, completion_tokens: 15 } },
      { kind: 'ok', content: 'It is 3 degrees in Oslo.', usage: { prompt_tokens: 90, completion_tokens: 10 } },
    );
    const weather = tool({
      inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
      execute: async ({ city }) => ({ city, celsius: 3 }),
    });
    const result = streamText({ model: model(ledgers[0]!), prompt: 'Weather in Oslo?', tools: { weather }, stopWhen: stepCountIs(3) });
    expect(await result.text).toBe('It is 3 degrees in Oslo.');
    for (let i = 0; i < 100 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(events.map((e) => [e.promptTokens, e.completionTokens])).toEqual([[60, 15], [90, 10]]);
    expect(await ledgers[0]!.usage('shared')).toMatchObject({ promptTokens: 150, completionTokens: 25, requestCount: 2, reservedTokens: 0 });
  });
});
