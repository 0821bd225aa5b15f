/**
 * The fake upstreams speak the real wire formats: the real client libraries (openai, @anthropic-ai/sdk,
 * the AI SDK, LangChain) talk to the fake servers DIRECTLY (no gateway) and parse what they answer.
 * If these pass, a gateway test that fails through the gateway fails because of the gateway.
 */
import Anthropic from '@anthropic-ai/sdk';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { embed, generateObject, generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startFakeAnthropicServer, type AnthropicScenario } from '../../support/fake-anthropic-server.js';
import { fakeEmbedding, startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../../support/fake-openai-server.js';

const LOGPROBS = { content: [{ token: 'Hi', logprob: -0.25, bytes: [72, 105], top_logprobs: [{ token: 'Hi', logprob: -0.25, bytes: [72, 105] }] }], refusal: null };
const WEATHER_CALL = { id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };
const WEATHER_TOOL = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

let oai: FakeServer<OpenAIScenario>;
let ant: FakeServer<AnthropicScenario>;
beforeAll(async () => {
  oai = await startFakeOpenAIServer();
  ant = await startFakeAnthropicServer();
});
afterAll(async () => {
  await oai.close();
  await ant.close();
});

const last = <S>(srv: FakeServer<S>) => srv.requests.at(-1)!;

describe('fake OpenAI server, driven by the openai SDK', () => {
  const client = () => new OpenAI({ apiKey: 'sk-fake', baseURL: oai.url, maxRetries: 0 });

  it('chat: n choices, logprobs, system_fingerprint and service_tier echoed; body recorded as sent', async () => {
    oai.enqueue({ kind: 'ok', content: '{"a":1}', logprobs: LOGPROBS, systemFingerprint: 'fp_fake', serviceTier: 'default', usage: { prompt_tokens: 21, completion_tokens: 6 } });
    const sent = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'Give JSON' }],
      n: 2,
      logprobs: true,
      top_logprobs: 1,
      response_format: { type: 'json_object' as const },
    };
    const answer = await client().chat.completions.create(sent);
    expect(answer.choices.map((c) => [c.index, c.message.content])).toEqual([[0, '{"a":1}'], [1, '{"a":1}']]);
    expect(answer.choices[1]!.logprobs).toEqual(LOGPROBS);
    expect(answer.system_fingerprint).toBe('fp_fake');
    expect(answer.service_tier).toBe('default');
    expect(answer.usage).toEqual({ prompt_tokens: 21, completion_tokens: 6, total_tokens: 27 });
    expect(last(oai)).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: sent });
    expect(JSON.parse(last(oai).raw)).toEqual(sent);
    expect(last(oai).headers.authorization).toBe('Bearer sk-fake');
  });

  it('chat stream with include_usage, and tool calls', async () => {
    oai.enqueue({ kind: 'ok', content: 'one two three', usage: { prompt_tokens: 5, completion_tokens: 3 } });
    const stream = await client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'count' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: unknown;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe('one two three');
    expect(usage).toEqual({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });

    oai.enqueue({ kind: 'ok', content: null, toolCalls: [WEATHER_CALL] });
    const tools = await client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'weather?' }], tools: [WEATHER_TOOL] });
    expect(tools.choices[0]!.finish_reason).toBe('tool_calls');
    expect(tools.choices[0]!.message.tool_calls).toEqual([WEATHER_CALL]);

    oai.enqueue({ kind: 'ok', content: '', toolCalls: [WEATHER_CALL] });
    const runner = client().chat.completions.stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'weather?' }], tools: [WEATHER_TOOL] });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]!.message.tool_calls?.[0]?.function).toMatchObject(WEATHER_CALL.function);
  });

  it('responses: plain object (text and function_call items) and the named SSE event sequence', async () => {
    oai.enqueue({ kind: 'ok', content: 'Plain answer.', usage: { prompt_tokens: 9, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 2 } } });
    const sent = { model: 'gpt-4o-mini', input: 'Say something', instructions: 'Be brief', max_output_tokens: 50 };
    const plain = await client().responses.create(sent);
    expect(plain.output_text).toBe('Plain answer.');
    expect(plain.usage).toEqual({ input_tokens: 9, input_tokens_details: { cached_tokens: 2 }, output_tokens: 3, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 12 });
    expect(last(oai)).toMatchObject({ path: '/v1/responses', body: sent });

    oai.enqueue({ kind: 'ok', content: '', toolCalls: [WEATHER_CALL] });
    const call = await client().responses.create({ model: 'gpt-4o-mini', input: 'weather?', tools: [{ type: 'function', name: 'get_weather', parameters: WEATHER_TOOL.function.parameters, strict: true }] });
    expect(call.output).toEqual([expect.objectContaining({ type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' })]);

    oai.enqueue({ kind: 'ok', content: 'Streamed answer here.', usage: { prompt_tokens: 4, completion_tokens: 4 } });
    const stream = client().responses.stream({ model: 'gpt-4o-mini', input: 'stream it' });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    const final = await stream.finalResponse();
    expect(text).toBe('Streamed answer here.');
    expect(final.output_text).toBe('Streamed answer here.');
    expect(final.usage?.total_tokens).toBe(8);
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(types).toContain('response.output_item.done');
  });

  it('completions: plain and streamed with include_usage', async () => {
    oai.enqueue({ kind: 'ok', content: ' world', usage: { prompt_tokens: 2, completion_tokens: 1 } });
    const plain = await client().completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'hello', max_tokens: 5, n: 2 });
    expect(plain.choices.map((c) => c.text)).toEqual([' world', ' world']);
    expect(plain.usage).toEqual({ prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 });

    oai.enqueue({ kind: 'ok', content: 'a b c', usage: { prompt_tokens: 2, completion_tokens: 3 } });
    const stream = await client().completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', stream: true, stream_options: { include_usage: true } });
    let text = '';
    let total = 0;
    for await (const c of stream) {
      text += c.choices[0]?.text ?? '';
      total = c.usage?.total_tokens ?? total;
    }
    expect(text).toBe('a b c');
    expect(total).toBe(5);
  });

  it('embeddings', async () => {
    const answer = await client().embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'], encoding_format: 'float' });
    expect(answer.data.map((d) => d.embedding)).toEqual([fakeEmbedding(0), fakeEmbedding(1)]);
  });
});

