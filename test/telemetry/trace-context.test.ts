/**
 * Trace context through tokenwarden (issue 15): the gateway's SERVER span continues an incoming W3C
 * `traceparent` and the router's call span is its child; the pump's `invoke_agent` step span is the parent of
 * the calls its handler makes. A real SDK (in-memory exporter, AsyncLocalStorage context manager, W3C
 * propagator) in front of a real gateway and real HTTP upstreams.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { MessagePump } from '../../src/pump/pump.js';
import { LLMRouter } from '../../src/router/router.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { call, HELLO, startTestGateway, type TestGateway } from '../gateway/harness.js';
import { install, uninstall, until, type OtelSdk } from './otel-sdk.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN_ID = '00f067aa0ba902b7';

let sdk: OtelSdk;
beforeEach(() => {
  sdk = install();
});
afterEach(() => uninstall());

/** The chain of parents of `span` among `spans`, nearest first (span ids). */
function parentChain(span: ReadableSpan, spans: ReadableSpan[]): string[] {
  const out: string[] = [];
  let parent = span.parentSpanContext?.spanId;
  while (parent !== undefined) {
    out.push(parent);
    parent = spans.find((s) => s.spanContext().spanId === parent)?.parentSpanContext?.spanId;
  }
  return out;
}

describe('the gateway', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway();
  });
  afterEach(async () => {
    await gw.close();
  });

  it('continues an incoming traceparent: SERVER span, then the router call span as its child', async () => {
    const res = await call(`${gw.url}/v1/chat/completions`, {
      headers: { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN_ID}-01`, 'x-thread-id': 'trace-1' },
      body: { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 40 },
    });
    expect(res.status).toBe(200);
    await until(() => sdk.spans().some((s) => s.kind === SpanKind.SERVER));
    const spans = sdk.spans();
    const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
    const client = spans.find((s) => s.name === 'chat gpt-4o-mini')!;
    expect(server.name).toBe('POST /v1/chat/completions');
    expect(server.spanContext().traceId).toBe(TRACE_ID);
    expect(server.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    expect(server.parentSpanContext?.isRemote).toBe(true);
    expect(server.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/v1/chat/completions', 'http.response.status_code': 200 });
    expect(client.kind).toBe(SpanKind.CLIENT);
    expect(client.spanContext().traceId).toBe(TRACE_ID);
    expect(parentChain(client, spans)).toEqual([server.spanContext().spanId, CLIENT_SPAN_ID]);
    expect(client.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.request.max_tokens': 40, 'tokenwarden.api': 'chat' });
    expect(client.attributes['gen_ai.conversation.id']).toEqual(expect.stringContaining('trace-1'));
  });

  it('a refused request: the call span is ERROR with the refusal code inside a 429 server span (not an error: 4xx)', async () => {
    await gw.ledger.setBudget('poor', 3);
    const res = await call(`${gw.url}/v1/chat/completions`, {
      headers: { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN_ID}-01`, 'x-thread-id': 'poor' },
      body: { model: 'gpt-4o-mini', messages: HELLO },
    });
    expect(res.status).toBe(429);
    await until(() => sdk.spans().some((s) => s.kind === SpanKind.SERVER));
    const server = sdk.spans().find((s) => s.kind === SpanKind.SERVER)!;
    const client = sdk.spansNamed('chat gpt-4o-mini')[0]!;
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(server.attributes['http.response.status_code']).toBe(429);
    expect(client.status.code).toBe(SpanStatusCode.ERROR);
    expect(client.attributes['error.type']).toBe('BUDGET_EXHAUSTED');
    expect(client.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
  });

  it('without a traceparent the server span starts a trace of its own', async () => {
    const res = await call(`${gw.url}/v1/models`);
    expect(res.status).toBe(200);
    await until(() => sdk.spans().length > 0);
    const [server] = sdk.spans();
    expect(server!.name).toBe('GET /v1/models');
    expect(server!.parentSpanContext).toBeUndefined();
    expect(server!.spanContext().traceId).not.toBe(TRACE_ID);
  });
});

describe('the pump', () => {
  let upstream: FakeServer<OpenAIScenario>;
  beforeEach(async () => {
    upstream = await startFakeOpenAIServer();
  });
  afterEach(async () => {
    await upstream.close();
  });

  it('each agent step is an invoke_agent span; the calls its handler makes are its children', async () => {
    const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 50_000 });
    const router = new LLMRouter({ backends: [new OpenAICompatibleBackend({ name: 'u', baseUrl: upstream.url, models: '*' })], ledger, tracker: new UsageTracker() });
    const pump = new MessagePump({ router, ledger });
    pump.register('asker', {
      schema: z.union([z.object({ q: z.string() }), z.string()]),
      peers: ['answerer'],
      handler: (payload, ctx) => (ctx.kind === 'response' ? { respond: payload } : { to: 'answerer', payload }),
    });
    pump.register('answerer', {
      schema: z.object({ q: z.string() }),
      handler: async ({ q }, ctx) => {
        const r = await ctx.complete({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: q }] });
        return { respond: r.content };
      },
    });
    const result = await pump.run('asker', { q: 'why?' });
    expect(result.status).toBe('completed');
    const spans = sdk.spans();
    const steps = spans.filter((s) => s.name.startsWith('invoke_agent '));
    expect(steps.map((s) => s.name)).toEqual(['invoke_agent asker', 'invoke_agent answerer', 'invoke_agent asker']);
    expect(steps.map((s) => s.attributes['tokenwarden.pump.step'])).toEqual([1, 2, 3]);
    expect(steps[1]!.kind).toBe(SpanKind.INTERNAL);
    expect(steps[1]!.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'answerer',
      'gen_ai.conversation.id': result.threadId,
      'tokenwarden.pump.from': 'asker',
      'tokenwarden.pump.kind': 'request',
    });
    const chat = sdk.spansNamed('chat gpt-4o-mini')[0]!;
    expect(chat.parentSpanContext?.spanId).toBe(steps[1]!.spanContext().spanId);
    expect(chat.attributes).toMatchObject({ 'gen_ai.conversation.id': result.threadId, 'tokenwarden.agent.id': 'answerer' });
  });

  it('a step whose handler throws ends its span ERROR', async () => {
    const pump = new MessagePump({});
    pump.register('broken', { schema: z.object({}), handler: () => { throw new Error('boom'); } });
    const result = await pump.run('broken', {});
    expect(result.status).toBe('failed');
    const [step] = sdk.spansNamed('invoke_agent broken');
    expect(step!.status.code).toBe(SpanStatusCode.ERROR);
    expect(typeof step!.attributes['error.type']).toBe('string');
  });
});
