import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import type { StreamChunk, ToolCall } from '../../src/core/types.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { drain } from '../support/drain.js';

let srv: FakeServer<OpenAIScenario>;
beforeAll(async () => {
  srv = await startFakeOpenAIServer();
});
afterAll(() => srv.close());
beforeEach(() => {
  srv.requests.length = 0;
  srv.setDefault({ kind: 'ok' });
});

const KEY = 'sk-test-openai-0123456789';
const backend = (extra: Partial<ConstructorParameters<typeof OpenAICompatibleBackend>[0]> = {}): OpenAICompatibleBackend =>
  new OpenAICompatibleBackend({ name: 'primary', baseUrl: srv.url, apiKey: KEY, models: ['gpt-4o*', 'o3'], ...extra });

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};
const call: ToolCall = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };

describe('OpenAICompatibleBackend', () => {
  it('exposes name, provider, priority, load and model matching', () => {
    const b = backend({ provider: 'xai', priority: 3 });
    expect(b).toMatchObject({ name: 'primary', provider: 'xai', priority: 3, load: 0 });
    expect(backend().provider).toBe('openai');
    expect(backend().priority).toBe(1);
    expect(b.servesModel('gpt-4o-mini')).toBe(true);
    expect(b.servesModel('o3')).toBe(true);
    expect(b.servesModel('o3-mini')).toBe(false);
    expect(backend({ models: '*' }).servesModel('anything')).toBe(true);
  });

  it('validates its options, naming the field', () => {
    expect(() => backend({ baseUrl: 'ftp://x' })).toThrow(/options\.baseUrl/);
    expect(() => backend({ name: '' })).toThrow(ValidationError);
    expect(() => backend({ models: [] })).toThrow(/options\.models/);
    expect(() => backend({ models: ['gp*t'] })).toThrow(/options\.models\[0\].*only allowed at the end/);
    expect(() => backend({ timeoutMs: 0 })).toThrow(/options\.timeoutMs/);
    expect(() => backend({ maxResponseBytes: -1 })).toThrow(/options\.maxResponseBytes/);
    expect(() => backend({ baseUrl: 'https://user:pw@example.com/v1' })).toThrow(/must not carry credentials/);
  });

  it('sends an OpenAI chat-completions request and maps the response', async () => {
    srv.enqueue({ kind: 'ok', content: 'Bonjour', usage: { prompt_tokens: 30, completion_tokens: 5 } });
    const res = await backend({ headers: { 'OpenAI-Organization': 'org-1' } }).complete({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'Hello' },
      ],
      maxTokens: 64,
      temperature: 0.2,
      topP: 0.9,
      stop: ['\n\n'],
    });
    expect(res).toEqual({
      id: 'chatcmpl-fake',
      content: 'Bonjour',
      model: 'gpt-4o-mini',
      finishReason: 'stop',
      usage: { promptTokens: 30, completionTokens: 5, totalTokens: 35 },
    });
    const req = srv.requests[0];
    expect(req).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
    expect(req?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req?.headers['openai-organization']).toBe('org-1');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.body).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'Hello' },
      ],
      max_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      stop: ['\n\n'],
    });
  });

  it('omits the Authorization header without an API key, and can send max_completion_tokens', async () => {
    await backend({ apiKey: undefined, maxTokensParam: 'max_completion_tokens' }).complete({
      model: 'o3',
      messages: [{ role: 'user', content: 'x' }],
      maxTokens: 10,
    });
    expect(srv.requests[0]?.headers.authorization).toBeUndefined();
    expect(srv.requests[0]?.body).toMatchObject({ max_completion_tokens: 10 });
    expect(srv.requests[0]?.body).not.toHaveProperty('max_tokens');
  });

  it('passes tools and tool_choice through unchanged and returns tool calls', async () => {
    srv.enqueue({ kind: 'ok', content: null, toolCalls: [call] });
    const toolChoice = { type: 'function', function: { name: 'get_weather' } };
    const messages = [
      { role: 'user' as const, content: 'Weather?' },
      { role: 'assistant' as const, content: null, tool_calls: [call] },
      { role: 'tool' as const, content: '18C', tool_call_id: 'call_1' },
    ];
    const res = await backend().complete({ model: 'gpt-4o', messages, tools: [weatherTool], toolChoice });
    expect(res.content).toBeNull();
    expect(res.finishReason).toBe('tool_calls');
    expect(res.toolCalls).toEqual([call]);
    expect(srv.requests[0]?.body).toMatchObject({ tools: [weatherTool], tool_choice: toolChoice, messages });
  });

  it('maps cached prompt tokens and reasoning tokens', async () => {
    srv.enqueue({
      kind: 'ok',
      usage: {
        prompt_tokens: 1000,
        completion_tokens: 300,
        prompt_tokens_details: { cached_tokens: 768 },
        completion_tokens_details: { reasoning_tokens: 200 },
      },
    });
    const res = await backend().complete({ model: 'o3', messages: [{ role: 'user', content: 'think' }] });
    expect(res.usage).toEqual({
      promptTokens: 1000,
      completionTokens: 300,
      totalTokens: 1300,
      cachedPromptTokens: 768,
      reasoningTokens: 200,
    });
  });

  it('returns usage undefined when the provider reports none', async () => {
    srv.enqueue({ kind: 'ok', usage: null });
    const res = await backend().complete({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    expect(res.usage).toBeUndefined();
    expect(res.content).toBe('Hello from the fake OpenAI server.');
  });

  it('streams deltas, one finish and the final usage (asking for include_usage)', async () => {
    srv.enqueue({
      kind: 'ok',
      content: 'One two three',
      usage: { prompt_tokens: 9, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 4 } },
    });
    const chunks = await drain(backend().stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'count' }], maxTokens: 5 }));
    expect(chunks).toEqual([
      { type: 'delta', content: 'One' },
      { type: 'delta', content: ' two' },
      { type: 'delta', content: ' three' },
      { type: 'finish', finishReason: 'stop' },
      { type: 'usage', usage: { promptTokens: 9, completionTokens: 3, totalTokens: 12, cachedPromptTokens: 4 } },
    ]);
    expect(srv.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true }, max_tokens: 5 });
    expect(srv.requests[0]?.headers.accept).toBe('text/event-stream');
  });

  it('streams no usage chunk when the provider sends none', async () => {
    srv.enqueue({ kind: 'ok', content: 'a b', usage: null });
    const chunks = await drain(backend().stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }));
    expect(chunks.map((c) => c.type)).toEqual(['delta', 'delta', 'finish']);
  });

  it('streams tool-call deltas in OpenAI shape', async () => {
    srv.enqueue({ kind: 'ok', content: '', toolCalls: [call] });
    const chunks = await drain(backend().stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool] }));
    const toolDeltas = chunks.flatMap((c) => (c.type === 'delta' && c.toolCalls ? c.toolCalls : []));
    expect(toolDeltas[0]).toEqual({ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } });
    const args = toolDeltas.map((d) => (d as { function?: { arguments?: string } }).function?.arguments ?? '').join('');
    expect(JSON.parse(args)).toEqual({ city: 'Paris' });
    expect(chunks).toContainEqual({ type: 'finish', finishReason: 'tool_calls' });
    expect(srv.requests[0]?.body).toMatchObject({ tools: [weatherTool] });
  });

  it('accepts a stream that ends cleanly after finish_reason without [DONE]', async () => {
    const sse =
      'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n' +
      'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n';
    srv.enqueue({ kind: 'status', status: 200, headers: { 'content-type': 'text/event-stream' }, body: sse });
    const chunks = await drain(backend().stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }));
    expect(chunks).toEqual([
      { type: 'delta', content: 'hi' },
      { type: 'finish', finishReason: 'stop' },
    ]);
  });

  it('throws STREAM_TRUNCATED for a stream that ends cleanly with neither finish_reason nor [DONE]', async () => {
    const sse = 'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n';
    srv.enqueue({ kind: 'status', status: 200, headers: { 'content-type': 'text/event-stream' }, body: sse });
    const seen: StreamChunk[] = [];
    const err = await (async () => {
      for await (const c of backend().stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })) seen.push(c);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([{ type: 'delta', content: 'hi' }]);
    expect(err).toMatchObject({ code: 'STREAM_TRUNCATED', isRetryable: true, backend: 'primary' });
  });

  it('throws a retryable ProviderError for an error object sent mid-stream', async () => {
    const sse =
      'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n' +
      'data: {"error":{"message":"upstream overloaded"}}\n\n';
    srv.enqueue({ kind: 'status', status: 200, headers: { 'content-type': 'text/event-stream' }, body: sse });
    await expect(drain(backend().stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }))).rejects.toMatchObject({
      code: 'PROVIDER_ERROR',
      isRetryable: true,
      message: expect.stringContaining('upstream overloaded'),
    });
  });

  it('releases the connection when the consumer stops reading early', async () => {
    srv.enqueue({ kind: 'ok', content: 'a b c d e f g h', chunkDelayMs: 5 });
    const got: string[] = [];
    for await (const c of backend().stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })) {
      if (c.type === 'delta') got.push(c.content);
      if (got.length === 2) break;
    }
    expect(got).toEqual(['a', ' b']);
    // The backend still works afterwards (no stuck connection, no stray timer firing an error).
    const res = await backend().complete({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    expect(res.content).toBe('Hello from the fake OpenAI server.');
  });

  it('uses an injected fetch', async () => {
    const urls: string[] = [];
    const b = backend({
      fetch: async (url, init) => {
        urls.push(url);
        const { fetch } = await import('undici');
        return fetch(url, init);
      },
    });
    await b.complete({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    expect(urls).toEqual([`${srv.url}/chat/completions`]);
  });
});
