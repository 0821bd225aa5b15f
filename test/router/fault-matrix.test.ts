/**
 * The router's fault matrix through real HTTP: provider adapters talking to fake OpenAI and Anthropic
 * servers on 127.0.0.1. Every case asserts the outcome, that the thread holds no reservation afterwards,
 * and that what was charged is what was delivered.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AllBackendsFailedError, CallAbortedError, ProviderError } from '../../src/core/errors.js';
import { AnthropicBackend } from '../../src/providers/anthropic.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter, type RouterStreamChunk, type RouterUsageChunk } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { estimateTextTokens, estimateTokens } from '../../src/tokens/estimate.js';
import type { ChatMessage } from '../../src/core/types.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { startFakeAnthropicServer, type AnthropicScenario } from '../support/fake-anthropic-server.js';
import { startFakeOpenAIServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import type { FakeServer } from '../support/fake-server-core.js';
import { fakeClock } from './helpers.js';

const T = 'fault-thread';
const messages: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello to the budget.' },
];
const PROMPT = estimateTokens(messages, { model: 'gpt-4o' });
/** Completion tokens the router counts for delivered text (gpt-4o uses the o200k profile). */
const counted = (text: string) => estimateTextTokens(text, 'o200k');
const SERVER_USAGE = 12 + 8; // the fake OpenAI server's default usage

let srvA: FakeServer<OpenAIScenario>;
let srvB: FakeServer<OpenAIScenario>;
let srvC: FakeServer<AnthropicScenario>;

beforeAll(async () => {
  [srvA, srvB, srvC] = await Promise.all([startFakeOpenAIServer(), startFakeOpenAIServer(), startFakeAnthropicServer()]);
});
afterAll(async () => {
  await Promise.all([srvA.close(), srvB.close(), srvC.close()]);
});

interface Harness {
  router: LLMRouter;
  ledger: MemoryBudgetLedger;
  events: UsageEvent[];
  clock: ReturnType<typeof fakeClock>;
  a: OpenAICompatibleBackend;
  b: OpenAICompatibleBackend;
  requestsA: () => number;
  requestsB: () => number;
}

let h: Harness;

function harness(options: { withB?: boolean; aTimeoutMs?: number; maxResponseBytes?: number; maxAttempts?: number } = {}): Harness {
  const clock = fakeClock();
  const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 50_000 });
  const tracker = new UsageTracker();
  const events: UsageEvent[] = [];
  tracker.subscribe((e) => events.push(e));
  const router = new LLMRouter({
    ledger,
    tracker,
    now: clock.now,
    sleep: clock.sleep,
    retries: { maxAttempts: options.maxAttempts ?? 3 },
  });
  const a = new OpenAICompatibleBackend({
    name: 'a',
    baseUrl: srvA.url,
    apiKey: 'sk-a',
    models: '*',
    priority: 1,
    ...(options.maxResponseBytes ? { maxResponseBytes: options.maxResponseBytes } : {}),
  });
  const b = new OpenAICompatibleBackend({ name: 'b', baseUrl: srvB.url, apiKey: 'sk-b', models: '*', priority: 2 });
  router.addBackend(a, options.aTimeoutMs ? { timeoutMs: options.aTimeoutMs } : {});
  if (options.withB !== false) router.addBackend(b);
  const startA = srvA.requests.length;
  const startB = srvB.requests.length;
  return {
    router,
    ledger,
    events,
    clock,
    a,
    b,
    requestsA: () => srvA.requests.length - startA,
    requestsB: () => srvB.requests.length - startB,
  };
}

async function charged(): Promise<number> {
  return (await h.ledger.usage(T))?.totalTokens ?? 0;
}

async function streamAll(it: AsyncIterable<RouterStreamChunk>, onChunk?: (c: RouterStreamChunk) => void | 'stop') {
  const deltas: string[] = [];
  let last: RouterUsageChunk | undefined;
  let error: unknown;
  try {
    for await (const c of it) {
      if (c.type === 'delta') deltas.push(c.content);
      if (c.type === 'usage') last = c;
      if (onChunk?.(c) === 'stop') break;
    }
  } catch (err) {
    error = err;
  }
  return { text: deltas.join(''), deltas, last, error };
}

beforeEach(() => {
  for (const s of [srvA, srvB]) s.setDefault({ kind: 'ok' });
  srvC.setDefault({ kind: 'ok' });
});

