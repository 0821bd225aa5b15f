/**
 * Retry-After never waits past the call's timeout (issue 11, finding 10): one upstream
 * `Retry-After: 99999` made the next call sleep 30 s (the maxRetryAfterMs cap) past its 500 ms backend
 * timeout. Real fake OpenAI server on 127.0.0.1.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallAbortedError, ProviderError } from '../../src/core/errors.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';

const HELLO = [{ role: 'user' as const, content: 'Hello there' }];
const RATE_LIMITED: OpenAIScenario = { kind: 'status', status: 429, headers: { 'retry-after': '99999' }, body: { error: { message: 'slow down' } } };

/** The call's outcome, or a failure of the test if it takes longer than `ms` (it would have slept 30 s). */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms)));
  try {
    return { value: await Promise.race([p, guard]) };
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('still waiting')) throw error;
    return { error };
  } finally {
    clearTimeout(timer);
  }
}

let srv: FakeServer<OpenAIScenario>;
beforeEach(async () => {
  srv = await startFakeOpenAIServer();
});
afterEach(async () => {
  await srv.close();
});

function setup(maxAttempts: number) {
  const ledger = new MemoryBudgetLedger();
  const backend = new OpenAICompatibleBackend({ name: 'up', baseUrl: srv.url, models: '*', timeoutMs: 500 });
  const router = new LLMRouter({ backends: [backend], ledger, tracker: new UsageTracker(), retries: { maxAttempts, baseDelayMs: 1, maxDelayMs: 2 } });
  return { router, ledger };
}

describe('Retry-After longer than the call may wait', () => {
  it('the next call answers at once with when to come back, instead of sleeping past its timeout', async () => {
    srv.enqueue(RATE_LIMITED);
    const { router, ledger } = setup(1);
    await expect(router.complete({ model: 'm', messages: HELLO })).rejects.toThrow(/429/);
    const { error } = await settledWithin(router.complete({ model: 'm', messages: HELLO, threadId: 't' }), 5_000);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE', status: 429, isRetryable: true });
    expect((error as ProviderError).retryAfterMs).toBeGreaterThan(25_000); // what is left of the 30 s cap
    expect((error as ProviderError).message).toMatch(/attempt timeout of 500 ms/);
    expect(srv.requests).toHaveLength(1);
    expect(await ledger.usage('t')).toMatchObject({ reservedTokens: 0, totalTokens: 0 });
  });

  it('a retry within one call does not sleep through it either', async () => {
    srv.enqueue(RATE_LIMITED);
    const { router } = setup(3);
    const { error } = await settledWithin(router.complete({ model: 'm', messages: HELLO }), 5_000);
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect((error as Error).message).toMatch(/earlier failures: .*429/);
    expect(srv.requests).toHaveLength(1);
  });

  it("a call's own timeoutMs bounds the wait as before (a timeout error)", async () => {
    srv.enqueue(RATE_LIMITED);
    const { router } = setup(3);
    const { error } = await settledWithin(router.complete({ model: 'm', messages: HELLO, timeoutMs: 1_000 }), 5_000);
    expect(error).toBeInstanceOf(CallAbortedError);
    expect(srv.requests).toHaveLength(1);
  });

  it('a short Retry-After within the attempt timeout is still honoured', async () => {
    srv.enqueue({ kind: 'status', status: 429, headers: { 'retry-after-ms': '50' } });
    const { router } = setup(2);
    const res = await router.complete({ model: 'm', messages: HELLO });
    expect(res.content).toBe('Hello from the fake OpenAI server.');
    expect(srv.requests).toHaveLength(2);
  });
});