describe('fake Anthropic server, driven by @anthropic-ai/sdk', () => {
  const client = () => new Anthropic({ apiKey: 'sk-ant-fake', baseURL: ant.url, maxRetries: 0 });

  it('messages.create, messages.stream and countTokens', async () => {
    ant.enqueue({ kind: 'ok', content: 'Bonjour.', usage: { input_tokens: 11, output_tokens: 3 } });
    const sent = { model: 'claude-sonnet-4-6', max_tokens: 64, system: 'Be brief', messages: [{ role: 'user' as const, content: 'Hi' }] };
    const message = await client().messages.create(sent);
    expect(message.content).toEqual([{ type: 'text', text: 'Bonjour.' }]);
    expect(message.usage).toMatchObject({ input_tokens: 11, output_tokens: 3 });
    expect(last(ant)).toMatchObject({ path: '/v1/messages', body: sent });
    // This SDK version sends the key as a Bearer token (not x-api-key) and its own dated anthropic-version.
    expect(last(ant).headers.authorization).toBe('Bearer sk-ant-fake');
    expect(last(ant).headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);

    ant.enqueue({ kind: 'ok', content: 'one two', toolUses: [{ id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] });
    const stream = client().messages.stream({ ...sent, tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }] });
    let text = '';
    stream.on('text', (t) => (text += t));
    const final = await stream.finalMessage();
    expect(text).toBe('one two');
    expect(final.content[1]).toEqual({ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } });
    expect(final.usage.output_tokens).toBe(9);

    ant.enqueue({ kind: 'ok', usage: { input_tokens: 42, output_tokens: 0 } });
    const counted = await client().messages.countTokens({ model: sent.model, system: sent.system, messages: sent.messages });
    expect(counted).toEqual({ input_tokens: 42 });
    expect(last(ant)).toMatchObject({ path: '/v1/messages/count_tokens', body: { model: sent.model, system: sent.system, messages: sent.messages } });
  });
});

describe('fake OpenAI server, driven by the AI SDK (@ai-sdk/openai)', () => {
  const provider = () => createOpenAI({ baseURL: oai.url, apiKey: 'sk-fake' });

  it('generateText goes to /responses by default and reads its usage', async () => {
    oai.enqueue({ kind: 'ok', content: 'From the responses API.', usage: { prompt_tokens: 13, completion_tokens: 5 } });
    const result = await generateText({ model: provider()('gpt-4o-mini'), prompt: 'Hi', maxRetries: 0 });
    expect(result.text).toBe('From the responses API.');
    expect(result.usage).toMatchObject({ inputTokens: 13, outputTokens: 5, totalTokens: 18 });
    expect(last(oai).path).toBe('/v1/responses');
  });

  it('generateObject, streamText and embed', async () => {
    oai.enqueue({ kind: 'ok', content: '{"city":"Paris","days":3}' });
    const { object } = await generateObject({ model: provider()('gpt-4o-mini'), schema: z.object({ city: z.string(), days: z.number() }), prompt: 'Plan', maxRetries: 0 });
    expect(object).toEqual({ city: 'Paris', days: 3 });
    expect((last(oai).body as { text: { format: { type: string } } }).text.format.type).toBe('json_schema');

    oai.enqueue({ kind: 'ok', content: 'streamed by the AI SDK', usage: { prompt_tokens: 3, completion_tokens: 4 } });
    const streamed = streamText({ model: provider()('gpt-4o-mini'), prompt: 'go', maxRetries: 0 });
    let text = '';
    for await (const t of streamed.textStream) text += t;
    expect(text).toBe('streamed by the AI SDK');
    expect((await streamed.usage).totalTokens).toBe(7);

    const { embedding } = await embed({ model: provider().embedding('text-embedding-3-small'), value: 'sunny day', maxRetries: 0 });
    expect(embedding).toEqual(fakeEmbedding(0));
    expect(last(oai).path).toBe('/v1/embeddings');
  });
});

describe('fake OpenAI server, driven by LangChain ChatOpenAI', () => {
  const model = () => new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'sk-fake', configuration: { baseURL: oai.url }, maxRetries: 0 });

  it('invoke and withStructuredOutput', async () => {
    oai.enqueue({ kind: 'ok', content: 'LangChain hello.', usage: { prompt_tokens: 8, completion_tokens: 3 } });
    const message = await model().invoke('Hi');
    expect(message.content).toBe('LangChain hello.');
    expect(message.usage_metadata).toMatchObject({ input_tokens: 8, output_tokens: 3, total_tokens: 11 });
    expect(last(oai).path).toBe('/v1/chat/completions');

    oai.enqueue({ kind: 'ok', content: '{"name":"Ada","age":36}' });
    const structured = await model().withStructuredOutput(z.object({ name: z.string(), age: z.number() })).invoke('Who?');
    expect(structured).toEqual({ name: 'Ada', age: 36 });
  });
});
