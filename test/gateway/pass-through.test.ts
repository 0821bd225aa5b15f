/**
 * The gateway's pass-through mechanics, over raw HTTP: what reaches the upstream, what the client sees
 * byte for byte, what is reserved and charged, and what is refused before any upstream call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/core/types.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { hashGatewayKey } from '../../src/gateway/key-ring.js';
import { AnthropicBackend } from '../../src/providers/anthropic.js';
import { MockBackend } from '../../src/providers/mock.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { estimateTokens } from '../../src/tokens/estimate.js';
import { startFakeAnthropicServer, type AnthropicScenario, type FakeServer } from '../support/fake-anthropic-server.js';
import { startFakeOpenAIServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { HELLO, call, errorOf, startTestGateway, type TestGateway } from './harness.js';

const KEY = 'tw-test-key';
let openai: FakeServer<OpenAIScenario>;
let anthropic: FakeServer<AnthropicScenario>;
let tg: TestGateway;

beforeAll(async () => {
  openai = await startFakeOpenAIServer();
  anthropic = await startFakeAnthropicServer();
  tg = await startTestGateway({
    keys: [{ name: 'app', sha256: hashGatewayKey(KEY), org: 'acme' }],
    backends: [
      new OpenAICompatibleBackend({ name: 'oai', baseUrl: openai.url, models: ['gpt-*'] }),
      new AnthropicBackend({ name: 'claude', baseUrl: anthropic.url, apiKey: 'sk-ant-backend', models: ['claude-*'] }),
      new MockBackend({ name: 'mock', models: ['mock-*'] }),
    ],
    ledger: new MemoryBudgetLedger({ maxTokensPerThread: 100_000 }),
  });
});
afterAll(async () => {
  await tg.close();
  await openai.close();
  await anthropic.close();
});

const auth = { authorization: `Bearer ${KEY}` };

/** POSTs and returns the status, headers and the raw text of the answer. */
async function post(path: string, body: unknown, headers: Record<string, string> = auth): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${tg.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The `data:` payloads of an SSE text, in order. */
function dataLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
}

async function used(thread: string): Promise<number> {
  return (await tg.ledger.usage(`acme/${thread}`))?.totalTokens ?? 0;
}

