import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_OPENAI_USAGE } from '../support/fake-openai-server.js';
import { HELLO, call, errorOf, startTestGateway, type TestGateway } from './harness.js';

let tg: TestGateway;
let client: OpenAI;
let gatewayRequests = 0;

beforeAll(async () => {
  tg = await startTestGateway({ maxTokensPerThread: 100_000 });
  tg.gateway.server.on('request', () => gatewayRequests++);
  client = new OpenAI({ apiKey: 'unused', baseURL: `${tg.url}/v1`, maxRetries: 2 });
});
afterAll(async () => {
  await tg.close();
});
beforeEach(() => {
  tg.upstream!.setDefault({ kind: 'ok' });
});

describe('POST /v1/chat/completions (openai SDK)', () => {
  it('answers in OpenAI format, charges the thread and reports its budget in headers', async () => {
    const { data, response } = await client.chat.completions
      .create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 50, user: 'body-user' },
        { headers: { 'x-thread-id': 'chat-1', 'x-agent-id': 'planner', 'x-org-id': 'acme' } },
      )
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(data.choices[0]!.message).toMatchObject({ role: 'assistant', content: 'Hello from the fake OpenAI server.' });
    expect(data.choices[0]!.finish_reason).toBe('stop');
    expect(data.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 });
    expect(response.headers.get('x-thread-id')).toBe('chat-1');
    expect(response.headers.get('x-budget-limit')).toBe('100000');
    expect(response.headers.get('x-budget-used')).toBe('20');
    expect(response.headers.get('x-budget-remaining')).toBe('99980');

    // The upstream got the request as sent (model, messages, cap).
    const sent = tg.upstream!.requests.at(-1)!.body as Record<string, unknown>;
    expect(sent).toEqual({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 50, user: 'body-user' });

    // The event was stored before the response was acknowledged, with org/user/agent.
    const page = await tg.store.query({ threadId: 'acme/chat-1' });
    expect(page.events).toHaveLength(1);
    expect(page.events[0]).toMatchObject({
      agentId: 'planner',
      model: 'gpt-4o-mini',
      promptTokens: 12,
      completionTokens: 8,
      metadata: { org_id: 'acme', user_id: 'body-user' },
    });
    // The answer is the upstream's (its id); the header ties it to its usage event.
    expect(data.id).toBe('chatcmpl-fake');
    expect(response.headers.get('x-usage-event-id')).toBe(page.events[0]!.id);
  });

  it('x-user-id overrides the body user', async () => {
    await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], user: 'body-user' },
      { headers: { 'x-thread-id': 'chat-user', 'x-user-id': 'header-user' } },
    );
    const page = await tg.store.query({ threadId: 'chat-user' });
    expect(page.events[0]!.metadata.user_id).toBe('header-user');
  });

  it('passes tool calls through', async () => {
    const toolCalls = [{ id: 'call_1', type: 'function' as const, function: { name: 'lookup', arguments: '{"q":"x"}' } }];
    tg.upstream!.enqueue({ kind: 'ok', content: null, toolCalls });
    const res = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'use a tool' }],
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }],
    });
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    expect(res.choices[0]!.message.tool_calls).toEqual(toolCalls);
    expect((tg.upstream!.requests.at(-1)!.body as { tools: unknown[] }).tools).toHaveLength(1);
  });

  it('streams chat.completion.chunk events with a final usage chunk when include_usage is set', async () => {
    const { data: stream, response } = await client.chat.completions
      .create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Stream please' }], stream: true, stream_options: { include_usage: true } },
        { headers: { 'x-thread-id': 'chat-stream' } },
      )
      .withResponse();
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-budget-limit')).toBe('100000');
    expect(response.headers.get('x-thread-id')).toBe('chat-stream');
    let text = '';
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe('Hello from the fake OpenAI server.');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop');
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 });
    const thread = await call(`${tg.url}/v1/threads/chat-stream`);
    expect(thread.body).toMatchObject({ total_tokens: 20, reserved_tokens: 0, request_count: 1 });
  });

  it('omits the usage chunk without include_usage and ends the raw stream with [DONE]', async () => {
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-thread-id': 'raw-stream' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: HELLO, stream: true }),
    });
    expect(res.status).toBe(200);
    const raw = await res.text();
    const events = raw.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const payloads = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)) as { usage?: unknown });
    expect(payloads.some((p) => p.usage !== undefined)).toBe(false);
    // Still charged and stored.
    expect((await tg.store.query({ threadId: 'raw-stream' })).events).toHaveLength(1);
  });

  it('refuses a call the thread cannot afford with 429 budget_exhausted and never calls the provider', async () => {
    await call(`${tg.url}/v1/threads/poor/budget`, { method: 'PUT', body: { max_tokens: 100 } });
    const upstreamBefore = tg.upstream!.requests.length;
    const before = gatewayRequests;
    const err = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: HELLO as OpenAI.ChatCompletionMessageParam[], max_tokens: 500 }, { headers: { 'x-thread-id': 'poor' } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiErr.status).toBe(429);
    expect(apiErr.type).toBe('budget_exhausted');
    expect(apiErr.code).toBe('thread_budget_exhausted');
    expect(apiErr.message).toContain('"poor"');
    expect(apiErr.message).toMatch(/budget exhausted: requested \d+ tokens, used 0 of 100/);
    expect(apiErr.headers?.get('x-budget-limit')).toBe('100');
    expect(apiErr.headers?.get('x-budget-remaining')).toBe('100');
    // The SDK did not retry (x-should-retry: false) and the provider was never called.
    expect(gatewayRequests - before).toBe(1);
    expect(tg.upstream!.requests.length).toBe(upstreamBefore);
  });

  it('refuses a streaming call with a JSON 429 (not an SSE stream)', async () => {
    await call(`${tg.url}/v1/threads/poor-stream/budget`, { method: 'PUT', body: { max_tokens: 10 } });
    const upstreamBefore = tg.upstream!.requests.length;
    const r = await call(`${tg.url}/v1/chat/completions`, {
      headers: { 'x-thread-id': 'poor-stream' },
      body: { model: 'gpt-4o-mini', messages: HELLO, stream: true },
    });
    expect(r.status).toBe(429);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(errorOf(r.body)).toMatchObject({ type: 'budget_exhausted', code: 'thread_budget_exhausted' });
    expect(errorOf(r.body).message).toContain('"poor-stream"');
    expect(tg.upstream!.requests.length).toBe(upstreamBefore);
  });

  it('names the budget threshold a call crossed', async () => {
    await call(`${tg.url}/v1/threads/near/budget`, { method: 'PUT', body: { max_tokens: 1000 } });
    // Default thresholds are 75/90/95 %: one call of 760 tokens crosses 75 % of 1000.
    tg.upstream!.setDefault({ kind: 'ok', usage: { prompt_tokens: 700, completion_tokens: 60 } });
    const r = await call(`${tg.url}/v1/chat/completions`, {
      headers: { 'x-thread-id': 'near' },
      body: { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 100 },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-budget-used')).toBe('760');
    expect(r.headers.get('x-budget-threshold')).toBe('warning; percent=75');
    const quiet = await call(`${tg.url}/v1/chat/completions`, { headers: { 'x-thread-id': 'near-2' }, body: { model: 'gpt-4o-mini', messages: HELLO } });
    expect(quiet.headers.get('x-budget-threshold')).toBeNull();
  });

  it('meters calls without x-thread-id but does not budget them', async () => {
    const r = await call(`${tg.url}/v1/chat/completions`, { body: { model: 'gpt-4o-mini', messages: HELLO } });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-budget-remaining')).toBeNull();
    expect(r.headers.get('x-thread-id')).toBeNull();
    const id = r.headers.get('x-usage-event-id');
    const events = (await tg.store.query({ limit: 1000 })).events;
    expect(events.find((e) => e.id === id)).toMatchObject({ threadId: null, totalTokens: DEFAULT_OPENAI_USAGE.prompt_tokens + DEFAULT_OPENAI_USAGE.completion_tokens });
  });

  it('lists models', async () => {
    const models = await client.models.list();
    expect(Array.isArray(models.data)).toBe(true);
  });
});

describe('budgets.require_thread', () => {
  it('answers 400 naming x-thread-id', async () => {
    const strict = await startTestGateway({ gateway: { requireThread: true } });
    try {
      const r = await call(`${strict.url}/v1/chat/completions`, { body: { model: 'm', messages: HELLO } });
      expect(r.status).toBe(400);
      expect(errorOf(r.body)).toMatchObject({ param: 'x-thread-id', code: 'missing_thread_id' });
      expect(strict.upstream!.requests).toHaveLength(0);
    } finally {
      await strict.close();
    }
  });
});
