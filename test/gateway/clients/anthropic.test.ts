/**
 * The official `@anthropic-ai/sdk` through the gateway to an Anthropic backend: Messages (plain and
 * streamed) and count_tokens reach the upstream exactly as the SDK sent them, with the BACKEND's key and
 * the client's `anthropic-version` / `anthropic-beta`; the gateway key is accepted as Bearer (this SDK's
 * default) and as `x-api-key`; refusals come in Anthropic's error shape, so the SDK raises its own
 * AuthenticationError / RateLimitError; a cut stream is charged for what it delivered.
 */
import Anthropic, { APIError, AuthenticationError, BadRequestError, RateLimitError } from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ANTHROPIC_UPSTREAM_KEY,
  callsTo,
  expectCharged,
  expectCutStreamCharged,
  expectForwardedUnchanged,
  expectOneForwarded,
  GATEWAY_KEY,
  recordingFetch,
  setBudget,
  startClientGateway,
  threadOf,
  type ClientGateway,
  type SentRequest,
} from './client-harness.js';

const MODEL = 'claude-sonnet-4-6';
const HI = [{ role: 'user' as const, content: 'Hello, Claude' }];

let cg: ClientGateway | undefined;
afterEach(async () => {
  await cg?.close();
  cg = undefined;
});

interface ClientOptions {
  thread: string;
  sent?: SentRequest[];
  /** Present the gateway key as `x-api-key` instead of the SDK's Bearer default. */
  asApiKeyHeader?: boolean;
  key?: string;
  headers?: Record<string, string>;
}

function client(g: ClientGateway, o: ClientOptions): Anthropic {
  const key = o.key ?? GATEWAY_KEY;
  return new Anthropic({
    baseURL: g.url,
    maxRetries: 0,
    fetch: recordingFetch(o.sent ?? []),
    ...(o.asApiKeyHeader ? { apiKey: null, authToken: null, defaultHeaders: { 'x-api-key': key, 'x-thread-id': o.thread, ...o.headers } } : { apiKey: key, defaultHeaders: { 'x-thread-id': o.thread, ...o.headers } }),
  });
}

