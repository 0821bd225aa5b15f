import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BudgetLedger } from '../../src/budget/types.js';
import { LedgerUnavailableError } from '../../src/core/errors.js';
import { createGateway } from '../../src/gateway/create-gateway.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { estimatedUsage } from '../../src/router/accounting.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { RedisBudgetLedger } from '../../src/stores/ledgers/redis/redis-ledger.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { estimateTokens } from '../../src/tokens/estimate.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { startFakeOpenAIServer } from '../support/fake-openai-server.js';
import { HELLO, call, errorOf, startTestGateway, type TestGateway } from './harness.js';

let tg: TestGateway;

beforeAll(async () => {
  tg = await startTestGateway({ gateway: { bodyLimit: 4096 }, timeoutMs: 300 });
});
afterAll(async () => {
  await tg.close();
});
beforeEach(() => {
  tg.upstream!.setDefault({ kind: 'ok' });
});

const chat = (body: unknown, headers: Record<string, string> = {}) =>
  call(`${tg.url}/v1/chat/completions`, { headers, ...(typeof body === 'string' ? { rawBody: body } : { body }) });

/** Polls `fn` until it returns true (bounded). */
async function eventually(fn: () => Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('client mistakes are 4xx, never 500', () => {
  it('413 for a body over the limit, with or without Content-Length', async () => {
    const big = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] };
    const r = await chat(big);
    expect(r.status).toBe(413);
    expect(errorOf(r.body)).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' });
    expect(errorOf(r.body).message).toContain('4096 bytes');

    // Chunked upload (no Content-Length): cut off once it passes the limit.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${tg.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(1000));
      req.end();
    });
    expect(status).toBe(413);
    expect(tg.upstream!.requests).toHaveLength(0);
  });

  it('400 for malformed JSON and empty bodies', async () => {
    const r = await chat('{"model": "gpt-4o-mini", "messages": [');
    expect(r.status).toBe(400);
    expect(errorOf(r.body).code).toBe('invalid_json');
    expect(errorOf(r.body).message).toMatch(/not valid JSON/);
    const empty = await chat('');
    expect(empty.status).toBe(400);
    expect(errorOf(empty.body).code).toBe('missing_body');
  });

  it('400 naming the field for wrong-typed fields', async () => {
    const ok = { model: 'gpt-4o-mini', messages: HELLO };
    const cases: Array<[unknown, string]> = [
      [null, 'body'],
      [[ok], 'body'],
      ['"just a string"', 'body'],
      [{ messages: HELLO }, 'model'],
      [{ ...ok, model: 5 }, 'model'],
      [{ ...ok, messages: 'hi' }, 'messages'],
      [{ ...ok, messages: [] }, 'messages'],
      [{ ...ok, messages: [null] }, 'messages[0]'],
      [{ ...ok, messages: [{ content: 'no role' }] }, 'messages[0]'],
      [{ ...ok, n: 0 }, 'n'],
      [{ ...ok, n: 1.5 }, 'n'],
      [{ ...ok, max_tokens: '10' }, 'max_tokens'],
      [{ ...ok, max_tokens: -1 }, 'max_tokens'],
      [{ ...ok, max_completion_tokens: 1.5 }, 'max_completion_tokens'],
      [{ ...ok, stream: 'yes' }, 'stream'],
      [{ ...ok, stream_options: { include_usage: 'x' } }, 'stream_options.include_usage'],
      [{ ...ok, stream_options: 3 }, 'stream_options'],
      [{ ...ok, tools: 'x' }, 'tools'],
      [{ ...ok, user: 42 }, 'user'],
    ];
    for (const [body, param] of cases) {
      const r = typeof body === 'string' ? await chat(body) : await chat(body === null ? 'null' : body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(errorOf(r.body).param, JSON.stringify(body)).toBe(param);
      expect(errorOf(r.body).type).toBe('invalid_request_error');
    }
    const agent = await chat(ok, { 'x-agent-id': 'a'.repeat(300) });
    expect(agent.status).toBe(400);
    expect(errorOf(agent.body).param).toBe('x-agent-id');
    expect(tg.upstream!.requests).toHaveLength(0);
  });

  it('ignores unknown body fields but still serves the call', async () => {
    const r = await chat({ model: 'gpt-4o-mini', messages: HELLO, seed: 7, response_format: { type: 'text' }, logprobs: false });
    expect(r.status).toBe(200);
  });

  it('leaves fields it does not meter by to the upstream: forwarded as sent, its 400 passed on', async () => {
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'bot', content: 5 }], temperature: 5, stop: [1], tool_choice: 5, x_new_field: { a: [1] } };
    const before = tg.upstream!.requests.length;
    tg.upstream!.enqueue({ kind: 'status', status: 400, body: { error: { message: 'Invalid value: temperature', type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } } });
    const r = await chat(body);
    expect(tg.upstream!.requests.slice(before).map((q) => q.body)).toEqual([body]);
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain('temperature');
  });

  it('404 for unknown routes and 405 (with Allow) for wrong methods', async () => {
    const nf = await call(`${tg.url}/v2/whatever`);
    expect(nf.status).toBe(404);
    expect(errorOf(nf.body).code).toBe('route_not_found');
    const na = await call(`${tg.url}/v1/chat/completions`);
    expect(na.status).toBe(405);
    expect(na.headers.get('allow')).toBe('POST');
    const put = await call(`${tg.url}/v1/threads/x`, { method: 'PUT', body: {} });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, DELETE');
  });
});