describe('chat streams', () => {
  it('asks the upstream for usage the client did not ask for, and shows the client neither the usage chunk nor "usage":null', async () => {
    const body = { model: 'gpt-4o-mini', messages: HELLO, stream: true, seed: 3 };
    const before = openai.requests.length;
    const r = await post('/v1/chat/completions', body, { ...auth, 'x-thread-id': 's1' });
    expect(r.status).toBe(200);
    expect(openai.requests.slice(before).map((q) => q.body)).toEqual([{ ...body, stream_options: { include_usage: true } }]);
    const data = dataLines(r.text);
    expect(data.at(-1)).toBe('[DONE]');
    expect(r.text).not.toContain('"usage"');
    expect(data.slice(0, -1).every((d) => (JSON.parse(d) as { choices: unknown[] }).choices.length > 0)).toBe(true);
    expect(await used('s1')).toBe(20);
  });

  it('adds the usage request to the client\'s own bytes, re-serialising nothing (a seed beyond 2^53 keeps its digits)', async () => {
    const text = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true,"seed":12345678901234567890,"temperature":1e0}';
    const before = openai.requests.length;
    const res = await fetch(`${tg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: text });
    await res.text();
    expect(openai.requests.slice(before).map((q) => q.raw)).toEqual([`${text.slice(0, -1)},"stream_options":{"include_usage":true}}`]);
  });

  it('sends a plain body upstream byte for byte', async () => {
    const text = '{ "model": "gpt-4o-mini",\n  "messages": [{"role":"user","content":"Hi"}], "seed": 12345678901234567890 }';
    const before = openai.requests.length;
    const res = await fetch(`${tg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: text });
    expect(res.status).toBe(200);
    expect(openai.requests.slice(before).map((q) => q.raw)).toEqual([text]);
  });

  it('passes the client\'s query string on to the upstream URL', async () => {
    const before = openai.requests.length;
    const res = await fetch(`${tg.url}/v1/chat/completions?api-version=2024-10-21&x=a%20b`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: HELLO }),
    });
    expect(res.status).toBe(200);
    expect(openai.requests.slice(before).map((q) => q.path)).toEqual(['/v1/chat/completions?api-version=2024-10-21&x=a%20b']);
  });

  it('forwards a body that asks for usage unchanged and passes the usage chunk on', async () => {
    const body = { model: 'gpt-4o-mini', messages: HELLO, stream: true, stream_options: { include_usage: true } };
    const before = openai.requests.length;
    const r = await post('/v1/chat/completions', body, { ...auth, 'x-thread-id': 's2' });
    expect(openai.requests.slice(before).map((q) => q.body)).toEqual([body]);
    const usage = dataLines(r.text).slice(0, -1).map((d) => JSON.parse(d) as { usage?: unknown }).filter((c) => c.usage);
    expect(usage).toEqual([expect.objectContaining({ usage: expect.objectContaining({ prompt_tokens: 12, completion_tokens: 8 }) })]);
  });

  it('sends the end marker only once the usage event is stored', async () => {
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth, 'x-thread-id': 's3' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: HELLO, stream: true }),
    });
    const decoder = new TextDecoder();
    let text = '';
    for await (const piece of res.body!) {
      text += decoder.decode(piece, { stream: true });
      if (text.includes('[DONE]')) break;
    }
    expect((await tg.store.query({ threadId: 'acme/s3' })).events).toHaveLength(1);
  });
});

describe('n > 1', () => {
  it('reserves the output cap once per choice: refused with no upstream call when n choices do not fit', async () => {
    const prompt = estimateTokens(HELLO as ChatMessage[], { model: 'gpt-4o-mini' });
    await tg.ledger.setBudget('acme/n1', prompt + 150);
    const before = openai.requests.length;
    const two = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: HELLO, n: 2, max_tokens: 100 }, { ...auth, 'x-thread-id': 'n1' });
    expect(two.status).toBe(429);
    expect(openai.requests.length).toBe(before);
    const one = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: HELLO, n: 1, max_tokens: 100 }, { ...auth, 'x-thread-id': 'n1' });
    expect(one.status).toBe(200);
    expect(openai.requests.at(-1)!.body).toMatchObject({ n: 1, max_tokens: 100 });
  });

  it('passes every choice of the mock back', async () => {
    const r = await post('/v1/chat/completions', { model: 'mock-1', messages: HELLO, n: 3 }, { ...auth, 'x-thread-id': 'n2' });
    const body = JSON.parse(r.text) as { choices: Array<{ index: number }>; usage: { total_tokens: number } };
    expect(body.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(await used('n2')).toBe(body.usage.total_tokens);
  });
});