afterEach(async () => {
  // Whatever happened, no reservation may be left behind.
  expect((await h.ledger.usage(T))?.reservedTokens ?? 0).toBe(0);
});

describe('fault matrix: complete() over HTTP', () => {
  it('429 with Retry-After (seconds): waits what the provider asked, then succeeds', async () => {
    h = harness({ withB: false });
    srvA.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '2' }, body: { error: { message: 'slow down' } } });
    const res = await h.router.complete({ model: 'gpt-4o', messages, threadId: T });
    expect(res.content).toBe('Hello from the fake OpenAI server.');
    expect(h.clock.sleeps).toEqual([2_000]);
    expect(h.requestsA()).toBe(2);
    expect(await charged()).toBe(SERVER_USAGE);
    expect(h.events).toHaveLength(1);
  });

  it('429 with Retry-After as an HTTP date is honoured too', async () => {
    h = harness({ withB: false });
    const at = new Date(Date.now() + 3_000).toUTCString();
    srvA.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': at } });
    await h.router.complete({ model: 'gpt-4o', messages, threadId: T });
    expect(h.clock.sleeps).toHaveLength(1);
    expect(h.clock.sleeps[0]).toBeGreaterThan(1_000);
    expect(h.clock.sleeps[0]).toBeLessThanOrEqual(3_000);
    expect(await charged()).toBe(SERVER_USAGE);
  });

  it.each([500, 502, 503])('HTTP %i on the primary fails over to the secondary', async (status) => {
    h = harness();
    srvA.enqueue({ kind: 'status', status, body: { error: { message: 'upstream trouble' } } });
    const res = await h.router.complete({ model: 'gpt-4o', messages, threadId: T });
    expect(res.backend).toBe('b');
    expect([h.requestsA(), h.requestsB()]).toEqual([1, 1]);
    expect(await charged()).toBe(SERVER_USAGE);
    expect(h.events).toHaveLength(1);
  });

  it('a hanging primary is cut off by its timeout and the call fails over', async () => {
    h = harness({ aTimeoutMs: 150 });
    srvA.enqueue({ kind: 'hang' });
    const res = await h.router.complete({ model: 'gpt-4o', messages, threadId: T });
    expect(res.backend).toBe('b');
    expect(await charged()).toBe(SERVER_USAGE);
  });

  it('a connection reset fails over', async () => {
    h = harness();
    srvA.enqueue({ kind: 'reset' });
    const res = await h.router.complete({ model: 'gpt-4o', messages, threadId: T });
    expect(res.backend).toBe('b');
    expect(await charged()).toBe(SERVER_USAGE);
  });

  it('a body cut mid-way fails over', async () => {
    h = harness();
    srvA.enqueue({ kind: 'truncated-stream', chunks: 0 });
    const res = await h.router.complete({ model: 'gpt-4o', messages, threadId: T });
    expect(res.backend).toBe('b');
    expect(await charged()).toBe(SERVER_USAGE);
  });

  it('malformed JSON is not retried; the error names provider, backend and status', async () => {
    h = harness();
    srvA.enqueue({ kind: 'malformed' });
    const err = await h.router.complete({ model: 'gpt-4o', messages, threadId: T }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).code).toBe('MALFORMED_RESPONSE');
    expect((err as Error).message).toMatch(/openai backend "a" sent a malformed response \(HTTP 200\)/);
    expect(h.requestsB()).toBe(0);
    expect(await charged()).toBe(0);
    expect(h.events).toHaveLength(0);
  });

  it('an oversized body is refused without retry and charges nothing', async () => {
    h = harness({ maxResponseBytes: 4_096 });
    srvA.enqueue({ kind: 'oversized', bytes: 100_000 });
    const err = await h.router.complete({ model: 'gpt-4o', messages, threadId: T }).catch((e: unknown) => e);
    expect((err as ProviderError).code).toBe('RESPONSE_TOO_LARGE');
    expect((err as Error).message).toContain('"a"');
    expect(h.requestsB()).toBe(0);
    expect(await charged()).toBe(0);
  });

  it.each([400, 401, 403, 404, 422])('HTTP %i is not retried and the error says which backend answered what', async (status) => {
    h = harness();
    srvA.enqueue({ kind: 'status', status, body: { error: { message: `nope ${status}` } } });
    const err = await h.router.complete({ model: 'gpt-4o', messages, threadId: T }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as Error).message).toContain(`openai backend "a" answered HTTP ${status}`);
    expect((err as Error).message).not.toContain('sk-a');
    expect([h.requestsA(), h.requestsB()]).toEqual([1, 0]);
    expect(await charged()).toBe(0);
  });

  it('every backend failing ends in AllBackendsFailedError and charges nothing', async () => {
    h = harness({ maxAttempts: 3 });
    srvA.setDefault({ kind: 'status', status: 503 });
    srvB.setDefault({ kind: 'status', status: 502 });
    const err = await h.router.complete({ model: 'gpt-4o', messages, threadId: T }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllBackendsFailedError);
    expect((err as AllBackendsFailedError).errors).toHaveLength(3);
    expect([h.requestsA(), h.requestsB()]).toEqual([2, 1]);
    expect(await charged()).toBe(0);
  });

  it('a caller abort while the provider is slow rejects with CallAbortedError', async () => {
    h = harness();
    srvA.enqueue({ kind: 'ok', delayMs: 5_000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await h.router.complete({ model: 'gpt-4o', messages, threadId: T, signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CallAbortedError);
    expect(h.requestsB()).toBe(0);
    expect(await charged()).toBe(0);
  });

  it('a provider that reports no usage is charged the estimate (prompt + counted completion)', async () => {
    h = harness();
    srvA.enqueue({ kind: 'ok', content: 'Counted, not zero.', usage: null });
    const res = await h.router.complete({ model: 'gpt-4o', messages, threadId: T });
    expect(res.usageEstimated).toBe(true);
    expect(await charged()).toBe(PROMPT + counted('Counted, not zero.'));
  });

  it('Anthropic 429 fails over to an OpenAI-compatible backend', async () => {
    h = harness({ withB: false });
    const claude = new AnthropicBackend({ name: 'claude', baseUrl: srvC.url, apiKey: 'ak', models: '*', priority: 0 });
    h.router.addBackend(claude);
    srvC.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const res = await h.router.complete({ model: 'claude-sonnet-4', messages, threadId: T });
    expect(res.backend).toBe('a');
    expect(await charged()).toBe(SERVER_USAGE);
    // The Anthropic backend is remembered as rate-limited for the next call, too.
    const again = await h.router.complete({ model: 'claude-sonnet-4', messages, threadId: T });
    expect(again.backend).toBe('a');
  });
});

describe('fault matrix: stream() over HTTP', () => {
  it('a full stream is charged the provider’s usage', async () => {
    h = harness();
    const { text, last, error } = await streamAll(h.router.stream({ model: 'gpt-4o', messages, threadId: T }));
    expect(error).toBeUndefined();
    expect(text).toBe('Hello from the fake OpenAI server.');
    expect(last).toMatchObject({ usageEstimated: false, backend: 'a' });
    expect(await charged()).toBe(SERVER_USAGE);
    expect(h.events).toHaveLength(1);
  });

  it('a stream without usage is charged prompt estimate + counted delivered text', async () => {
    h = harness();
    srvA.enqueue({ kind: 'ok', content: 'No usage in this stream at all.', usage: null });
    const { text, last } = await streamAll(h.router.stream({ model: 'gpt-4o', messages, threadId: T }));
    expect(last!.usageEstimated).toBe(true);
    expect(await charged()).toBe(PROMPT + counted(text));
  });

  it('a stream truncated after some deltas throws, is not retried, and is charged what was delivered', async () => {
    h = harness();
    srvA.enqueue({ kind: 'truncated-stream', chunks: 3 });
    const { text, error } = await streamAll(h.router.stream({ model: 'gpt-4o', messages, threadId: T, maxTokens: 400 }));
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).code).toBe('STREAM_TRUNCATED');
    expect(text).toBe('part0 part1 part2 ');
    expect(h.requestsB()).toBe(0);
    const expected = PROMPT + counted(text);
    expect(await charged()).toBe(expected);
    expect(expected).toBeLessThan(PROMPT + 400); // not the whole reservation
    expect(h.events).toHaveLength(1);
    expect(h.events[0]!.totalTokens).toBe(expected);
  });

  it('a stream cut before any delta fails over', async () => {
    h = harness();
    srvA.enqueue({ kind: 'truncated-stream', chunks: 0 });
    const { last, error } = await streamAll(h.router.stream({ model: 'gpt-4o', messages, threadId: T }));
    expect(error).toBeUndefined();
    expect(last!.backend).toBe('b');
    expect(await charged()).toBe(SERVER_USAGE);
  });

  it.each([429, 500, 503])('HTTP %i before a stream starts fails over', async (status) => {
    h = harness();
    srvA.enqueue({ kind: 'status', status });
    const { last } = await streamAll(h.router.stream({ model: 'gpt-4o', messages, threadId: T }));
    expect(last!.backend).toBe('b');
    expect(await charged()).toBe(SERVER_USAGE);
  });

  it('a malformed event mid-stream throws and charges the delivered text', async () => {
    h = harness();
    srvA.enqueue({ kind: 'malformed' });
    const { text, error } = await streamAll(h.router.stream({ model: 'gpt-4o', messages, threadId: T }));
    expect(error).toBeInstanceOf(ProviderError);
    expect(text).toBe('ok');
    expect(await charged()).toBe(PROMPT + counted('ok'));
    expect(h.requestsB()).toBe(0);
  });

  it('an oversized stream is cut at the cap and charged what was delivered', async () => {
    h = harness({ maxResponseBytes: 200_000 });
    srvA.enqueue({ kind: 'oversized', bytes: 1_000_000 });
    const { text, error } = await streamAll(h.router.stream({ model: 'gpt-4o', messages, threadId: T }));
    expect((error as ProviderError).code).toBe('RESPONSE_TOO_LARGE');
    expect(text.length).toBeGreaterThan(0);
    // What was delivered, counted, but never more than the request could produce (no max_tokens: the ceiling).
    expect(await charged()).toBe(PROMPT + Math.min(counted(text), h.router.completionCeiling));
  });

  it('a silent stream is cut by the idle timeout and fails over before any delta', async () => {
    h = harness({ aTimeoutMs: 150 });
    srvA.enqueue({ kind: 'hang' });
    const { last } = await streamAll(h.router.stream({ model: 'gpt-4o', messages, threadId: T }));
    expect(last!.backend).toBe('b');
    expect(await charged()).toBe(SERVER_USAGE);
  });

  it('a caller abort mid-stream throws CallAbortedError and charges the delivered part', async () => {
    h = harness();
    srvA.enqueue({ kind: 'ok', content: 'one two three four five six seven eight', chunkDelayMs: 40 });
    const ac = new AbortController();
    const { text, error } = await streamAll(h.router.stream({ model: 'gpt-4o', messages, threadId: T, signal: ac.signal }), (c) => {
      if (c.type === 'delta' && c.content.includes('two')) ac.abort();
    });
    expect(error).toBeInstanceOf(CallAbortedError);
    expect(text.startsWith('one two')).toBe(true);
    expect(text).not.toContain('eight');
    expect(await charged()).toBe(PROMPT + counted(text));
    expect(h.events).toHaveLength(1);
  });

  it('a consumer that breaks out early is charged what it received', async () => {
    h = harness();
    srvA.enqueue({ kind: 'ok', content: 'alpha beta gamma delta epsilon zeta', chunkDelayMs: 20 });
    const { text, error } = await streamAll(h.router.stream({ model: 'gpt-4o', messages, threadId: T }), (c) =>
      c.type === 'delta' && c.content.includes('beta') ? 'stop' : undefined,
    );
    expect(error).toBeUndefined();
    expect(text).toBe('alpha beta');
    expect(await charged()).toBe(PROMPT + counted('alpha beta'));
    expect(h.events).toHaveLength(1);
    expect(h.router.inFlight(h.a)).toBe(0);
  });

  it('Anthropic stream usage (message_start / message_delta) is charged', async () => {
    h = harness({ withB: false });
    const claude = new AnthropicBackend({ name: 'claude', baseUrl: srvC.url, apiKey: 'ak', models: '*', priority: 0 });
    h.router.addBackend(claude);
    const { last, error } = await streamAll(h.router.stream({ model: 'claude-sonnet-4', messages, threadId: T }));
    expect(error).toBeUndefined();
    expect(last).toMatchObject({ backend: 'claude', provider: 'anthropic', usageEstimated: false });
    expect(await charged()).toBe(15 + 9);
  });
});
