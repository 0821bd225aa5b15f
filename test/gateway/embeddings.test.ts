/**
 * `POST /v1/embeddings` through a real gateway in front of a real fake OpenAI server: the body is
 * forwarded unchanged, the answer comes back as the upstream sent it, the thread pays the upstream's
 * `prompt_tokens`, and the event is stored before the answer.
 */
import OpenAI, { RateLimitError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { LLMRouter } from '../../src/router/router.js';
import { MockBackend } from '../../src/providers/mock.js';
import { fakeEmbedding } from '../support/fake-openai-server.js';
import { call, errorOf, startTestGateway, type TestGateway } from './harness.js';

const MODEL = 'text-embedding-3-small';
let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

function client(g: TestGateway, thread: string): OpenAI {
  return new OpenAI({ apiKey: 'unused', baseURL: `${g.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-thread-id': thread } });
}

describe('POST /v1/embeddings (openai SDK)', () => {
  it('forwards the body unchanged, answers the upstream vectors, charges its usage and stores the event', async () => {
    gw = await startTestGateway({ maxTokensPerThread: 1_000 });
    gw.upstream!.enqueue({ kind: 'ok', usage: { prompt_tokens: 11, completion_tokens: 0 } });
    const sent = { model: MODEL, input: ['the first text', 'the second'], dimensions: 256, encoding_format: 'float' as const, user: 'u-1' };
    const { data: answer, response } = await client(gw, 'emb').embeddings.create(sent).withResponse();

    const upstreamCalls = gw.upstream!.requests.filter((r) => r.path.startsWith('/v1/embeddings'));
    expect(upstreamCalls).toHaveLength(1);
    expect(upstreamCalls[0]!.body).toEqual(sent);
    expect(answer.data.map((d) => d.embedding)).toEqual([fakeEmbedding(0, 256), fakeEmbedding(1, 256)]);
    expect(answer.usage).toEqual({ prompt_tokens: 11, total_tokens: 11 });
    expect(answer.model).toBe(MODEL);
    expect(response.headers.get('x-budget-used')).toBe('11');
    expect(response.headers.get('x-budget-limit')).toBe('1000');
    expect(response.headers.get('x-budget-remaining')).toBe('989');

    const thread = await gw.ledger.usage('emb');
    expect(thread?.totalTokens).toBe(11);
    const { events } = await gw.store.query({});
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ threadId: 'emb', model: MODEL, provider: 'openai', promptTokens: 11, completionTokens: 0, totalTokens: 11 });
    expect(events[0]!.metadata).toMatchObject({ user_id: 'u-1' });
  });

  it('a thread that cannot afford the input gets 429 (RateLimitError) and the upstream is not called', async () => {
    gw = await startTestGateway({ maxTokensPerThread: 3 });
    const err = await client(gw, 'poor')
      .embeddings.create({ model: MODEL, input: [[1, 2, 3, 4]], encoding_format: 'float' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    const body = (err as RateLimitError).error as { code?: string; type?: string };
    expect(body.code).toBe('thread_budget_exhausted');
    expect(body.type).toBe('budget_exhausted');
    expect(gw.upstream!.requests).toHaveLength(0);
    expect((await gw.ledger.usage('poor'))?.totalTokens ?? 0).toBe(0);
  });

  it('token ids are reserved exactly; without upstream usage the thread pays that count', async () => {
    gw = await startTestGateway({ maxTokensPerThread: 4 });
    gw.upstream!.enqueue({ kind: 'ok', usage: null });
    const answer = await client(gw, 'ids').embeddings.create({ model: MODEL, input: [[1, 2], [3, 4]], encoding_format: 'float' });
    expect(answer.data).toHaveLength(2);
    expect((await gw.ledger.usage('ids'))?.totalTokens).toBe(4);
  });

  it('a lying upstream (prompt_tokens above any count of the input) gets 502 IMPLAUSIBLE_USAGE; the thread pays the estimate', async () => {
    gw = await startTestGateway({ maxTokensPerThread: 1_000 });
    gw.upstream!.enqueue({ kind: 'ok', usage: { prompt_tokens: 1e12, completion_tokens: 0 } });
    const res = await call(`${gw.url}/v1/embeddings`, { body: { model: MODEL, input: [[1, 2, 3]] }, headers: { 'x-thread-id': 'liar' } });
    expect(res.status).toBe(502);
    expect(JSON.stringify(res.body)).toMatch(/promptTokens 1000000000000 is above any possible count of this prompt \(at most \d+\)/);
    expect((await gw.ledger.usage('liar'))?.totalTokens).toBe(3);
    const { events } = await gw.store.query({ threadId: 'liar' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ promptTokens: 3, totalTokens: 3 });
  });

  it('an embedding that crosses a budget threshold says so in x-budget-threshold, as chat does', async () => {
    gw = await startTestGateway({ maxTokensPerThread: 12 });
    gw.upstream!.enqueue({ kind: 'ok', usage: { prompt_tokens: 11, completion_tokens: 0 } });
    const { response } = await client(gw, 'near').embeddings.create({ model: MODEL, input: 'the first text', encoding_format: 'float' }).withResponse();
    expect(response.headers.get('x-budget-used')).toBe('11');
    expect(response.headers.get('x-budget-threshold')).toBe('critical; percent=90');
  });

  it('a bad input is a 400 naming input, with no upstream call', async () => {
    gw = await startTestGateway();
    for (const input of [undefined, '', [], [1, 'a'], [[]], { text: 'x' }, [1.5]]) {
      const res = await call(`${gw.url}/v1/embeddings`, { body: { model: MODEL, input } });
      expect(res.status).toBe(400);
      expect(errorOf(res.body).param).toBe('input');
      expect(errorOf(res.body).message).toMatch(/^input: /);
    }
    const noModel = await call(`${gw.url}/v1/embeddings`, { body: { input: 'x' } });
    expect(noModel.status).toBe(400);
    expect(errorOf(noModel.body).param).toBe('model');
    expect(gw.upstream!.requests).toHaveLength(0);
  });

  it('a failing upstream releases the hold', async () => {
    gw = await startTestGateway({ maxTokensPerThread: 1_000 });
    gw.upstream!.enqueue({ kind: 'status', status: 500 });
    const res = await call(`${gw.url}/v1/embeddings`, { headers: { 'x-thread-id': 'f' }, body: { model: MODEL, input: 'hello' } });
    expect(res.status).toBeGreaterThanOrEqual(500);
    const usage = await gw.ledger.usage('f');
    expect(usage?.totalTokens ?? 0).toBe(0);
    expect(usage?.reservedTokens ?? 0).toBe(0);
  });

  it('the mock backend answers embeddings offline, deterministically', async () => {
    gw = await startTestGateway({ backends: [new MockBackend({ name: 'mock' })] });
    const c = client(gw, 'm');
    const a = await c.embeddings.create({ model: 'mock', input: 'same text', dimensions: 16, encoding_format: 'float' });
    const b = await c.embeddings.create({ model: 'mock', input: 'same text', dimensions: 16, encoding_format: 'float' });
    expect(a.data[0]!.embedding).toHaveLength(16);
    expect(a.data[0]!.embedding).toEqual(b.data[0]!.embedding);
    expect(a.usage.prompt_tokens).toBeGreaterThan(0);
    expect((await gw.ledger.usage('m'))?.totalTokens).toBe(a.usage.prompt_tokens * 2);
  });

  it('a model served only by backends that cannot embed is refused, naming the model', async () => {
    const chatOnly = { name: 'chat-only', provider: 'x', priority: 0, load: 0, servesModel: () => true, complete: () => Promise.reject(new Error('unused')) };
    const router = new LLMRouter({ backends: [chatOnly] });
    await expect(router.embed({ model: 'm-1', body: { model: 'm-1', input: 'x' }, inputTokens: 1 })).rejects.toThrow(/m-1.*cannot serve embeddings/);
  });
});
