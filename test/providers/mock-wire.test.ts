import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ForwardEvent, ForwardResponse, WireApi } from '../../src/core/types.js';
import { MockBackend } from '../../src/providers/mock.js';
import { estimateTextTokens, estimateTokens, tokenProfileForModel } from '../../src/tokens/estimate.js';

// The mock behind a tiny real HTTP server, driven by the official `openai` client (and by fetch for
// Anthropic's Messages, whose SDK is not a dependency yet): what the mock answers must parse as the real API.

const PATHS: Record<string, WireApi> = {
  '/v1/chat/completions': 'chat',
  '/v1/responses': 'responses',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
  '/v1/messages': 'messages',
  '/v1/messages/count_tokens': 'count_tokens',
};
const MODEL = 'gpt-4o-mini';
const profile = tokenProfileForModel(MODEL);

let server: Server;
let baseURL: string;
let client: OpenAI;
const mock = new MockBackend({ seed: 7 });
/** What the mock answered, per request: the forward result, or the stream's events. */
let answers: Array<{ api: WireApi; response?: ForwardResponse; events?: ForwardEvent[] }> = [];

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const api = PATHS[(req.url ?? '').split('?')[0] as string];
  if (req.method !== 'POST' || !api) {
    res.writeHead(404).end();
    return;
  }
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  const request = { api, model: String(body.model), body };
  if (body.stream === true) {
    const events: ForwardEvent[] = [];
    answers.push({ api, events });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for await (const event of mock.forwardStream(request)) {
      events.push(event);
      res.write(`${event.event ? `event: ${event.event}\n` : ''}data: ${event.data}\n\n`);
    }
    res.end();
    return;
  }
  const response = await mock.forward(request);
  answers.push({ api, response });
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(response.body));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: String(err) } }));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  client = new OpenAI({ apiKey: 'unused', baseURL, maxRetries: 0 });
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  answers = [];
});

const last = (): { api: WireApi; response?: ForwardResponse; events?: ForwardEvent[] } => answers[answers.length - 1] as never;
const messages = [
  { role: 'system' as const, content: 'You are terse.' },
  { role: 'user' as const, content: 'Plan the thread budget for three agents' },
];

