/**
 * Without an OpenTelemetry SDK the telemetry is inert (issue 15): no span is made, nothing is recorded, nothing
 * throws, and calls behave as before. An SDK installed later is picked up, and one removed is let go (the
 * cached tracer and instruments follow the global providers).
 */
import { context, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { BudgetExhaustedError } from '../../src/core/errors.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter } from '../../src/router/router.js';
import { startAgentStepSpan } from '../../src/telemetry/agent-span.js';
import { genAiTelemetryEnabled, INERT_GENAI_CALL, recordGenAiCall, startGenAiSpan } from '../../src/telemetry/genai-call.js';
import { startServerSpan } from '../../src/telemetry/server-span.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { install, uninstall } from './otel-sdk.js';

const HELLO = [{ role: 'user' as const, content: 'Hello there' }];

let upstream: FakeServer<OpenAIScenario>;
let router: LLMRouter;
let ledger: MemoryBudgetLedger;
beforeEach(async () => {
  uninstall();
  upstream = await startFakeOpenAIServer();
  ledger = new MemoryBudgetLedger({ maxTokensPerThread: 10_000 });
  router = new LLMRouter({ backends: [new OpenAICompatibleBackend({ name: 'u', baseUrl: upstream.url, models: '*' })], ledger, tracker: new UsageTracker() });
});
afterEach(async () => {
  uninstall();
  await upstream.close();
});

describe('no SDK installed', () => {
  it('every helper is inert and nothing throws', () => {
    expect(genAiTelemetryEnabled()).toBe(false);
    const handle = startGenAiSpan({ operation: 'chat', requestModel: 'm', threadId: 't' });
    expect(handle).toBe(INERT_GENAI_CALL);
    expect(handle.span).toBeUndefined();
    handle.charged({ usage: { inputTokens: 1, outputTokens: 2 }, costUsd: 1 });
    handle.failed(new BudgetExhaustedError({ threadId: 't', used: 1, maxTokens: 1, requested: 5 }));
    handle.end();
    expect(handle.run(() => 42)).toBe(42);
    expect(() => recordGenAiCall({ operation: 'chat', requestModel: 'm' }, { charge: { usage: { inputTokens: 1, outputTokens: 1 } } })).not.toThrow();
    expect(startServerSpan('GET', '/x', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }).run(() => 'ok')).toBe('ok');
    expect(startAgentStepSpan({ agentName: 'a', threadId: 't', from: 'external', kind: 'request', step: 1 }).run(() => 'ok')).toBe('ok');
  });

  it('router calls, streams and refusals work as before and no span reaches an exporter that is not registered', async () => {
    const exporter = new InMemorySpanExporter();
    const unregistered = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const res = await router.complete({ model: 'gpt-4o-mini', messages: HELLO, threadId: 't1' });
    expect(res.usage.totalTokens).toBe(20);
    let last: unknown;
    for await (const chunk of router.stream({ model: 'gpt-4o-mini', messages: HELLO, threadId: 't1' })) last = chunk;
    expect(last).toMatchObject({ type: 'usage' });
    await ledger.setBudget('poor', 2);
    await expect(router.complete({ model: 'gpt-4o-mini', messages: HELLO, threadId: 'poor' })).rejects.toBeInstanceOf(BudgetExhaustedError);
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(trace.getSpan(context.active())).toBeUndefined();
    await unregistered.shutdown();
  });

  it('an SDK installed later is used, and one removed is let go', async () => {
    await router.complete({ model: 'gpt-4o-mini', messages: HELLO });
    const sdk = install();
    expect(genAiTelemetryEnabled()).toBe(true);
    await router.complete({ model: 'gpt-4o-mini', messages: HELLO });
    expect(sdk.spans().map((s) => s.name)).toEqual(['chat gpt-4o-mini']);
    uninstall();
    expect(genAiTelemetryEnabled()).toBe(false);
    await router.complete({ model: 'gpt-4o-mini', messages: HELLO });
    expect(sdk.spans()).toHaveLength(1);
  });
});
