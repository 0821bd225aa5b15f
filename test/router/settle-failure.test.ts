/**
 * Every answered call is billed exactly once (issue 11, finding 8): a real Redis ledger whose connection
 * breaks between reserve and settle (a TCP proxy cut under it) still gets one usage event per call the
 * provider answered, and the settle lands once Redis is back.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter, type RouterStreamChunk } from '../../src/router/router.js';
import { RedisBudgetLedger } from '../../src/stores/ledgers/redis/index.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';
import { describeRedis, REDIS_URL } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const PREFIX = `tw-test-settle:${process.pid}:${randomUUID().slice(0, 8)}:`;
const HELLO = [{ role: 'user' as const, content: 'Hello there' }];

/** Polls `check` every 5 ms for at most `ms`. */
async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describeRedis('a settle that fails after the provider answered', () => {
  let admin: Redis;
  let srv: FakeServer<OpenAIScenario>;
  let proxy: TcpProxy;
  let ledger: RedisBudgetLedger;
  let router: LLMRouter;
  let events: UsageEvent[];

  beforeAll(() => {
    admin = new Redis(REDIS_URL!);
  });
  afterAll(async () => {
    const keys = await admin.keys(`${PREFIX}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });
  beforeEach(async () => {
    srv = await startFakeOpenAIServer();
    proxy = await startTcpProxy(Number(new URL(REDIS_URL!).port || 6379), new URL(REDIS_URL!).hostname);
    ledger = new RedisBudgetLedger({
      url: `redis://127.0.0.1:${proxy.port}`,
      keyPrefix: `${PREFIX}${randomUUID().slice(0, 8)}:`,
      maxTokensPerThread: 100_000,
      commandTimeoutMs: 200,
      onError: () => undefined,
    });
    const tracker = new UsageTracker();
    events = [];
    tracker.subscribe((e) => events.push(e));
    const backend = new OpenAICompatibleBackend({ name: 'up', baseUrl: srv.url, models: '*' });
    router = new LLMRouter({ backends: [backend], ledger, tracker, estimateTokens: () => 10, retries: { maxAttempts: 1 } });
  });
  afterEach(async () => {
    proxy.restore();
    await router.drainSettles();
    await ledger.close();
    await proxy.close();
    await srv.close();
  });

  it('complete(): the event is recorded once, the answer returned, the settle retried until Redis is back', async () => {
    srv.setDefault({ kind: 'ok', delayMs: 300, usage: { prompt_tokens: 12, completion_tokens: 8 } });
    const call = router.complete({ model: 'gpt-4o', messages: HELLO, threadId: 't', maxTokens: 50 });
    await waitFor(() => srv.requests.length === 1, 5_000, 'the upstream to get the call');
    proxy.cut();
    const res = await call;
    expect(res.usage.totalTokens).toBe(20);
    expect(res.budget).toBeUndefined(); // the ledger did not take the charge (yet)
    expect(events.map((e) => e.totalTokens)).toEqual([20]);
    proxy.restore();
    await router.drainSettles();
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 20, reservedTokens: 0, requestCount: 1 });
    expect(events).toHaveLength(1);
  });

  it('stream(): same, the usage chunk still reaches the caller', async () => {
    srv.setDefault({ kind: 'ok', chunkDelayMs: 100, content: 'one two three four', usage: { prompt_tokens: 12, completion_tokens: 4 } });
    const chunks: RouterStreamChunk[] = [];
    for await (const c of router.stream({ model: 'gpt-4o', messages: HELLO, threadId: 't', maxTokens: 50 })) {
      chunks.push(c);
      if (chunks.length === 1) proxy.cut();
    }
    expect(chunks.at(-1)).toMatchObject({ type: 'usage', usage: { totalTokens: 16 } });
    expect(events.map((e) => e.totalTokens)).toEqual([16]);
    proxy.restore();
    await router.drainSettles();
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 16, reservedTokens: 0 });
  });

  it('40 concurrent calls with Redis cut mid-flight: one event per upstream call, and the ledger agrees once back', async () => {
    srv.setDefault({ kind: 'ok', delayMs: 200, usage: { prompt_tokens: 12, completion_tokens: 8 } });
    const calls = Array.from({ length: 40 }, (_, i) =>
      router.complete({ model: 'gpt-4o', messages: HELLO, threadId: `t${i % 4}`, maxTokens: 50 }).then(
        () => 'ok',
        (err: Error) => err.name,
      ),
    );
    await waitFor(() => srv.requests.length >= 10, 5_000, 'the first calls to reach the upstream');
    proxy.cut();
    const outcomes = await Promise.all(calls);
    // Calls whose reserve failed never reached the upstream; every call that did is billed exactly once.
    expect(events).toHaveLength(srv.requests.length);
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(srv.requests.length);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    proxy.restore();
    await router.drainSettles();
    let charged = 0;
    for (let i = 0; i < 4; i++) {
      const u = await ledger.usage(`t${i}`);
      expect(u?.reservedTokens ?? 0).toBe(0);
      charged += u?.totalTokens ?? 0;
    }
    expect(charged).toBe(20 * events.length);
  });
});
