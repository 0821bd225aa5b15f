/**
 * What a hostile or broken upstream, a leaving client and a long Retry-After cost through the gateway
 * (issue 11, findings 4, 8 and 10): `createGateway` in front of a real fake OpenAI server, the memory
 * ledger and a SQLite store.
 */
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { estimateTokens } from '../../src/tokens/estimate.js';
import { call, errorOf, HELLO, startTestGateway, type TestGateway } from './harness.js';

const MODEL = 'gpt-4o';
/** What the gateway reserves for HELLO with `max_tokens: 20`. */
const RESERVED = estimateTokens(HELLO as never, { model: MODEL }) + 20;

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function start(options: Parameters<typeof startTestGateway>[0] = {}): Promise<TestGateway> {
  gw = await startTestGateway({ maxTokensPerThread: 5_000, ...options });
  return gw;
}

function chat(g: TestGateway, thread: string, extra: Record<string, unknown> = {}) {
  return call(`${g.url}/v1/chat/completions`, {
    headers: { 'x-thread-id': thread },
    body: { model: MODEL, messages: HELLO, max_tokens: 20, ...extra },
  });
}

/** The stored events once there are `n` (the store commits in batches, just after the answer). */
async function storedEvents(g: TestGateway, n: number) {
  await waitFor(async () => (await g.store.count()) >= n, 5_000, `${n} stored event(s)`);
  return (await g.store.query({})).events;
}

/** Polls `check` every 10 ms for at most `ms`. */
async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

describe('a hostile upstream through the gateway', () => {
  it('(a) an endless stream with max_tokens 20 ends with an error event and is charged its reservation', async () => {
    const g = await start();
    g.upstream!.enqueue({ kind: 'endless-stream' });
    const res = await chat(g, 'a', { stream: true });
    expect(res.status).toBe(200);
    const text = String(res.body.text);
    expect(text).toMatch(/data: \{"error":\{.*"code":"provider_error"/);
    expect(text).toContain('output cap of 20 tokens');
    expect(text).not.toContain('[DONE]');
    expect(await g.ledger.usage('a')).toMatchObject({ totalTokens: RESERVED, reservedTokens: 0 });
    expect((await storedEvents(g, 1)).map((e) => e.totalTokens)).toEqual([RESERVED]);
    const metrics = (await call(`${g.url}/metrics`)).body.text as string;
    expect(metrics).toContain('tokenwarden_provider_errors_total{provider="openai",code="OUTPUT_CAP_EXCEEDED"} 1');
  });

  it('(c) usage of 1e15 is a 502, charged its reservation, and the next call of another thread is fine', async () => {
    const g = await start();
    g.upstream!.enqueue({ kind: 'ok', usage: { prompt_tokens: 12, completion_tokens: 1e15 } });
    const bad = await chat(g, 'c');
    expect(bad.status).toBe(502);
    expect(errorOf(bad.body).message).toMatch(/implausible usage/);
    expect(await g.ledger.usage('c')).toMatchObject({ totalTokens: RESERVED, reservedTokens: 0 });
    const good = await chat(g, 'other');
    expect(good.status).toBe(200);
    const events = await storedEvents(g, 2);
    expect(events.map((e) => e.threadId)).toEqual(['c', 'other']);
    expect(events.every((e) => Number.isSafeInteger(e.costNanos))).toBe(true);
  });

  it('(d) one token more than reserved is billed as reported and counted as overspend', async () => {
    const g = await start();
    g.upstream!.enqueue({ kind: 'ok', usage: { prompt_tokens: RESERVED - 20 + 1, completion_tokens: 20 } });
    const res = await chat(g, 'd');
    expect(res.status).toBe(200);
    expect(await g.ledger.usage('d')).toMatchObject({ totalTokens: RESERVED + 1, reservedTokens: 0 });
    expect((await storedEvents(g, 1)).map((e) => e.totalTokens)).toEqual([RESERVED + 1]);
    const metrics = (await call(`${g.url}/metrics`)).body.text as string;
    expect(metric(metrics, 'tokenwarden_overspend_tokens_total')).toBe(1);
  });

  it('(e) a model echoed with a NUL is stored as the requested model (the answer goes back as sent)', async () => {
    const g = await start();
    g.upstream!.enqueue({ kind: 'ok', model: 'gpt-4o\u0000evil' });
    const res = await chat(g, 'e');
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('gpt-4o\u0000evil');
    expect((await storedEvents(g, 1)).map((e) => e.model)).toEqual([MODEL]);
  });
});

describe('Retry-After through the gateway', () => {
  it('a Retry-After longer than the backend timeout gives the next call a prompt 503 with retry-after', async () => {
    const g = await start({ timeoutMs: 500 });
    g.upstream!.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '99999' } });
    expect((await chat(g, 'r')).status).toBe(503);
    const next = await chat(g, 'r');
    expect(next.status).toBe(503);
    expect(Number(next.headers.get('retry-after'))).toBeGreaterThan(25);
    expect(g.upstream!.requests).toHaveLength(1);
    expect(await g.ledger.usage('r')).toMatchObject({ totalTokens: 0, reservedTokens: 0 });
  });
});

describe('a client that leaves before a non-streaming call finishes', () => {
  it('is charged what the provider reports, and the event is stored', async () => {
    const g = await start();
    g.upstream!.setDefault({ kind: 'ok', delayMs: 300, usage: { prompt_tokens: 12, completion_tokens: 8 } });
    const body = JSON.stringify({ model: MODEL, messages: HELLO, max_tokens: 20 });
    const clients = Array.from({ length: 5 }, (_, i) => {
      const req = httpRequest(`${g.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-thread-id': `gone${i}` },
      });
      req.on('error', () => undefined);
      req.end(body);
      return req;
    });
    await waitFor(async () => g.upstream!.requests.length === 5, 5_000, 'the upstream to get every call');
    for (const req of clients) req.socket?.destroy();
    const events = await storedEvents(g, 5);
    for (let i = 0; i < 5; i++) {
      expect(await g.ledger.usage(`gone${i}`)).toMatchObject({ totalTokens: 20, reservedTokens: 0 });
    }
    expect(events.map((e) => e.totalTokens)).toEqual([20, 20, 20, 20, 20]);
  });
});
