/**
 * The router's OpenTelemetry (issue 15): one GenAI CLIENT span per call, `{operation} {model}`, from reserve to
 * charge, with the semantic-convention attributes and tokenwarden's own; the `gen_ai.client.*` histograms with
 * the spec's buckets, and the cost and refusal counters. A real SDK (in-memory exporters) in front of real
 * HTTP upstreams (the fake OpenAI server).
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { BudgetPolicies } from '../../src/budget/policies.js';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import { BudgetExhaustedError, PolicyExhaustedError, ProviderError } from '../../src/core/errors.js';
import { PriceTable } from '../../src/pricing/price-table.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter } from '../../src/router/router.js';
import { recordGenAiCall } from '../../src/telemetry/genai-call.js';
import { OPERATION_DURATION_BUCKETS, TOKEN_USAGE_BUCKETS } from '../../src/telemetry/semconv.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { histogramPoints, install, sumPoints, uninstall, type OtelSdk } from './otel-sdk.js';

const HELLO = [{ role: 'user' as const, content: 'Hello there' }];
const USAGE = {
  prompt_tokens: 30,
  completion_tokens: 10,
  total_tokens: 40,
  prompt_tokens_details: { cached_tokens: 20 },
  completion_tokens_details: { reasoning_tokens: 4 },
};

let upstream: FakeServer<OpenAIScenario>;
let sdk: OtelSdk;
let ledger: MemoryBudgetLedger;
let tracker: UsageTracker;
let router: LLMRouter;

beforeEach(async () => {
  upstream = await startFakeOpenAIServer();
  sdk = install();
  ledger = new MemoryBudgetLedger({ maxTokensPerThread: 10_000 });
  tracker = new UsageTracker();
  const backend = new OpenAICompatibleBackend({ name: 'fake-openai', baseUrl: upstream.url, models: '*', provider: 'openai' });
  router = new LLMRouter({ backends: [backend], ledger, tracker, retries: { maxAttempts: 1 } });
});
afterEach(async () => {
  uninstall();
  await upstream.close();
});

describe('a plain call', () => {
  it('is one CLIENT span "chat {model}" with the GenAI attributes, the charge and the thread budget', async () => {
    upstream.enqueue({ kind: 'ok', content: 'Hi!', usage: USAGE, model: 'gpt-4o-mini-2024-07-18' });
    const res = await router.complete({ model: 'gpt-4o-mini', messages: HELLO, threadId: 't-plain', agentId: 'writer', maxTokens: 50 });
    const spans = sdk.spans();
    expect(spans.map((s) => s.name)).toEqual(['chat gpt-4o-mini']);
    const span = spans[0]!;
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.instrumentationScope.name).toBe('tokenwarden');
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(res.event.estimatedCost).toBeGreaterThan(0);
    expect(span.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.request.max_tokens': 50,
      'gen_ai.conversation.id': 't-plain',
      'tokenwarden.agent.id': 'writer',
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 30,
      'gen_ai.usage.output_tokens': 10,
      'gen_ai.usage.cache_read.input_tokens': 20,
      'gen_ai.usage.reasoning.output_tokens': 4,
      'tokenwarden.backend': 'fake-openai',
      'tokenwarden.cost_usd': res.event.estimatedCost,
      'tokenwarden.budget.remaining_tokens': 10_000 - 40,
    });
    expect(res.budget?.usage?.remaining).toBe(9960);
  });

  it('records the token-usage and duration histograms with the spec buckets, and the cost counter', async () => {
    upstream.enqueue({ kind: 'ok', usage: USAGE, model: 'gpt-4o-mini-2024-07-18' });
    const res = await router.complete({ model: 'gpt-4o-mini', messages: HELLO, threadId: 't-metrics' });
    const m = await sdk.collect();
    const common = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.response.model': 'gpt-4o-mini-2024-07-18' };
    const tokens = histogramPoints(m.get('gen_ai.client.token.usage'));
    expect(m.get('gen_ai.client.token.usage')!.descriptor.unit).toBe('{token}');
    expect(tokens).toEqual([
      { attributes: { ...common, 'gen_ai.token.type': 'input' }, count: 1, sum: 30, boundaries: [...TOKEN_USAGE_BUCKETS] },
      { attributes: { ...common, 'gen_ai.token.type': 'output' }, count: 1, sum: 10, boundaries: [...TOKEN_USAGE_BUCKETS] },
    ]);
    const duration = histogramPoints(m.get('gen_ai.client.operation.duration'));
    expect(m.get('gen_ai.client.operation.duration')!.descriptor.unit).toBe('s');
    expect(duration).toHaveLength(1);
    expect(duration[0]!.attributes).toEqual(common);
    expect(duration[0]!.count).toBe(1);
    expect(duration[0]!.boundaries).toEqual([...OPERATION_DURATION_BUCKETS]);
    expect(duration[0]!.sum).toBeGreaterThan(0);
    expect(duration[0]!.sum).toBeLessThan(5);
    const cost = sumPoints(m.get('tokenwarden.cost'));
    expect(m.get('tokenwarden.cost')!.descriptor.unit).toBe('USD');
    expect(cost).toHaveLength(1);
    expect(cost[0]!.attributes).toEqual(common);
    expect(cost[0]!.value).toBeCloseTo(res.event.estimatedCost!, 12);
    expect(m.has('tokenwarden.budget.refusals')).toBe(false);
  });
});

describe('a stream', () => {
  it('is one span from reserve to charge, with gen_ai.request.stream and the streamed usage', async () => {
    upstream.enqueue({ kind: 'ok', content: 'one two three', usage: USAGE });
    let chunks = 0;
    for await (const chunk of router.stream({ model: 'gpt-4o-mini', messages: HELLO, threadId: 't-stream' })) {
      chunks++;
      if (chunk.type === 'delta') expect(sdk.spans()).toHaveLength(0); // the span is still open while it streams
    }
    expect(chunks).toBeGreaterThan(2);
    const [span] = sdk.spansNamed('chat gpt-4o-mini');
    expect(span).toBeDefined();
    expect(span!.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.conversation.id': 't-stream',
      'gen_ai.usage.input_tokens': 30,
      'gen_ai.usage.output_tokens': 10,
      'gen_ai.usage.cache_read.input_tokens': 20,
      'gen_ai.response.finish_reasons': ['stop'],
      'tokenwarden.budget.remaining_tokens': 9960,
    });
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    const tokens = histogramPoints((await sdk.collect()).get('gen_ai.client.token.usage'));
    expect(tokens.map((p) => [p.attributes['gen_ai.token.type'], p.sum])).toEqual([['input', 30], ['output', 10]]);
  });

  it('a stream the consumer abandons is charged what was delivered, and its span says so', async () => {
    upstream.enqueue({ kind: 'endless-stream', word: 'spam ', chunkDelayMs: 1 });
    let deltas = 0;
    for await (const chunk of router.stream({ model: 'gpt-4o-mini', messages: HELLO, threadId: 't-abandon', maxTokens: 100 })) {
      if (chunk.type === 'delta' && ++deltas === 3) break;
    }
    const [span] = sdk.spansNamed('chat gpt-4o-mini');
    expect(span!.attributes['tokenwarden.usage.estimated']).toBe(true);
    expect(span!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThanOrEqual(3);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
  });
});

describe('a stream that breaks', () => {
  it('after text went out: span ERROR with the provider code, and charged what was delivered', async () => {
    upstream.enqueue({ kind: 'truncated-stream', chunks: 3 });
    const err = await (async () => {
      for await (const _chunk of router.stream({ model: 'gpt-4o-mini', messages: HELLO, threadId: 't-cut', maxTokens: 100 }));
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    const [span] = sdk.spansNamed('chat gpt-4o-mini');
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes['error.type']).toBe((err as ProviderError).code);
    expect(span!.attributes['tokenwarden.usage.estimated']).toBe(true);
    expect(span!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect((await ledger.usage('t-cut'))!.totalTokens).toBe(span!.attributes['gen_ai.usage.input_tokens'] as number + (span!.attributes['gen_ai.usage.output_tokens'] as number));
  });
});

describe('a budget refusal', () => {
  it('ends the span ERROR with error.type BUDGET_EXHAUSTED, counts the refusal, and calls no provider', async () => {
    await ledger.setBudget('t-poor', 5);
    const err = await router.complete({ model: 'gpt-4o-mini', messages: HELLO, threadId: 't-poor', maxTokens: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExhaustedError);
    expect(upstream.requests).toHaveLength(0);
    const [span] = sdk.spansNamed('chat gpt-4o-mini');
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    expect(span!.attributes).toMatchObject({ 'error.type': 'BUDGET_EXHAUSTED', 'tokenwarden.budget.remaining_tokens': 5, 'gen_ai.conversation.id': 't-poor' });
    expect(span!.attributes['gen_ai.usage.input_tokens']).toBeUndefined();
    expect(span!.events.map((e) => e.name)).toEqual(['exception']);
    const m = await sdk.collect();
    expect(sumPoints(m.get('tokenwarden.budget.refusals'))).toEqual([
      {
        attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini', 'error.type': 'BUDGET_EXHAUSTED' },
        value: 1,
      },
    ]);
    expect(histogramPoints(m.get('gen_ai.client.token.usage'))).toEqual([]);
    const duration = histogramPoints(m.get('gen_ai.client.operation.duration'));
    expect(duration.map((p) => p.attributes['error.type'])).toEqual(['BUDGET_EXHAUSTED']);
  });
});

describe('a provider error', () => {
  it('ends the span ERROR with the error code and the upstream status; no refusal counted', async () => {
    upstream.enqueue({ kind: 'status', status: 400, body: { error: { message: 'bad request', type: 'invalid_request_error' } } });
    const err = await router.complete({ model: 'gpt-4o-mini', messages: HELLO, threadId: 't-fail' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    const [span] = sdk.spansNamed('chat gpt-4o-mini');
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes).toMatchObject({ 'error.type': (err as ProviderError).code, 'http.response.status_code': 400 });
    const m = await sdk.collect();
    expect(m.has('tokenwarden.budget.refusals')).toBe(false);
    expect(histogramPoints(m.get('gen_ai.client.operation.duration')).map((p) => p.attributes['error.type'])).toEqual([(err as ProviderError).code]);
    expect(await ledger.usage('t-fail')).toMatchObject({ totalTokens: 0 }); // released, nothing charged
  });
});

describe('forward and embeddings', () => {
  it('a forwarded Responses call is a chat span naming its wire API; embeddings an embeddings span', async () => {
    upstream.enqueue({ kind: 'ok', usage: USAGE });
    await router.forward({ api: 'responses', model: 'gpt-4o-mini', body: { model: 'gpt-4o-mini', input: 'Hi' }, inputTokens: 5, threadId: 't-fwd' });
    upstream.enqueue({ kind: 'ok', usage: { prompt_tokens: 7, completion_tokens: 0 } });
    await router.embed({ model: 'text-embedding-3-small', body: { model: 'text-embedding-3-small', input: 'a b c' }, inputTokens: 7, threadId: 't-fwd' });
    const [fwd] = sdk.spansNamed('chat gpt-4o-mini');
    expect(fwd!.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'tokenwarden.api': 'responses', 'gen_ai.conversation.id': 't-fwd' });
    expect(typeof fwd!.attributes['gen_ai.usage.input_tokens']).toBe('number');
    const [emb] = sdk.spansNamed('embeddings text-embedding-3-small');
    expect(emb!.attributes).toMatchObject({ 'gen_ai.operation.name': 'embeddings', 'gen_ai.usage.input_tokens': 7, 'gen_ai.usage.output_tokens': 0 });
  });
});

describe('recordGenAiCall (for the AI SDK middleware and the LangChain handler)', () => {
  it('records a finished call with its own start and end times, cache-write tokens and policies', async () => {
    const start = Date.now() - 1500;
    recordGenAiCall(
      { operation: 'chat', requestModel: 'claude-sonnet-4-5', provider: 'anthropic', threadId: 't-int', startTime: start },
      {
        charge: { usage: { inputTokens: 900, outputTokens: 120, cacheReadInputTokens: 500, cacheCreationInputTokens: 300 }, responseModel: 'claude-sonnet-4-5-20250929', costUsd: 0.01, policies: ['org-daily'] },
        finishReasons: ['end_turn'],
        endTime: start + 1000,
      },
    );
    const [span] = sdk.spansNamed('chat claude-sonnet-4-5');
    expect(span!.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.usage.cache_creation.input_tokens': 300,
      'gen_ai.usage.cache_read.input_tokens': 500,
      'gen_ai.response.finish_reasons': ['end_turn'],
      'tokenwarden.policy.names': ['org-daily'],
      'tokenwarden.cost_usd': 0.01,
    });
    expect(span!.duration[0] * 1000 + span!.duration[1] / 1e6).toBeCloseTo(1000, 0);
    const duration = histogramPoints((await sdk.collect()).get('gen_ai.client.operation.duration'));
    expect(duration[0]!.sum).toBeCloseTo(1, 3);
  });
});

describe('budget policies', () => {
  it('a charged call names its policies; a policy refusal names the policy, its scope and limit, and is counted', async () => {
    const policies = new BudgetPolicies({
      policies: [{ name: 'user-daily', scope: 'user', maxTokens: 2000, window: '1d' }],
      ledger: new MemoryPolicyLedger(),
      prices: new PriceTable(),
    });
    const backend = new OpenAICompatibleBackend({ name: 'fake-openai', baseUrl: upstream.url, models: '*' });
    const guarded = new LLMRouter({ backends: [backend], ledger, tracker, policies, retries: { maxAttempts: 1 } });
    upstream.enqueue({ kind: 'ok', usage: USAGE });
    await guarded.complete({ model: 'gpt-4o-mini', messages: HELLO, metadata: { user_id: 'ann' }, maxTokens: 100 });
    const err = await guarded.complete({ model: 'gpt-4o-mini', messages: HELLO, metadata: { user_id: 'ann' }, maxTokens: 1990 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyExhaustedError);
    const [ok, refused] = sdk.spansNamed('chat gpt-4o-mini');
    expect(ok!.attributes['tokenwarden.policy.names']).toEqual(['user-daily']);
    expect(refused!.attributes).toMatchObject({
      'error.type': 'POLICY_BUDGET_EXHAUSTED',
      'tokenwarden.policy.name': 'user-daily',
      'tokenwarden.policy.scope': 'user',
      'tokenwarden.policy.limit': 'tokens',
    });
    const refusals = sumPoints((await sdk.collect()).get('tokenwarden.budget.refusals'));
    expect(refusals).toEqual([
      {
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': 'gpt-4o-mini',
          'error.type': 'POLICY_BUDGET_EXHAUSTED',
          'tokenwarden.policy.name': 'user-daily',
        },
        value: 1,
      },
    ]);
    expect(upstream.requests).toHaveLength(1);
  });
});
