import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AnthropicBackend } from '../../src/providers/anthropic.js';
import { toAnthropicBody } from '../../src/providers/anthropic-convert.js';
import type { ChatMessage, StreamChunk } from '../../src/core/types.js';
import { startFakeAnthropicServer, type AnthropicScenario, type FakeServer } from '../support/fake-anthropic-server.js';
import { drain } from '../support/drain.js';

let srv: FakeServer<AnthropicScenario>;
beforeAll(async () => {
  srv = await startFakeAnthropicServer();
});
afterAll(() => srv.close());
beforeEach(() => {
  srv.requests.length = 0;
  srv.setDefault({ kind: 'ok' });
});

const KEY = 'sk-ant-test-abcdef0123456789';
const backend = (extra: Partial<ConstructorParameters<typeof AnthropicBackend>[0]> = {}): AnthropicBackend =>
  new AnthropicBackend({ name: 'claude', baseUrl: srv.url, apiKey: KEY, models: ['claude-*'], ...extra });

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

describe('toAnthropicBody', () => {
  it('lifts system and developer messages, merges same-role turns, converts tool calls and results', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are terse.' },
      { role: 'developer', content: 'Answer in French.' },
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'user', content: [{ type: 'text', text: 'And Lyon?' }] },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Lyon"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
      { role: 'tool', tool_call_id: 'toolu_2', content: '21C' },
      { role: 'user', content: 'Thanks' },
      { role: 'assistant', content: null },
    ];
    const body = toAnthropicBody(
      { model: 'claude-sonnet-4', messages, tools: [weatherTool], toolChoice: 'required', stop: 'END', temperature: 0.5 },
      4096,
    );
    expect(body).toEqual({
      model: 'claude-sonnet-4',
      max_tokens: 4096,
      system: 'You are terse.\n\nAnswer in French.',
      temperature: 0.5,
      stop_sequences: ['END'],
      tools: [
        { name: 'get_weather', description: 'Weather by city', input_schema: weatherTool.function.parameters },
      ],
      tool_choice: { type: 'any' },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather in Paris?' },
            { type: 'text', text: 'And Lyon?' },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Lyon' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: '21C' },
            { type: 'text', text: 'Thanks' },
          ],
        },
      ],
    });
  });

  it('keeps cache_control on system blocks, converts images and named tool choices', () => {
    const body = toAnthropicBody(
      {
        model: 'claude-x',
        maxTokens: 100,
        messages: [
          { role: 'system', content: [{ type: 'text', text: 'Long context', cache_control: { type: 'ephemeral' } }] },
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            ],
          },
        ],
        toolChoice: { type: 'function', function: { name: 'get_weather' } },
      },
      4096,
    );
    expect(body.max_tokens).toBe(100);
    expect(body.system).toEqual([{ type: 'text', text: 'Long context', cache_control: { type: 'ephemeral' } }]);
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
        ],
      },
    ]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'get_weather' });
  });

  it('rejects tool-call arguments that are not a JSON object, naming the message', () => {
    const messages: ChatMessage[] = [
      { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{oops' } }] },
    ];
    expect(() => toAnthropicBody({ model: 'c', messages }, 10)).toThrow(/messages\[0\]\.tool_calls\[0\]\.function\.arguments/);
    expect(() => toAnthropicBody({ model: 'c', messages: [{ role: 'tool', content: 'x' }] }, 10)).toThrow(/messages\[0\]\.tool_call_id/);
  });
});

