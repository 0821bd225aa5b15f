/**
 * The AI SDK middleware and the LangChain handler emit the same GenAI telemetry as the router: a CLIENT
 * span `chat {model}` per call with the usage and cost of its event, a refusal marked ERROR with its code
 * and counted, all through a real OpenTelemetry SDK (in-memory exporters) and real clients against the
 * fake OpenAI server.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { generateText, wrapLanguageModel } from 'ai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { tokenwardenBudget } from '../../src/integrations/ai-sdk/index.js';
import { TokenwardenCallbackHandler } from '../../src/integrations/langchain/index.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { DEFAULT_OPENAI_USAGE, startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { install, uninstall, type OtelSdk } from './otel-sdk.js';

const MODEL = 'gpt-4o-mini';
let srv: FakeServer<OpenAIScenario>;
let sdk: OtelSdk;
let tracker: UsageTracker;
let events: UsageEvent[];

beforeEach(async () => {
  srv = await startFakeOpenAIServer();
  sdk = install();
  tracker = new UsageTracker();
  events = [];
  tracker.subscribe((e) => events.push(e));
});
afterEach(async () => {
  uninstall();
  await srv.close();
});

function expectChargedSpan(): void {
  const spans = sdk.spansNamed(`chat ${MODEL}`).filter((s) => s.kind === SpanKind.CLIENT);
  expect(spans).toHaveLength(1);
  const a = spans[0]!.attributes;
  expect(a['gen_ai.operation.name']).toBe('chat');
  expect(a['gen_ai.request.model']).toBe(MODEL);
  expect(a['gen_ai.provider.name']).toBe('openai');
  expect(a['gen_ai.conversation.id']).toBe('t1');
  expect(a['gen_ai.usage.input_tokens']).toBe(DEFAULT_OPENAI_USAGE.prompt_tokens);
  expect(a['gen_ai.usage.output_tokens']).toBe(DEFAULT_OPENAI_USAGE.completion_tokens);
  expect(events).toHaveLength(1);
  expect(a['tokenwarden.cost_usd']).toBe(events[0]!.estimatedCost);
  expect(spans[0]!.status.code).not.toBe(SpanStatusCode.ERROR);
}

async function expectRefusedSpan(): Promise<void> {
  const spans = sdk.spansNamed(`chat ${MODEL}`);
  expect(spans).toHaveLength(1);
  expect(spans[0]!.status.code).toBe(SpanStatusCode.ERROR);
  expect(spans[0]!.attributes['error.type']).toBe('BUDGET_EXHAUSTED');
  const refusals = (await sdk.collect()).get('tokenwarden.budget.refusals');
  const total = refusals?.dataPoints.reduce((n, p) => n + (p.value as number), 0);
  expect(total).toBe(1);
  expect(srv.requests).toHaveLength(0);
}

describe('AI SDK middleware telemetry', () => {
  const model = (ledger: MemoryBudgetLedger) =>
    wrapLanguageModel({
      model: createOpenAI({ baseURL: srv.url, apiKey: 'test-key' }).chat(MODEL),
      middleware: tokenwardenBudget({ ledger, tracker, threadId: 't1' }),
    });

  it('a generateText call is one chat span with its usage and cost', async () => {
    await generateText({ model: model(new MemoryBudgetLedger()), prompt: 'Hello', maxOutputTokens: 50 });
    expectChargedSpan();
  });

  it('a refused call is an ERROR span with the refusal code, counted, and no provider request', async () => {
    const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 10 });
    await expect(generateText({ model: model(ledger), prompt: 'Hello', maxOutputTokens: 50, maxRetries: 0 })).rejects.toThrow(/budget exhausted/);
    await expectRefusedSpan();
  });
});

describe('LangChain handler telemetry', () => {
  const chat = (ledger: MemoryBudgetLedger) =>
    new ChatOpenAI({
      model: MODEL, apiKey: 'test', maxTokens: 50, maxRetries: 0, configuration: { baseURL: srv.url },
      callbacks: [new TokenwardenCallbackHandler({ ledger, tracker, threadId: 't1' })],
    });

  it('an invoke is one chat span with its usage and cost', async () => {
    await chat(new MemoryBudgetLedger()).invoke('Hello');
    expectChargedSpan();
  });

  it('a refused invoke is an ERROR span with the refusal code, counted, and no provider request', async () => {
    await expect(chat(new MemoryBudgetLedger({ maxTokensPerThread: 10 })).invoke('Hello')).rejects.toThrow(/budget exhausted/);
    await expectRefusedSpan();
  });
});