describe('provider errors', () => {
  const cases: Array<[string, Parameters<NonNullable<TestGateway['upstream']>['enqueue']>[0], number, string]> = [
    ['upstream 500', { kind: 'status', status: 500, body: { error: { message: 'boom' } } }, 502, 'provider_error'],
    ['upstream 401', { kind: 'status', status: 401, body: { error: { message: 'bad key' } } }, 502, 'provider_auth_failed'],
    ['upstream 400', { kind: 'status', status: 400, body: { error: { message: 'bad param' } } }, 400, 'upstream_rejected_request'],
    ['connection reset', { kind: 'reset' }, 502, 'provider_error'],
    ['malformed body', { kind: 'malformed' }, 502, 'provider_error'],
    ['upstream hangs', { kind: 'hang' }, 504, 'provider_timeout'],
    // Last: the router then holds the backend back for the Retry-After it was given (200 ms, within the
    // 300 ms backend timeout: a longer one would make the next calls fail at once instead of waiting).
    ['upstream 429', { kind: 'status', status: 429, headers: { 'retry-after-ms': '200' }, body: { error: { message: 'slow down' } } }, 503, 'provider_rate_limited'],
  ];
  for (const [name, scenario, status, code] of cases) {
    it(`${name} → ${status} ${code}, reservation released`, async () => {
      const thread = `perr-${status}-${code}-${name.replace(/\W/g, '')}`;
      tg.upstream!.enqueue(scenario);
      const r = await chat({ model: 'gpt-4o-mini', messages: HELLO, max_tokens: 50 }, { 'x-thread-id': thread });
      expect(r.status).toBe(status);
      expect(errorOf(r.body).code).toBe(code);
      expect(typeof errorOf(r.body).message).toBe('string');
      if (code === 'provider_rate_limited') expect(r.headers.get('retry-after')).toBe('1');
      const t = await call(`${tg.url}/v1/threads/${thread}`);
      expect(t.body).toMatchObject({ reserved_tokens: 0, total_tokens: 0 });
    });
  }

  it('a stream cut by the provider ends with an SSE error event and charges what was delivered', async () => {
    tg.upstream!.enqueue({ kind: 'truncated-stream', chunks: 3 });
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-thread-id': 'cut' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: HELLO, stream: true }),
    });
    expect(res.status).toBe(200);
    const raw = await res.text();
    const events = raw.split('\n\n').filter(Boolean).map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
    const last = events.at(-1)!;
    expect(last.error).toMatchObject({ type: 'server_error', code: 'provider_error' });
    expect(raw).not.toContain('[DONE]');
    const text = events.flatMap((e) => ((e.choices as Array<{ delta: { content?: string } }>) ?? []).map((c) => c.delta.content ?? '')).join('');
    expect(text).toBe('part0 part1 part2 ');
    const expected = estimatedUsage(estimateTokens(HELLO as never), text);
    await eventually(async () => (await call(`${tg.url}/v1/threads/cut`)).body.reserved_tokens === 0);
    const t = await call(`${tg.url}/v1/threads/cut`);
    expect(t.body).toMatchObject({ prompt_tokens: expected.promptTokens, completion_tokens: expected.completionTokens, reserved_tokens: 0 });
  });
});

describe('client disconnect mid-stream', () => {
  it('stops reading upstream, charges what was delivered and releases the reservation', async () => {
    const words = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    tg.upstream!.enqueue({ kind: 'ok', content: words, chunkDelayMs: 40 });
    const abort = new AbortController();
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-thread-id': 'leaver' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: HELLO, stream: true, max_tokens: 500 }),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let delivered = '';
    let contentDeltas = 0;
    while (contentDeltas < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let sep: number;
      while ((sep = buffer.indexOf('\n\n')) !== -1) {
        const event = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        const chunk = JSON.parse(event.slice(6)) as { choices: Array<{ delta: { content?: string } }> };
        const piece = chunk.choices[0]?.delta.content;
        if (piece) {
          delivered += piece;
          contentDeltas++;
        }
      }
    }
    abort.abort();
    await reader.cancel().catch(() => undefined);

    await eventually(async () => {
      const t = await call(`${tg.url}/v1/threads/leaver`);
      return t.body.reserved_tokens === 0 && t.body.request_count === 1;
    });
    const expected = estimatedUsage(estimateTokens(HELLO as never), delivered);
    const t = await call(`${tg.url}/v1/threads/leaver`);
    expect(t.body).toMatchObject({
      prompt_tokens: expected.promptTokens,
      completion_tokens: expected.completionTokens,
      reserved_tokens: 0,
      request_count: 1,
    });
    expect(expected.completionTokens).toBeGreaterThan(0);
    // The event was recorded with the same charge.
    const events = (await tg.store.query({ threadId: 'leaver' })).events;
    expect(events).toHaveLength(1);
    expect(events[0]!.completionTokens).toBe(expected.completionTokens);
  });
});

