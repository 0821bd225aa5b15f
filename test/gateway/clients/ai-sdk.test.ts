/**
 * The Vercel AI SDK (`ai` + `@ai-sdk/openai`, `createOpenAI({ baseURL, apiKey })`) through the gateway:
 * its default provider calls the Responses API (generateText, streamText, generateObject), `.chat()` calls
 * chat completions, `.embedding()` embeddings. Each body reaches the upstream as the SDK sent it, the
 * thread pays the upstream usage, an exhausted thread is an APICallError with statusCode 429 and no
 * upstream call, and a cut stream is charged for what it delivered.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, TypeValidationError, embed, generateObject, generateText, streamText } from 'ai';
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

function provider(g: ClientGateway, thread: string, sent: SentRequest[] = []) {
  return createOpenAI({ baseURL: `${g.url}/v1`, apiKey: GATEWAY_KEY, headers: { 'x-thread-id': thread }, fetch: recordingFetch(sent) });
}

describe('AI SDK -> gateway -> OpenAI-compatible upstream', () => {
  it('generateText (Responses API by default) passes through and is charged the upstream usage', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: 'Hello from responses.', usage: { prompt_tokens: 16, completion_tokens: 4 } });
    const sent: SentRequest[] = [];
    const result = await generateText({
      model: provider(cg, 'ai-text', sent)('gpt-4o-mini'),
      system: 'Be brief',
      prompt: 'Say hello',
      temperature: 0.4,
      maxOutputTokens: 50,
      maxRetries: 0,
      providerOptions: { openai: { store: false, user: 'u-3' } },
    });
    expect(result.text).toBe('Hello from responses.');
    expect(result.usage).toMatchObject({ inputTokens: 16, outputTokens: 4, totalTokens: 20 });
    expectOneForwarded(cg.openai, '/v1/responses', sent[0]!);
    await expectCharged(cg, 'ai-text', 16, 4);
  });

  it('streamText and generateObject over the Responses API', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: 'streamed through the gateway', usage: { prompt_tokens: 9, completion_tokens: 4 } });
    cg.openai.enqueue({ kind: 'ok', content: '{"city":"Lima","days":2}', usage: { prompt_tokens: 30, completion_tokens: 10 } });
    const sent: SentRequest[] = [];
    const p = provider(cg, 'ai-stream', sent);
    const streamed = streamText({ model: p('gpt-4o-mini'), prompt: 'stream it', maxRetries: 0 });
    let text = '';
    for await (const t of streamed.textStream) text += t;
    expect(text).toBe('streamed through the gateway');
    expect((await streamed.usage).totalTokens).toBe(13);
    const { object } = await generateObject({ model: p('gpt-4o-mini'), schema: z.object({ city: z.string(), days: z.number() }), prompt: 'Plan a trip', maxRetries: 0 });
    expect(object).toEqual({ city: 'Lima', days: 2 });
    const upstream = callsTo(cg.openai, '/v1/responses');
    expectForwardedUnchanged(upstream[0]!, sent[0]!);
    expectForwardedUnchanged(upstream[1]!, sent[1]!);
    expect((upstream[1]!.body as { text: { format: { type: string } } }).text.format.type).toBe('json_schema');
    await expectCharged(cg, 'ai-stream', 39, 14, 2);
  });

  it('.chat() models use chat completions (plain and streamed); .embedding() uses embeddings', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'ok', content: 'chat answer', usage: { prompt_tokens: 7, completion_tokens: 2 } });
    cg.openai.enqueue({ kind: 'ok', content: 'chat stream answer', usage: { prompt_tokens: 8, completion_tokens: 3 } });
    cg.openai.enqueue({ kind: 'ok', usage: { prompt_tokens: 5, completion_tokens: 0 } });
    const sent: SentRequest[] = [];
    const p = provider(cg, 'ai-chat', sent);
    const plain = await generateText({ model: p.chat('gpt-4o-mini'), prompt: 'hi', maxRetries: 0 });
    expect(plain.text).toBe('chat answer');
    const streamed = streamText({ model: p.chat('gpt-4o-mini'), prompt: 'hi again', maxRetries: 0 });
    let text = '';
    for await (const t of streamed.textStream) text += t;
    expect(text).toBe('chat stream answer');
    const { embedding } = await embed({ model: p.embedding('text-embedding-3-small'), value: 'sunny', maxRetries: 0 });
    expect(embedding).toHaveLength(4);
    const chat = callsTo(cg.openai, '/v1/chat/completions');
    expectForwardedUnchanged(chat[0]!, sent[0]!);
    expectForwardedUnchanged(chat[1]!, sent[1]!);
    expectForwardedUnchanged(callsTo(cg.openai, '/v1/embeddings')[0]!, sent[2]!);
    await expectCharged(cg, 'ai-chat', 20, 5, 3);
  });

  it('a thread out of budget is an APICallError with statusCode 429, and the upstream is not called', async () => {
    cg = await startClientGateway();
    await setBudget(cg, 'ai-poor', 1);
    const p = provider(cg, 'ai-poor');
    for (const model of [p('gpt-4o-mini'), p.chat('gpt-4o-mini')]) {
      const err = await generateText({ model, prompt: 'Hello there, how are you?', maxRetries: 0 }).catch((e: unknown) => e);
      expect(APICallError.isInstance(err)).toBe(true);
      expect((err as APICallError).statusCode).toBe(429);
      expect((err as APICallError).isRetryable).toBe(true);
    }
    expect(cg.openai.requests).toHaveLength(0);
  });

  it('a cut Responses stream is charged for what it delivered and streamText reports the error', async () => {
    cg = await startClientGateway();
    cg.openai.enqueue({ kind: 'truncated-stream', chunks: 6 });
    const streamed = streamText({ model: provider(cg, 'ai-cut')('gpt-4o-mini'), prompt: 'Go on', maxRetries: 0, onError: () => undefined });
    let text = '';
    const errors: unknown[] = [];
    for await (const part of streamed.fullStream) {
      if (part.type === 'text-delta') text += part.text;
      if (part.type === 'error') errors.push(part.error);
    }
    expect(text).toMatch(/^part0 /);
    await expectCutStreamCharged(cg, 'ai-cut');
    expect(errors).toHaveLength(1);
    // The gateway's `error` event is one the SDK's schema accepts (OpenAI's shape: type, sequence_number,
    // code, message, param), so the SDK hands it on as is instead of failing to validate it.
    expect(TypeValidationError.isInstance(errors[0])).toBe(false);
    expect(errors[0]).toMatchObject({ type: 'error', message: expect.stringMatching(/stream ended/) });
  });
});