describe('@anthropic-ai/sdk -> gateway -> Anthropic upstream', () => {
  it('messages.create passes through with the backend key and the client version/beta headers; the thread pays the usage', async () => {
    cg = await startClientGateway();
    cg.anthropic.enqueue({ kind: 'ok', content: 'Bonjour!', usage: { input_tokens: 23, output_tokens: 4 } });
    const sent: SentRequest[] = [];
    const c = client(cg, { thread: 'msg', sent, headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } });
    const message = await c.messages.create({
      model: MODEL,
      max_tokens: 128,
      system: [{ type: 'text', text: 'Be brief', cache_control: { type: 'ephemeral' } }],
      messages: [...HI, { role: 'assistant', content: 'Hi!' }, { role: 'user', content: [{ type: 'text', text: 'Say bonjour' }] }],
      stop_sequences: ['END'],
      metadata: { user_id: 'u-7' },
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'auto' },
    });
    expect(message.content).toEqual([{ type: 'text', text: 'Bonjour!' }]);
    expect(message.usage).toMatchObject({ input_tokens: 23, output_tokens: 4 });

    const upstream = expectOneForwarded(cg.anthropic, '/v1/messages', sent[0]!);
    const h = upstream.headers;
    expect(h['x-api-key']).toBe(ANTHROPIC_UPSTREAM_KEY);
    expect(JSON.stringify(h)).not.toContain(GATEWAY_KEY);
    expect(h['anthropic-version']).toBe(sent[0]!.headers.get('anthropic-version'));
    expect(h['anthropic-beta']).toBe('prompt-caching-2024-07-31');
    await expectCharged(cg, 'msg', 23, 4);
  });

  it('the beta API (betas -> anthropic-beta, and ?beta=true as Claude Code adds it) passes through', async () => {
    cg = await startClientGateway();
    cg.anthropic.enqueue({ kind: 'ok', content: 'beta ok', usage: { input_tokens: 8, output_tokens: 2 } });
    const sent: SentRequest[] = [];
    const message = await client(cg, { thread: 'msg-beta', sent }).beta.messages.create({ model: MODEL, max_tokens: 32, messages: HI, betas: ['context-management-2025-06-27'] }, { query: { beta: 'true' } });
    expect(message.content).toEqual([{ type: 'text', text: 'beta ok' }]);
    expect(new URL(sent[0]!.url).search).toBe('?beta=true');
    const upstream = expectOneForwarded(cg.anthropic, '/v1/messages', sent[0]!);
    expect(upstream.headers['anthropic-beta']).toBe('context-management-2025-06-27');
    await expectCharged(cg, 'msg-beta', 8, 2);
  });

  it('messages.stream passes through; the thread pays message_start input + message_delta output', async () => {
    cg = await startClientGateway();
    cg.anthropic.enqueue({ kind: 'ok', content: 'one two three', usage: { input_tokens: 19, output_tokens: 7 }, toolUses: [{ id: 'toolu_1', name: 'get_weather', input: { city: 'Rome' } }] });
    const sent: SentRequest[] = [];
    const stream = client(cg, { thread: 'msg-stream', sent }).messages.stream({ model: MODEL, max_tokens: 64, messages: HI });
    let text = '';
    stream.on('text', (t) => (text += t));
    const final = await stream.finalMessage();
    expect(text).toBe('one two three');
    expect(final.content[1]).toEqual({ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Rome' } });
    expect(final.usage.output_tokens).toBe(7);
    expectForwardedUnchanged(callsTo(cg.anthropic, '/v1/messages')[0]!, sent[0]!);
    await expectCharged(cg, 'msg-stream', 19, 7);
  });

  it('countTokens is forwarded unchanged and answers the upstream count (not charged)', async () => {
    cg = await startClientGateway();
    cg.anthropic.enqueue({ kind: 'ok', usage: { input_tokens: 57, output_tokens: 0 } });
    const sent: SentRequest[] = [];
    const counted = await client(cg, { thread: 'count', sent }).messages.countTokens({ model: MODEL, system: 'Be brief', messages: HI });
    expect(counted).toEqual({ input_tokens: 57 });
    const upstream = expectOneForwarded(cg.anthropic, '/v1/messages/count_tokens', sent[0]!);
    expect(upstream.headers['x-api-key']).toBe(ANTHROPIC_UPSTREAM_KEY);
    expect((await cg.gw.store.query({ threadId: 'count' })).events).toHaveLength(0);
  });

  it('the gateway key is accepted as x-api-key as well as Bearer; a wrong key is an AuthenticationError in Anthropic shape', async () => {
    cg = await startClientGateway();
    const viaHeader: SentRequest[] = [];
    await client(cg, { thread: 'auth', sent: viaHeader, asApiKeyHeader: true }).messages.create({ model: MODEL, max_tokens: 16, messages: HI });
    expect(viaHeader[0]!.headers.get('x-api-key')).toBe(GATEWAY_KEY);
    expect(viaHeader[0]!.headers.get('authorization')).toBeNull();
    const viaBearer: SentRequest[] = [];
    await client(cg, { thread: 'auth', sent: viaBearer }).messages.create({ model: MODEL, max_tokens: 16, messages: HI });
    expect(viaBearer[0]!.headers.get('authorization')).toBe(`Bearer ${GATEWAY_KEY}`);
    expect(callsTo(cg.anthropic, '/v1/messages').map((r) => r.headers['x-api-key'])).toEqual([ANTHROPIC_UPSTREAM_KEY, ANTHROPIC_UPSTREAM_KEY]);

    for (const asApiKeyHeader of [true, false]) {
      const err = await client(cg, { thread: 'auth', key: 'not-the-key', asApiKeyHeader }).messages.create({ model: MODEL, max_tokens: 16, messages: HI }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthenticationError);
      expect((err as AuthenticationError).error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    }
    expect(callsTo(cg.anthropic, '/v1/messages')).toHaveLength(2);
  });

  it('a thread out of budget gets RateLimitError (429, Anthropic shape) and the upstream is not called', async () => {
    cg = await startClientGateway();
    await setBudget(cg, 'msg-poor', 1);
    for (const stream of [false, true]) {
      const err = await client(cg, { thread: 'msg-poor' }).messages.create({ model: MODEL, max_tokens: 64, messages: HI, stream }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RateLimitError);
      expect((err as RateLimitError).status).toBe(429);
      expect((err as RateLimitError).error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    }
    expect(cg.anthropic.requests).toHaveLength(0);
    expect((await threadOf(cg, 'msg-poor')).total_tokens).toBe(0);
  });

  it('a cut stream is charged for what it delivered, and the SDK sees the stream fail', async () => {
    cg = await startClientGateway();
    cg.anthropic.enqueue({ kind: 'truncated-stream', chunks: 6 });
    let text = '';
    const stream = client(cg, { thread: 'msg-cut' }).messages.stream({ model: MODEL, max_tokens: 256, messages: HI });
    stream.on('text', (t) => (text += t));
    const err = await stream.finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(text).toMatch(/^part0 /);
    await expectCutStreamCharged(cg, 'msg-cut');
  });

  it('an upstream 400 is a BadRequestError in Anthropic shape; an error event mid-stream reaches the SDK as sent and the delivered part is charged', async () => {
    cg = await startClientGateway();
    cg.anthropic.enqueue({ kind: 'status', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: too large' } } });
    const bad = await client(cg, { thread: 'msg-err' }).messages.create({ model: MODEL, max_tokens: 10, messages: HI }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BadRequestError);
    expect((bad as BadRequestError).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens: too large') } });
    expect((await threadOf(cg, 'msg-err')).total_tokens).toBe(0);

    cg.anthropic.enqueue({ kind: 'stream-error', chunks: 4, errorType: 'overloaded_error', message: 'Overloaded' });
    let text = '';
    const stream = client(cg, { thread: 'msg-overloaded' }).messages.stream({ model: MODEL, max_tokens: 256, messages: HI });
    stream.on('text', (t) => (text += t));
    const err = await stream.finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).error).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    expect(text).toBe('part0 part1 part2 part3 ');
    await expectCutStreamCharged(cg, 'msg-overloaded');
  });
});