describe('budget ledger unavailable', () => {
  it('answers 503 ledger_unavailable and calls no provider', async () => {
    const inner = new MemoryBudgetLedger();
    const down: BudgetLedger = {
      reserve: () => Promise.reject(new LedgerUnavailableError('redis down (test)')),
      settle: (r, u) => inner.settle(r, u),
      release: (r) => inner.release(r),
      usage: () => Promise.reject(new LedgerUnavailableError('redis down (test)')),
      setBudget: (t, m) => inner.setBudget(t, m),
      endThread: (t) => inner.endThread(t),
      onThreshold: (l) => inner.onThreshold(l),
      close: () => inner.close(),
    };
    const g = await startTestGateway({ ledger: down });
    try {
      const r = await call(`${g.url}/v1/chat/completions`, { headers: { 'x-thread-id': 't' }, body: { model: 'm', messages: HELLO } });
      expect(r.status).toBe(503);
      expect(errorOf(r.body)).toMatchObject({ type: 'server_error', code: 'ledger_unavailable' });
      expect(errorOf(r.body).message).toContain('redis down (test)');
      const t = await call(`${g.url}/v1/threads/t`);
      expect(t.status).toBe(503);
      expect(g.upstream!.requests).toHaveLength(0);
    } finally {
      await g.close();
    }
  });

  it('with a real Redis ledger pointed at a closed port: 503, no crash', async () => {
    const ledger = new RedisBudgetLedger({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 200, keyPrefix: 'tw-gw-down:', onError: () => undefined });
    const g = await startTestGateway({ ledger });
    try {
      const r = await call(`${g.url}/v1/chat/completions`, { headers: { 'x-thread-id': 't' }, body: { model: 'm', messages: HELLO } });
      expect(r.status).toBe(503);
      // Refused by the readiness gate once it has seen Redis down, or by the ledger on the first call.
      expect(['not_ready', 'ledger_unavailable']).toContain(errorOf(r.body).code);
      expect(g.upstream!.requests).toHaveLength(0);
      expect((await call(`${g.url}/healthz`)).status).toBe(200);
    } finally {
      await g.close();
    }
  });
});

describe('graceful shutdown', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tw-gw-shutdown-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['inline', 'thread'] as const)('finishes in-flight requests (plain and streaming), refuses new connections, flushes the store (%s writer)', async (writer) => {
    const upstream = await startFakeOpenAIServer();
    const path = join(dir, `usage-${writer}.db`);
    const store = new SqliteUsageStore({ path, writer });
    const router = new LLMRouter({
      backends: [new OpenAICompatibleBackend({ name: 'fake', baseUrl: upstream.url, models: '*' })],
      ledger: new MemoryBudgetLedger(),
      tracker: new UsageTracker(),
      retries: { maxAttempts: 1 },
    });
    const gateway = createGateway({ router, store, logError: () => undefined });
    const { port } = await gateway.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${port}`;
    try {
      upstream.enqueue({ kind: 'ok', content: 'slow plain answer', delayMs: 300 });
      upstream.enqueue({ kind: 'ok', content: 'a slow streamed answer in several words', chunkDelayMs: 40 });
      const plain = call(`${url}/v1/chat/completions`, { headers: { 'x-thread-id': 'sd-1' }, body: { model: 'm', messages: HELLO } });
      const streamed = fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-thread-id': 'sd-2' },
        body: JSON.stringify({ model: 'm', messages: HELLO, stream: true }),
      }).then(async (r) => ({ status: r.status, text: await r.text() }));
      await eventually(async () => upstream.requests.length === 2);

      const closed = gateway.close();
      const health = await fetch(`${url}/healthz`).then(
        (r) => r.status,
        () => 'refused',
      );
      expect(health).toBe('refused');

      const p = await plain;
      expect(p.status).toBe(200);
      expect((p.body.choices as Array<{ message: { content: string } }>)[0]!.message.content).toBe('slow plain answer');
      const s = await streamed;
      expect(s.status).toBe(200);
      expect(s.text.trimEnd().endsWith('data: [DONE]')).toBe(true);
      await closed;
      expect(gateway.server.listening).toBe(false);
    } finally {
      await gateway.close();
      await upstream.close();
    }
    // Both calls were persisted and the store was closed cleanly.
    const reopened = new SqliteUsageStore({ path });
    try {
      expect(await reopened.count({})).toBe(2);
    } finally {
      await reopened.close();
    }
  });
});