describe('AnthropicBackend', () => {
  it('defaults its base URL, version and max tokens, and validates options', () => {
    const b = new AnthropicBackend({ name: 'c', models: '*' });
    expect(b).toMatchObject({ provider: 'anthropic', baseUrl: 'https://api.anthropic.com', anthropicVersion: '2023-06-01', defaultMaxTokens: 4096, priority: 1, load: 0 });
    expect(b.servesModel('claude-3')).toBe(true);
    expect(backend().servesModel('gpt-4o')).toBe(false);
    expect(() => backend({ defaultMaxTokens: 0 })).toThrow(/options\.defaultMaxTokens/);
    expect(() => backend({ anthropicVersion: '' })).toThrow(/options\.anthropicVersion/);
  });

  it('sends a Messages request with x-api-key and anthropic-version, and maps the response', async () => {
    srv.enqueue({ kind: 'ok', content: 'Bonjour', usage: { input_tokens: 20, output_tokens: 4 } });
    const res = await backend({ defaultMaxTokens: 512 }).complete({
      model: 'claude-sonnet-4',
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'Hello' },
      ],
    });
    expect(res).toEqual({
      id: 'msg_fake',
      content: 'Bonjour',
      model: 'claude-sonnet-4',
      finishReason: 'stop',
      usage: { promptTokens: 20, completionTokens: 4, totalTokens: 24 },
    });
    const req = srv.requests[0];
    expect(req).toMatchObject({ method: 'POST', path: '/v1/messages' });
    expect(req?.headers['x-api-key']).toBe(KEY);
    expect(req?.headers['anthropic-version']).toBe('2023-06-01');
    expect(req?.headers.authorization).toBeUndefined();
    expect(req?.body).toEqual({
      model: 'claude-sonnet-4',
      max_tokens: 512,
      system: 'Be brief',
      messages: [{ role: 'user', content: 'Hello' }],
    });
  });

  it('counts cache reads and writes as prompt tokens and reports them separately', async () => {
    srv.enqueue({
      kind: 'ok',
      usage: { input_tokens: 50, output_tokens: 10, cache_read_input_tokens: 1000, cache_creation_input_tokens: 200 },
    });
    const res = await backend().complete({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }] });
    expect(res.usage).toEqual({
      promptTokens: 1250,
      completionTokens: 10,
      totalTokens: 1260,
      cachedPromptTokens: 1000,
      cacheWriteTokens: 200,
    });
  });

  it('maps stop reasons to OpenAI finish reasons', async () => {
    for (const [stopReason, finish] of [
      ['end_turn', 'stop'],
      ['max_tokens', 'length'],
      ['stop_sequence', 'stop'],
      ['tool_use', 'tool_calls'],
    ] as const) {
      srv.enqueue({ kind: 'ok', stopReason });
      const res = await backend().complete({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }] });
      expect(res.finishReason, stopReason).toBe(finish);
    }
  });

  it('converts tools and returns tool_use blocks as OpenAI tool calls', async () => {
    srv.enqueue({ kind: 'ok', content: '', toolUses: [{ id: 'toolu_9', name: 'get_weather', input: { city: 'Oslo' } }] });
    const res = await backend().complete({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool], toolChoice: 'auto' });
    expect(res.content).toBeNull();
    expect(res.finishReason).toBe('tool_calls');
    expect(res.toolCalls).toEqual([{ id: 'toolu_9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }]);
    expect(srv.requests[0]?.body).toMatchObject({
      tools: [{ name: 'get_weather', description: 'Weather by city', input_schema: weatherTool.function.parameters }],
      tool_choice: { type: 'auto' },
    });
  });

  it('returns usage undefined when the provider reports none', async () => {
    srv.enqueue({ kind: 'ok', usage: null });
    const res = await backend().complete({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }] });
    expect(res.usage).toBeUndefined();
  });

  it('streams text deltas, finish, and usage from message_start + message_delta', async () => {
    srv.enqueue({
      kind: 'ok',
      content: 'Hello there friend',
      usage: { input_tokens: 11, output_tokens: 3, cache_read_input_tokens: 100, cache_creation_input_tokens: 7 },
    });
    const chunks = await drain(backend().stream({ model: 'claude-x', messages: [{ role: 'user', content: 'hi' }], maxTokens: 50 }));
    expect(chunks).toEqual([
      { type: 'delta', content: 'Hello' },
      { type: 'delta', content: ' there' },
      { type: 'delta', content: ' friend' },
      { type: 'finish', finishReason: 'stop' },
      { type: 'usage', usage: { promptTokens: 118, completionTokens: 3, totalTokens: 121, cachedPromptTokens: 100, cacheWriteTokens: 7 } },
    ]);
    expect(srv.requests[0]?.body).toMatchObject({ stream: true, max_tokens: 50 });
  });

  it('streams tool_use blocks as OpenAI-shaped tool-call deltas', async () => {
    srv.enqueue({ kind: 'ok', content: 'Let me check.', toolUses: [{ id: 'toolu_1', name: 'get_weather', input: { city: 'Rome' } }] });
    const chunks = await drain(backend().stream({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool] }));
    const text = chunks.map((c) => (c.type === 'delta' ? c.content : '')).join('');
    expect(text).toBe('Let me check.');
    const toolDeltas = chunks.flatMap((c) => (c.type === 'delta' && c.toolCalls ? c.toolCalls : []));
    expect(toolDeltas[0]).toEqual({ index: 0, id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '' } });
    const args = toolDeltas.map((d) => (d as { function: { arguments: string } }).function.arguments).join('');
    expect(JSON.parse(args)).toEqual({ city: 'Rome' });
    expect(chunks).toContainEqual({ type: 'finish', finishReason: 'tool_calls' });
  });

  it('streams no usage chunk when the provider sends none', async () => {
    srv.enqueue({ kind: 'ok', content: 'a b', usage: null });
    const chunks = await drain(backend().stream({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }] }));
    expect(chunks.map((c) => c.type)).toEqual(['delta', 'delta', 'finish']);
  });

  it('turns an overloaded error event into a retryable error after the deltas before it', async () => {
    srv.enqueue({ kind: 'stream-error', chunks: 2 });
    const seen: StreamChunk[] = [];
    const err = await (async () => {
      for await (const c of backend().stream({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }] })) seen.push(c);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([
      { type: 'delta', content: 'part0 ' },
      { type: 'delta', content: 'part1 ' },
    ]);
    expect(err).toMatchObject({ name: 'ProviderError', code: 'PROVIDER_UNAVAILABLE', isRetryable: true, provider: 'anthropic', backend: 'claude' });
    expect((err as Error).message).toContain('overloaded_error: Overloaded');
  });

  it('treats an invalid_request_error event as not retryable', async () => {
    srv.enqueue({ kind: 'stream-error', chunks: 0, errorType: 'invalid_request_error', message: 'bad' });
    await expect(drain(backend().stream({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }] }))).rejects.toMatchObject({
      isRetryable: false,
      code: 'PROVIDER_ERROR',
    });
  });
});
