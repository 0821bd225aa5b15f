/**
 * The official `openai` SDK through the gateway: chat (every field, n > 1, streams, tools), the Responses
 * API (plain and SSE) and legacy completions reach the upstream exactly as the SDK sent them, the answer
 * comes back as the upstream sent it, the thread pays the upstream's usage, an exhausted thread gets a
 * RateLimitError without any upstream call, and a cut stream is charged for what it delivered.
 */
import OpenAI, { BadRequestError, RateLimitError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import {
  callsTo,
  expectCharged,
  expectCutStreamCharged,
  expectForwardedUnchanged,
  expectOneForwarded,
  GATEWAY_KEY,
  OPENAI_UPSTREAM_KEY,
  recordingFetch,
  setBudget,
  startClientGateway,
  type ClientGateway,
  type SentRequest,
} from './client-harness.js';

const LOGPROBS = { content: [{ token: 'Hi', logprob: -0.5, bytes: [72, 105], top_logprobs: [{ token: 'Hi', logprob: -0.5, bytes: [72, 105] }] }], refusal: null };
const WEATHER = { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
const CALL = { id: 'call_9', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } };

let cg: ClientGateway | undefined;
afterEach(async () => {
  await cg?.close();
  cg = undefined;
});

function client(g: ClientGateway, thread: string, sent: SentRequest[] = []): OpenAI {
  return new OpenAI({ apiKey: GATEWAY_KEY, baseURL: `${g.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-thread-id': thread }, fetch: recordingFetch(sent) });
}

describe('openai SDK -> gateway -> OpenAI-compatible upstream: chat completions', () => {
  it('every field (n: 2, logprobs, response_format, seed, tools...) passes through; the answer and usage come back unchanged', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: '{"ok":true}', logprobs: LOGPROBS, systemFingerprint: 'fp_42', serviceTier: 'default', usage: { prompt_tokens: 31, completion_tokens: 9 } });
    const sent: SentRequest[] = [];
    const answer = await client(cg, 'chat-all', sent).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Answer in JSON' },
        { role: 'user', content: [{ type: 'text', text: 'Is it ok?' }] },
      ],
      n: 2,
      logprobs: true,
      top_logprobs: 1,
      response_format: { type: 'json_object' },
      seed: 7,
      temperature: 0.2,
      max_completion_tokens: 100,
      tools: [WEATHER],
      tool_choice: 'none',
      parallel_tool_calls: false,
      metadata: { run: 'x' },
      store: false,
      user: 'end-user-1',
      logit_bias: { '50256': -100 },
      stop: ['\n\n'],
    });
    const upstream = expectOneForwarded(cg.openai, '/v1/chat/completions', sent[0]!);
    expect(upstream.headers.authorization).toBe(`Bearer ${OPENAI_UPSTREAM_KEY}`);
    expect(answer.choices).toHaveLength(2);
    expect(answer.choices.map((c) => c.message.content)).toEqual(['{"ok":true}', '{"ok":true}']);
    expect(answer.choices[1]!.logprobs).toEqual(LOGPROBS);
    expect(answer.system_fingerprint).toBe('fp_42');
    expect(answer.service_tier).toBe('default');
    expect(answer.usage).toEqual({ prompt_tokens: 31, completion_tokens: 9, total_tokens: 40 });
    await expectCharged(cg, 'chat-all', 31, 9);
  });

  it('a stream passes through (include_usage may be added) and the thread pays the usage of its last chunk', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: 'one two three four', usage: { prompt_tokens: 14, completion_tokens: 4 } });
    const sent: SentRequest[] = [];
    const stream = await client(cg, 'chat-stream', sent).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'count to four' }],
      stream: true,
      n: 1,
      temperature: 0,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('one two three four');
    expectForwardedUnchanged(callsTo(cg.openai, '/v1/chat/completions')[0]!, sent[0]!);
    await expectCharged(cg, 'chat-stream', 14, 4);
  });

  it('a stream with n: 2 delivers both choices and is charged once, the upstream usage', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: 'red green blue', usage: { prompt_tokens: 10, completion_tokens: 6 }, systemFingerprint: 'fp_n2' });
    const sent: SentRequest[] = [];
    const stream = await client(cg, 'chat-n2', sent).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'three colours' }],
      stream: true,
      stream_options: { include_usage: true },
      n: 2,
    });
    const texts = ['', ''];
    const fingerprints = new Set<string | undefined>();
    let usage: unknown;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) texts[choice.index] += choice.delta.content ?? '';
      fingerprints.add(chunk.system_fingerprint);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(texts).toEqual(['red green blue', 'red green blue']);
    expect([...fingerprints]).toEqual(['fp_n2']);
    expect(usage).toEqual({ prompt_tokens: 10, completion_tokens: 6, total_tokens: 16 });
    expectForwardedUnchanged(callsTo(cg.openai, '/v1/chat/completions')[0]!, sent[0]!);
    await expectCharged(cg, 'chat-n2', 10, 6);
  });

  it('tool calls come back as the upstream sent them, plain and streamed', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: null, toolCalls: [CALL], usage: { prompt_tokens: 20, completion_tokens: 7 } });
    cg.openai.enqueue({ kind: 'ok', content: '', toolCalls: [CALL], usage: { prompt_tokens: 20, completion_tokens: 7 } });
    const sent: SentRequest[] = [];
    const c = client(cg, 'chat-tools', sent);
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Weather in Oslo?' }], tools: [WEATHER], tool_choice: 'required' as const };
    const plain = await c.chat.completions.create(body);
    expect(plain.choices[0]!.message.tool_calls).toEqual([CALL]);
    const streamed = await c.chat.completions.stream(body).finalChatCompletion();
    expect(streamed.choices[0]!.message.tool_calls?.[0]).toMatchObject({ id: 'call_9', function: CALL.function });
    const upstream = callsTo(cg.openai, '/v1/chat/completions');
    expectForwardedUnchanged(upstream[0]!, sent[0]!);
    expectForwardedUnchanged(upstream[1]!, sent[1]!);
    await expectCharged(cg, 'chat-tools', 40, 14, 2);
  });

  it('a thread out of budget gets RateLimitError (429) and the upstream is not called', async () => {
    cg = await startClientGateway();
    await setBudget(cg, 'chat-poor', 1);
    for (const stream of [false, true]) {
      const err = await client(cg, 'chat-poor')
        .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there, how are you?' }], stream })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RateLimitError);
      expect((err as RateLimitError).status).toBe(429);
      expect((err as RateLimitError).code).toBe('thread_budget_exhausted');
    }
    expect(cg.openai.requests).toHaveLength(0);
  });

  it('a cut stream is charged for what it delivered', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'truncated-stream', chunks: 6 });
    let text = '';
    const err = await (async () => {
      const stream = await client(cg!, 'chat-cut').chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Go on' }], stream: true });
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(text).toMatch(/^part0 /);
    expect(err).toBeDefined();
    await expectCutStreamCharged(cg, 'chat-cut');
  });
});

describe('openai SDK -> gateway: upstream refusals', () => {
  it('an upstream 400 reaches the SDK as BadRequestError naming the upstream message; the thread pays nothing', async () => {
    cg = await startClientGateway();
    const upstreamError = { error: { message: 'Unsupported value: n', type: 'invalid_request_error', param: 'n', code: 'unsupported_value' } };
    cg.openai.enqueue({ kind: 'status', status: 400, body: upstreamError }, { kind: 'status', status: 400, body: upstreamError });
    const c = client(cg, 'refused');
    const errors = [
      await c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], n: 9 }).catch((e: unknown) => e),
      await c.responses.create({ model: 'gpt-4o-mini', input: 'hi' }).catch((e: unknown) => e),
    ];
    for (const err of errors) {
      expect(err).toBeInstanceOf(BadRequestError);
      expect((err as BadRequestError).message).toContain('Unsupported value: n');
      expect((err as BadRequestError).type).toBe('invalid_request_error');
    }
    await expectCharged(cg, 'refused', 0, 0, 0);
  });
});

describe('openai SDK -> gateway: the Responses API', () => {
  it('responses.create passes through and the thread pays input_tokens/output_tokens', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: 'A plain response.', usage: { prompt_tokens: 17, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 3 } } });
    const sent: SentRequest[] = [];
    const answer = await client(cg, 'resp', sent).responses.create({
      model: 'gpt-4o-mini',
      instructions: 'Be brief',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Say something' }] }],
      max_output_tokens: 64,
      temperature: 0.3,
      text: { format: { type: 'text' } },
      store: false,
      metadata: { k: 'v' },
    });
    expect(answer.output_text).toBe('A plain response.');
    expect(answer.usage).toMatchObject({ input_tokens: 17, output_tokens: 5, total_tokens: 22, input_tokens_details: { cached_tokens: 3 } });
    expectOneForwarded(cg.openai, '/v1/responses', sent[0]!);
    await expectCharged(cg, 'resp', 17, 5);
  });

  it('a function call and a stream (named SSE events) come back as sent; the stream pays response.completed usage', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: '', toolCalls: [CALL], usage: { prompt_tokens: 25, completion_tokens: 8 } });
    cg.openai.enqueue({ kind: 'ok', content: 'Streaming through the gateway.', usage: { prompt_tokens: 11, completion_tokens: 6 } });
    const sent: SentRequest[] = [];
    const c = client(cg, 'resp-stream', sent);
    const call = await c.responses.create({ model: 'gpt-4o-mini', input: 'Weather?', tools: [{ type: 'function', name: 'get_weather', parameters: WEATHER.function.parameters, strict: true }] });
    expect(call.output).toEqual([expect.objectContaining({ type: 'function_call', call_id: 'call_9', arguments: '{"city":"Oslo"}' })]);
    const stream = c.responses.stream({ model: 'gpt-4o-mini', input: 'stream please' });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    expect(final.output_text).toBe('Streaming through the gateway.');
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    const upstream = callsTo(cg.openai, '/v1/responses');
    expectForwardedUnchanged(upstream[0]!, sent[0]!);
    expectForwardedUnchanged(upstream[1]!, sent[1]!);
    await expectCharged(cg, 'resp-stream', 36, 14, 2);
  });

  it('out of budget: RateLimitError, no upstream call; a cut stream is charged for what it delivered', async () => {
    cg = await startClientGateway();
    await setBudget(cg, 'resp-poor', 1);
    for (const stream of [false, true]) {
      const err = await client(cg, 'resp-poor').responses.create({ model: 'gpt-4o-mini', input: 'Hello there, how are you?', stream }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RateLimitError);
    }
    expect(cg.openai.requests).toHaveLength(0);

    // A Responses stream reports its failure as an `error` event (which the SDK yields, not throws), as OpenAI does.
    cg.openai.enqueue({ kind: 'truncated-stream', chunks: 5 });
    let text = '';
    const types: string[] = [];
    const stream = await client(cg, 'resp-cut').responses.create({ model: 'gpt-4o-mini', input: 'Go on', stream: true });
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    expect(text).toMatch(/^part0 /);
    expect(types.at(-1)).toBe('error');
    expect(types).not.toContain('response.completed');
    await expectCutStreamCharged(cg, 'resp-cut');
  });
});

describe('openai SDK -> gateway: legacy completions', () => {
  it('plain (n: 2) and streamed completions pass through and are charged the upstream usage', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: ' world', usage: { prompt_tokens: 3, completion_tokens: 2 } });
    cg.openai.enqueue({ kind: 'ok', content: 'a b c', usage: { prompt_tokens: 4, completion_tokens: 3 } });
    const sent: SentRequest[] = [];
    const c = client(cg, 'cmpl', sent);
    const plain = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'hello', max_tokens: 5, n: 2, echo: false, suffix: '!', logprobs: 1 });
    expect(plain.choices.map((x) => x.text)).toEqual([' world', ' world']);
    expect(plain.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
    const stream = await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['x'], max_tokens: 5, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe('a b c');
    const upstream = callsTo(cg.openai, '/v1/completions');
    expect(upstream).toHaveLength(2);
    expectForwardedUnchanged(upstream[0]!, sent[0]!);
    expectForwardedUnchanged(upstream[1]!, sent[1]!);
    await expectCharged(cg, 'cmpl', 7, 5, 2);
  });

  it('out of budget: RateLimitError, no upstream call; a cut stream is charged for what it delivered', async () => {
    cg = await startClientGateway();
    await setBudget(cg, 'cmpl-poor', 1);
    const err = await client(cg, 'cmpl-poor').completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Hello there, how are you?' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect(cg.openai.requests).toHaveLength(0);

    cg.openai.enqueue({ kind: 'truncated-stream', chunks: 5 });
    let text = '';
    const cut = await (async () => {
      const stream = await client(cg!, 'cmpl-cut').completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Go on', stream: true });
      for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    })().catch((e: unknown) => e);
    expect(text).toMatch(/^part0 /);
    expect(cut).toBeDefined();
    await expectCutStreamCharged(cg, 'cmpl-cut');
  });
});

describe('openai SDK -> gateway: embeddings', () => {
  it('pass through unchanged and are charged prompt_tokens', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', usage: { prompt_tokens: 6, completion_tokens: 0 } });
    const sent: SentRequest[] = [];
    const answer = await client(cg, 'emb', sent).embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 8, encoding_format: 'float' });
    expect(answer.data).toHaveLength(2);
    expectForwardedUnchanged(callsTo(cg.openai, '/v1/embeddings')[0]!, sent[0]!);
    await expectCharged(cg, 'emb', 6, 0);
  });
});