/** Posts `body` to `path` and splits the SSE answer into its events. */
async function sse(path: string, body: unknown): Promise<Array<{ event: string; data: Record<string, unknown> }>> {
  const res = await fetch(`${baseURL}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  return (await res.text())
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n') as [string, string];
      return { event: eventLine.replace(/^event: /, ''), data: JSON.parse(dataLine.replace(/^data: /, '')) as Record<string, unknown> };
    });
}

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseURL}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe('MockBackend over HTTP, read by the openai client: chat completions', () => {
  it('answers n choices with logprobs, the usage it reports, and the fingerprint and tier', async () => {
    const answer = await client.chat.completions.create({ model: MODEL, messages, n: 2, logprobs: true, top_logprobs: 3, service_tier: 'flex' });
    expect(answer.object).toBe('chat.completion');
    expect(answer.id).toMatch(/^chatcmpl-/);
    expect(answer).toMatchObject({ model: MODEL, system_fingerprint: 'fp_mock', service_tier: 'flex' });
    expect(answer.choices.map((c) => c.index)).toEqual([0, 1]);
    const [a, b] = answer.choices.map((c) => c.message.content ?? '');
    expect(a).toMatch(/^Re: Plan the thread budget for three\./);
    expect(b).not.toBe(a);
    // choice 0 is what complete() answers for the same messages
    expect(a).toBe((await mock.complete({ model: MODEL, messages })).content);
    for (const choice of answer.choices) {
      expect(choice.finish_reason).toBe('stop');
      const tokens = choice.logprobs?.content ?? [];
      expect(tokens.map((t) => t.token).join('')).toBe(choice.message.content);
      for (const t of tokens) {
        expect(t.logprob).toBeLessThanOrEqual(0);
        expect(Buffer.from(t.bytes ?? []).toString('utf8')).toBe(t.token);
        expect(t.top_logprobs).toHaveLength(3);
        expect(t.top_logprobs[0]).toEqual({ token: t.token, logprob: t.logprob, bytes: t.bytes });
      }
    }
    const usage = last().response?.usage;
    const completion = estimateTextTokens(a as string, profile) + estimateTextTokens(b as string, profile);
    expect(usage).toEqual({ promptTokens: estimateTokens(messages, { model: MODEL }), completionTokens: completion, totalTokens: estimateTokens(messages, { model: MODEL }) + completion });
    expect(answer.usage).toMatchObject({ prompt_tokens: usage?.promptTokens, completion_tokens: usage?.completionTokens, total_tokens: usage?.totalTokens });
  });

  it('streams role, content and finish chunks, and the usage chunk only when include_usage is set', async () => {
    const plain = await client.chat.completions.create({ model: MODEL, messages });
    const chunks = [];
    for await (const chunk of await client.chat.completions.create({ model: MODEL, messages, stream: true, stream_options: { include_usage: true } })) chunks.push(chunk);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(plain.choices[0]?.message.content);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    const usageChunk = chunks.at(-1);
    expect(usageChunk?.choices).toEqual([]);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    const events = last().events ?? [];
    expect(events.at(-1)).toEqual({ data: '[DONE]', done: true });
    expect(events.at(-2)).toMatchObject({ usageOnly: true, usage: { promptTokens: usageChunk?.usage?.prompt_tokens, completionTokens: usageChunk?.usage?.completion_tokens } });
    expect(usageChunk?.usage).toMatchObject({ prompt_tokens: plain.usage?.prompt_tokens, completion_tokens: plain.usage?.completion_tokens });
    expect(events.map((e) => e.text ?? '').join('')).toBe(plain.choices[0]?.message.content);

    const quiet = [];
    for await (const chunk of await client.chat.completions.create({ model: MODEL, messages, stream: true })) quiet.push(chunk);
    expect(quiet.some((c) => 'usage' in c)).toBe(false);
    expect(last().events?.some((e) => e.usage !== undefined)).toBe(false);
  });

  it('cuts at max_completion_tokens with finish_reason length', async () => {
    const answer = await client.chat.completions.create({ model: MODEL, messages, max_completion_tokens: 4 });
    expect(answer.choices[0]?.finish_reason).toBe('length');
    expect(answer.usage?.completion_tokens).toBe(4);
    expect((answer.choices[0]?.message.content ?? '').length).toBeGreaterThan(0);
  });

  it('calls a forced tool with arguments valid for its schema, plain and streamed (the SDK accumulates it)', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 2 }, unit: { enum: ['c', 'f'] } }, required: ['city', 'days', 'unit'] },
        },
      },
    ];
    const body = { model: MODEL, messages, tools, tool_choice: { type: 'function' as const, function: { name: 'get_weather' } } };
    const answer = await client.chat.completions.create(body);
    const call = answer.choices[0]?.message.tool_calls?.[0];
    expect(answer.choices[0]?.finish_reason).toBe('tool_calls');
    expect(answer.choices[0]?.message.content).toBeNull();
    expect(call?.type === 'function' && call.function.name).toBe('get_weather');
    const args = JSON.parse(call?.type === 'function' ? call.function.arguments : '') as Record<string, unknown>;
    expect(args).toMatchObject({ days: 2, unit: 'c' });
    expect(typeof args.city).toBe('string');
    const streamed = await client.chat.completions.stream({ ...body, tool_choice: 'required' }).finalChatCompletion();
    const streamedCall = streamed.choices[0]?.message.tool_calls?.[0];
    expect(streamedCall?.type === 'function' && JSON.parse(streamedCall.function.arguments)).toEqual(args);
    expect(streamed.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('answers response_format json_schema with a JSON object of the schema', async () => {
    const schema = {
      type: 'object',
      properties: {
        title: { type: 'string' },
        score: { type: 'number' },
        done: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string' } },
        owner: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false },
      },
      required: ['title', 'score', 'done', 'tags', 'owner'],
      additionalProperties: false,
    };
    const answer = await client.chat.completions.create({ model: MODEL, messages, response_format: { type: 'json_schema', json_schema: { name: 'plan', schema, strict: true } } });
    const value = JSON.parse(answer.choices[0]?.message.content ?? '') as Record<string, unknown>;
    expect(value).toMatchObject({ score: 1, done: true, tags: [], owner: { name: expect.any(String) } });
    expect(typeof value.title).toBe('string');
    const object = await client.chat.completions.create({ model: MODEL, messages, response_format: { type: 'json_object' } });
    expect(JSON.parse(object.choices[0]?.message.content ?? '')).toEqual({ answer: expect.stringMatching(/^Re: Plan/) });
  });
});

describe('MockBackend over HTTP, read by the openai client: responses', () => {
  const input = [{ role: 'user' as const, content: 'Plan the thread budget for three agents' }];

  it('answers a response object whose output_text the client derives', async () => {
    const answer = await client.responses.create({ model: MODEL, instructions: 'You are terse.', input });
    expect(answer).toMatchObject({ object: 'response', status: 'completed', model: MODEL, incomplete_details: null });
    expect(answer.id).toMatch(/^resp_/);
    expect(answer.output_text).toMatch(/^Re: Plan the thread budget for three\./);
    expect(answer.output).toHaveLength(1);
    expect(answer.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed' });
    const usage = last().response?.usage;
    expect(usage?.promptTokens).toBe(estimateTokens(messages, { model: MODEL }));
    expect(usage?.completionTokens).toBe(estimateTextTokens(answer.output_text, profile));
    expect(answer.usage).toEqual({
      input_tokens: usage?.promptTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: usage?.completionTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: usage?.totalTokens,
    });
    // the same text as chat for the same prompt
    expect(answer.output_text).toBe((await client.chat.completions.create({ model: MODEL, messages })).choices[0]?.message.content);
  });

  it('streams the real event sequence, numbered, and the client assembles the same response', async () => {
    const plain = await client.responses.create({ model: MODEL, input: 'Say hello' });
    const stream = client.responses.stream({ model: MODEL, input: 'Say hello' });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    const deltas = types.filter((t) => t === 'response.output_text.delta').length;
    expect(deltas).toBeGreaterThan(1);
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array<string>(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(final.output_text).toBe(plain.output_text);
    expect(final.usage).toEqual(plain.usage);
    const events = last().events ?? [];
    events.forEach((e, i) => {
      const data = JSON.parse(e.data) as { type: string; sequence_number: number };
      expect(data).toMatchObject({ type: e.event, sequence_number: i });
    });
    expect(events.at(-1)).toMatchObject({ done: true, usage: { promptTokens: plain.usage?.input_tokens, completionTokens: plain.usage?.output_tokens } });
  });

  it('stops at max_output_tokens as incomplete, calls forced functions, and writes json_schema text', async () => {
    const cut = await client.responses.create({ model: MODEL, input, max_output_tokens: 3 });
    expect(cut).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, usage: { output_tokens: 3 } });
    const tools = [{ type: 'function' as const, name: 'lookup', strict: true, parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'], additionalProperties: false } }];
    const called = await client.responses.create({ model: MODEL, input, tools, tool_choice: { type: 'function', name: 'lookup' } });
    const item = called.output[0];
    expect(item).toMatchObject({ type: 'function_call', name: 'lookup', status: 'completed' });
    expect(item?.type === 'function_call' && (JSON.parse(item.arguments) as { q: unknown }).q).toEqual(expect.any(String));
    const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false };
    const json = await client.responses.create({ model: MODEL, input, text: { format: { type: 'json_schema', name: 'n', schema, strict: true } } });
    expect(JSON.parse(json.output_text)).toEqual({ n: 1 });
    const streamed = await client.responses.stream({ model: MODEL, input, tools, tool_choice: 'required' }).finalResponse();
    expect(streamed.output[0]).toMatchObject({ type: 'function_call', name: 'lookup', arguments: item?.type === 'function_call' ? item.arguments : '' });
  });
});

describe('MockBackend over HTTP, read by the openai client: completions and embeddings', () => {
  it('answers text_completion objects with n choices and a length cap', async () => {
    const prompt = 'Once upon a time the budget';
    const answer = await client.completions.create({ model: MODEL, prompt, n: 2, max_tokens: 4 });
    expect(answer.object).toBe('text_completion');
    expect(answer.choices.map((c) => [c.index, c.finish_reason])).toEqual([[0, 'length'], [1, 'length']]);
    expect(answer.usage).toEqual({ prompt_tokens: estimateTextTokens(prompt, profile), completion_tokens: 8, total_tokens: estimateTextTokens(prompt, profile) + 8 });
    expect(last().response?.usage).toEqual({ promptTokens: answer.usage?.prompt_tokens, completionTokens: 8, totalTokens: answer.usage?.total_tokens });
  });

  it('streams text chunks, the usage chunk when asked, then [DONE]', async () => {
    const plain = await client.completions.create({ model: MODEL, prompt: 'Say hello' });
    const chunks = [];
    for await (const chunk of await client.completions.create({ model: MODEL, prompt: 'Say hello', stream: true, stream_options: { include_usage: true } })) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(plain.choices[0]?.text);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: plain.usage });
    expect(last().events?.at(-1)).toEqual({ data: '[DONE]', done: true });
  });

  it('answers embeddings as floats and as the base64 the client asks for by default', async () => {
    const floats = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'], dimensions: 6, encoding_format: 'float' });
    const decoded = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'], dimensions: 6 });
    expect(floats.data).toHaveLength(2);
    decoded.data.forEach((d, i) => {
      expect(d.embedding).toHaveLength(6);
      d.embedding.forEach((v, j) => expect(v).toBeCloseTo(floats.data[i]?.embedding[j] ?? NaN, 6));
    });
    expect(decoded.usage.prompt_tokens).toBe(last().response?.usage?.promptTokens);
    expect(last().response?.usage?.completionTokens).toBe(0);
  });
});

describe('MockBackend over HTTP: Anthropic messages and count_tokens', () => {
  const body = { model: 'claude-sonnet-4-5', max_tokens: 200, system: 'You are terse.', messages: [{ role: 'user', content: [{ type: 'text', text: 'Plan the thread budget' }] }] };

  it('answers a message with content blocks, stop reason and the four usage counters', async () => {
    const answer = await post('/messages', body);
    const usage = last().response?.usage;
    expect(answer).toMatchObject({ type: 'message', role: 'assistant', model: body.model, stop_reason: 'end_turn', stop_sequence: null });
    expect(answer.id).toMatch(/^msg_/);
    const content = answer.content as Array<{ type: string; text: string }>;
    expect(content).toEqual([{ type: 'text', text: expect.stringMatching(/^Re: Plan the thread budget\./) }]);
    expect(answer.usage).toMatchObject({ input_tokens: usage?.promptTokens, output_tokens: usage?.completionTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    expect(usage?.completionTokens).toBe(estimateTextTokens(content[0]?.text ?? '', tokenProfileForModel(body.model)));
    expect(await post('/messages/count_tokens', { model: body.model, system: body.system, messages: body.messages })).toEqual({ input_tokens: usage?.promptTokens });
    const cut = await post('/messages', { ...body, max_tokens: 2 });
    expect(cut).toMatchObject({ stop_reason: 'max_tokens', usage: { output_tokens: 2 } });
  });

  it('streams message_start, content blocks with text deltas, message_delta and message_stop', async () => {
    const plain = await post('/messages', body);
    const events = await sse('/messages', { ...body, stream: true });
    const names = events.map((e) => e.event);
    const deltas = names.filter((n) => n === 'content_block_delta').length;
    expect(names).toEqual(['message_start', 'content_block_start', 'ping', ...Array<string>(deltas).fill('content_block_delta'), 'content_block_stop', 'message_delta', 'message_stop']);
    for (const e of events) expect(e.data.type).toBe(e.event);
    expect(events[0]?.data.message).toMatchObject({ type: 'message', role: 'assistant', content: [], stop_reason: null, usage: { input_tokens: (plain.usage as { input_tokens: number }).input_tokens } });
    expect(events[1]?.data).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    const text = events.filter((e) => e.event === 'content_block_delta').map((e) => (e.data.delta as { type: string; text: string }).text).join('');
    expect(text).toBe((plain.content as Array<{ text: string }>)[0]?.text);
    expect(events.at(-2)?.data).toEqual({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: (plain.usage as { output_tokens: number }).output_tokens } });
    const recorded = last().events ?? [];
    expect(recorded.at(-1)).toMatchObject({ event: 'message_stop', done: true });
    const { input_tokens: input, output_tokens: output } = plain.usage as { input_tokens: number; output_tokens: number };
    expect(recorded[0]?.usage).toEqual({ promptTokens: input, completionTokens: 1, totalTokens: input + 1 });
    expect(recorded.at(-2)?.usage).toEqual({ promptTokens: input, completionTokens: output, totalTokens: input + output });
    expect(recorded.map((e) => e.text ?? '').join('')).toBe(text);
  });

  it('answers a forced tool with tool_use, streamed as input_json_delta', async () => {
    const tools = [{ name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' }, limit: { type: 'integer' } }, required: ['q'] } }];
    const forced = { ...body, tools, tool_choice: { type: 'tool', name: 'lookup' } };
    const answer = await post('/messages', forced);
    expect(answer.stop_reason).toBe('tool_use');
    const block = (answer.content as Array<Record<string, unknown>>)[0];
    expect(block).toMatchObject({ type: 'tool_use', name: 'lookup', input: { q: expect.any(String), limit: 1 } });
    expect(block?.id).toMatch(/^toolu_/);
    const events = await sse('/messages', { ...forced, tool_choice: { type: 'any' }, stream: true });
    expect(events[1]?.data.content_block).toMatchObject({ type: 'tool_use', name: 'lookup', input: {} });
    const json = events.filter((e) => e.event === 'content_block_delta').map((e) => (e.data.delta as { partial_json: string }).partial_json).join('');
    expect(JSON.parse(json)).toEqual(block?.input);
    expect((events.at(-2)?.data.delta as { stop_reason: string }).stop_reason).toBe('tool_use');
  });
});
