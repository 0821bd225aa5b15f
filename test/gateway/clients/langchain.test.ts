/**
 * LangChain's `ChatOpenAI` (`@langchain/openai`, `@langchain/core` 1.x) through the gateway: invoke,
 * stream, bound tools and withStructuredOutput reach the upstream exactly as LangChain sent them, the
 * thread pays the upstream usage (which LangChain reports as usage_metadata), an exhausted thread is a
 * 429 that LangChain tags MODEL_RATE_LIMIT with no upstream call, and a cut stream is charged.
 */
import { ChatOpenAI } from '@langchain/openai';
import { RateLimitError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  callsTo,
  expectCharged,
  expectCutStreamCharged,
  expectForwardedUnchanged,
  expectOneForwarded,
  GATEWAY_KEY,
  recordingFetch,
  setBudget,
  startClientGateway,
  type ClientGateway,
  type SentRequest,
} from './client-harness.js';

let cg: ClientGateway | undefined;
afterEach(async () => {
  await cg?.close();
  cg = undefined;
});

function chat(g: ClientGateway, thread: string, sent: SentRequest[] = []): ChatOpenAI {
  return new ChatOpenAI({
    model: 'gpt-4o-mini',
    apiKey: GATEWAY_KEY,
    maxRetries: 0,
    temperature: 0.1,
    configuration: { baseURL: `${g.url}/v1`, defaultHeaders: { 'x-thread-id': thread }, fetch: recordingFetch(sent) },
  });
}

describe('LangChain ChatOpenAI -> gateway -> OpenAI-compatible upstream', () => {
  it('invoke passes through; usage_metadata and the thread show the upstream usage', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: 'LangChain says hi.', usage: { prompt_tokens: 12, completion_tokens: 5 } });
    const sent: SentRequest[] = [];
    const message = await chat(cg, 'lc', sent).invoke([
      ['system', 'Be brief'],
      ['human', 'Say hi'],
    ]);
    expect(message.content).toBe('LangChain says hi.');
    expect(message.usage_metadata).toMatchObject({ input_tokens: 12, output_tokens: 5, total_tokens: 17 });
    expectOneForwarded(cg.openai, '/v1/chat/completions', sent[0]!);
    await expectCharged(cg, 'lc', 12, 5);
  });

  it('stream, bindTools and withStructuredOutput pass through and are charged', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: 'a streamed answer', usage: { prompt_tokens: 6, completion_tokens: 3 } });
    cg.openai.enqueue({ kind: 'ok', content: null, toolCalls: [{ id: 'call_7', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Kyiv"}' } }], usage: { prompt_tokens: 40, completion_tokens: 9 } });
    cg.openai.enqueue({ kind: 'ok', content: '{"name":"Ada","age":36}', usage: { prompt_tokens: 50, completion_tokens: 8 } });
    const sent: SentRequest[] = [];
    const model = chat(cg, 'lc-more', sent);

    let text = '';
    for await (const chunk of await model.stream('Stream please')) text += typeof chunk.content === 'string' ? chunk.content : '';
    expect(text).toBe('a streamed answer');

    const weather = { name: 'get_weather', description: 'Weather of a city', schema: z.object({ city: z.string() }) };
    const called = await model.bindTools([weather]).invoke('Weather in Kyiv?');
    expect(called.tool_calls).toEqual([expect.objectContaining({ id: 'call_7', name: 'get_weather', args: { city: 'Kyiv' } })]);

    const person = await model.withStructuredOutput(z.object({ name: z.string(), age: z.number() })).invoke('Who wrote the first program?');
    expect(person).toEqual({ name: 'Ada', age: 36 });

    const upstream = callsTo(cg.openai, '/v1/chat/completions');
    expect(upstream).toHaveLength(3);
    upstream.forEach((r, i) => expectForwardedUnchanged(r, sent[i]!));
    expect((upstream[2]!.body as { response_format: { type: string } }).response_format.type).toBe('json_schema');
    await expectCharged(cg, 'lc-more', 96, 20, 3);
  });

  it('a thread out of budget: RateLimitError tagged MODEL_RATE_LIMIT, no upstream call', async () => {
    cg = await startClientGateway();
    await setBudget(cg, 'lc-poor', 1);
    const err = await chat(cg, 'lc-poor').invoke('Hello there, how are you?').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError & { lc_error_code?: string }).lc_error_code).toBe('MODEL_RATE_LIMIT');
    expect((err as RateLimitError).status).toBe(429);
    expect(cg.openai.requests).toHaveLength(0);
  });

  it('a cut stream fails in LangChain and is charged for what it delivered', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'truncated-stream', chunks: 6 });
    let text = '';
    const err = await (async () => {
      for await (const chunk of await chat(cg!, 'lc-cut').stream('Go on')) text += typeof chunk.content === 'string' ? chunk.content : '';
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(text).toMatch(/^part0 /);
    await expectCutStreamCharged(cg, 'lc-cut');
  });
});