describe('Responses and legacy completions', () => {
  it('charges a Responses call the usage of its answer, plain and streamed', async () => {
    const plain = await post('/v1/responses', { model: 'mock-1', input: 'Say hi', max_output_tokens: 40 }, { ...auth, 'x-thread-id': 'r1' });
    const answer = JSON.parse(plain.text) as { object: string; usage: { total_tokens: number } };
    expect(answer.object).toBe('response');
    expect(await used('r1')).toBe(answer.usage.total_tokens);
    const streamed = await post('/v1/responses', { model: 'mock-1', input: 'Say hi', stream: true }, { ...auth, 'x-thread-id': 'r2' });
    const events = streamed.text.split('\n').filter((l) => l.startsWith('event: ')).map((l) => l.slice(7));
    expect(events[0]).toBe('response.created');
    expect(events.at(-1)).toBe('response.completed');
    const completed = JSON.parse(dataLines(streamed.text).at(-1)!) as { response: { usage: { total_tokens: number } } };
    expect(await used('r2')).toBe(completed.response.usage.total_tokens);
  });

  it('refuses a background response, which it could neither budget nor meter, with no upstream call', async () => {
    const r = await post('/v1/responses', { model: 'gpt-4o-mini', input: 'hi', background: true });
    expect(r.status).toBe(400);
    expect(errorOf(JSON.parse(r.text))).toMatchObject({ param: 'background' });
  });

  it('answers a prompt nested too deeply to read with a 400 naming the field, not a 500', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const res = await fetch(`${tg.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: `{"model":"mock-1","prompt":${deep}}` });
    expect(res.status).toBe(400);
    expect(errorOf((await res.json()) as Record<string, unknown>)).toMatchObject({ param: 'prompt' });
  });

  it('lets a prompt grow by what provider-run tools add (web search): honest usage beyond the body is charged, not refused', async () => {
    openai.enqueue({ kind: 'ok', usage: { prompt_tokens: 30_000, completion_tokens: 10 } });
    const r = await post('/v1/chat/completions', { model: 'gpt-4o-search-preview', messages: HELLO, web_search_options: {} }, { ...auth, 'x-thread-id': 'ws' });
    expect(r.status).toBe(200);
    expect(await used('ws')).toBe(30_010);
  });

  it('charges legacy completions for every prompt and choice', async () => {
    const r = await post('/v1/completions', { model: 'mock-1', prompt: ['a', 'b'], n: 2, max_tokens: 5 }, { ...auth, 'x-thread-id': 'c1' });
    const body = JSON.parse(r.text) as { object: string; choices: unknown[]; usage: { total_tokens: number } };
    expect(body.object).toBe('text_completion');
    expect(body.choices).toHaveLength(4);
    expect(await used('c1')).toBe(body.usage.total_tokens);
  });

  it('refuses a Responses call for a model only a backend without that API serves, naming the backend', async () => {
    const before = anthropic.requests.length;
    const r = await post('/v1/responses', { model: 'claude-sonnet-4', input: 'hi' });
    expect(r.status).toBe(400);
    expect(errorOf(JSON.parse(r.text))).toMatchObject({ param: 'model', code: 'unsupported_api' });
    expect(errorOf(JSON.parse(r.text)).message).toContain('"claude" (anthropic)');
    expect(anthropic.requests.length).toBe(before);
  });
});

describe('Anthropic Messages', () => {
  const body = { model: 'claude-sonnet-4', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }], top_k: 5 };

  it('forwards the body unchanged with the backend key, the client version and beta; the gateway key may come as x-api-key', async () => {
    const before = anthropic.requests.length;
    const r = await post('/v1/messages', body, { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'tools-2024-05-16', 'x-thread-id': 'm1' });
    expect(r.status).toBe(200);
    const sent = anthropic.requests.slice(before);
    expect(sent.map((q) => q.body)).toEqual([body]);
    expect(sent[0]!.headers).toMatchObject({ 'x-api-key': 'sk-ant-backend', 'anthropic-version': '2023-06-01', 'anthropic-beta': 'tools-2024-05-16' });
    expect(JSON.parse(r.text)).toMatchObject({ type: 'message', usage: { input_tokens: 15, output_tokens: 9 } });
    expect(await used('m1')).toBe(24);
  });

  it('answers errors in Anthropic shape: a wrong key is authentication_error, a budget refusal rate_limit_error', async () => {
    const bad = await post('/v1/messages', body, { 'x-api-key': 'nope' });
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.text)).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    await tg.ledger.setBudget('acme/m2', 5);
    const before = anthropic.requests.length;
    const refused = await post('/v1/messages', body, { 'x-api-key': KEY, 'x-thread-id': 'm2' });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.text)).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(anthropic.requests.length).toBe(before);
  });

  it('translates a Messages call for a model an OpenAI-compatible backend serves, and names the fields it cannot translate', async () => {
    const untranslatable = await post('/v1/messages', { ...body, model: 'gpt-4o-mini' }, { 'x-api-key': KEY });
    expect(untranslatable.status).toBe(400);
    const refusal = JSON.parse(untranslatable.text) as { type: string; error: { type: string; message: string } };
    expect(refusal).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(refusal.error.message).toContain('top_k');
    const { top_k: _ignored, ...translatable } = body;
    const before = openai.requests.length;
    const r = await post('/v1/messages', { ...translatable, model: 'gpt-4o-mini', system: 'Be brief.' }, { 'x-api-key': KEY, 'x-thread-id': 'm3' });
    expect(r.status).toBe(200);
    expect(openai.requests.slice(before).map((q) => q.body)).toEqual([
      { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], max_tokens: 50 },
    ]);
    expect(JSON.parse(r.text)).toMatchObject({ type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Hello from the fake OpenAI server.' }], stop_reason: 'end_turn', usage: { input_tokens: 12, output_tokens: 8 } });
    expect(await used('m3')).toBe(20);
  });

  it('streams a translated Messages call as Anthropic events', async () => {
    const { top_k: _ignored, ...translatable } = body;
    const r = await post('/v1/messages', { ...translatable, model: 'gpt-4o-mini', stream: true }, { 'x-api-key': KEY, 'x-thread-id': 'm4' });
    const events = r.text.split('\n').filter((l) => l.startsWith('event: ')).map((l) => l.slice(7));
    expect(events[0]).toBe('message_start');
    expect(events.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(await used('m4')).toBe(20);
  });

  it('count_tokens: forwarded to Anthropic uncharged; for a model on another backend, the gateway estimate', async () => {
    const before = anthropic.requests.length;
    const native = await post('/v1/messages/count_tokens', { model: 'claude-sonnet-4', messages: [{ role: 'user', content: 'Hi' }] }, { 'x-api-key': KEY, 'x-thread-id': 'm5' });
    expect(native.status).toBe(200);
    expect(anthropic.requests.slice(before).map((q) => q.path)).toEqual(['/v1/messages/count_tokens']);
    expect(await tg.ledger.usage('acme/m5')).toBeUndefined(); // no reservation: the thread was never opened
    const estimated = await post('/v1/messages/count_tokens', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }, { 'x-api-key': KEY });
    expect(JSON.parse(estimated.text)).toEqual({ input_tokens: expect.any(Number) });
  });
});

describe('chat translated for an Anthropic backend', () => {
  it('names every field it cannot translate in one 400, with no upstream call', async () => {
    const before = anthropic.requests.length;
    const r = await call(`${tg.url}/v1/chat/completions`, {
      headers: auth,
      body: { model: 'claude-sonnet-4', messages: HELLO, response_format: { type: 'json_object' }, seed: 1 },
    });
    expect(r.status).toBe(400);
    expect(errorOf(r.body)).toMatchObject({ param: 'response_format', code: 'unsupported_parameter' });
    expect(errorOf(r.body).message).toContain('seed');
    expect(anthropic.requests.length).toBe(before);
  });
});

describe('prompt estimates of inline documents', () => {
  it('count a document\'s inline data, not only a fixed allowance', async () => {
    const { messagesPromptTokens, responsesPromptTokens } = await import('../../src/gateway/handlers/prompt-estimate.js');
    const data = 'x'.repeat(100_000);
    const doc = { role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data } }] };
    expect(messagesPromptTokens({ messages: [doc] }, 'claude-sonnet-4')).toBeGreaterThan(100_000);
    const file = { role: 'user', content: [{ type: 'input_file', filename: 'a.pdf', file_data: `data:application/pdf;base64,${data}` }] };
    expect(responsesPromptTokens({ input: [file] }, 'gpt-4o')).toBeGreaterThan(100_000);
  });
});
