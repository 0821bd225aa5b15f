/**
 * Both integrations under real budget policies (BudgetPolicies over a MemoryPolicyLedger, the global
 * price table the tracker prices events with): a user's daily token budget and a key's request rate are
 * enforced before any provider request, with no retry by the AI SDK, and each policy line's spend equals
 * the sum of the usage events recorded (cost and tokens), with nothing left held.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, streamText, wrapLanguageModel } from 'ai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import { BudgetPolicies } from '../../src/budget/policies.js';
import { PolicyExhaustedError, RateLimitedError } from '../../src/core/errors.js';
import { tokenwardenBudget } from '../../src/integrations/ai-sdk/index.js';
import { TokenwardenCallbackHandler } from '../../src/integrations/langchain/index.js';
import { getPriceTable } from '../../src/pricing/global-prices.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';

let srv: FakeServer<OpenAIScenario>;
let policyLedger: MemoryPolicyLedger;
let policies: BudgetPolicies;
let ledger: MemoryBudgetLedger;
let tracker: UsageTracker;
let events: UsageEvent[];

beforeAll(() => {
  vi.spyOn(console, 'error').mockImplementation(() => undefined); // LangChain logs a raising handler's error
});
afterAll(() => vi.restoreAllMocks());
beforeEach(async () => {
  srv = await startFakeOpenAIServer();
  srv.setDefault({ kind: 'ok', content: 'Fine.', usage: { prompt_tokens: 8, completion_tokens: 192 } });
  policyLedger = new MemoryPolicyLedger();
  policies = new BudgetPolicies({
    policies: [
      { name: 'user-daily', scope: 'user', maxTokens: 1_000, window: '1d' },
      { name: 'key-rate', scope: 'key', rpm: 5 },
    ],
    ledger: policyLedger,
    prices: getPriceTable(),
  });
  ledger = new MemoryBudgetLedger({ maxTokensPerThread: 1_000_000 });
  tracker = new UsageTracker();
  events = [];
  tracker.subscribe((e) => events.push(e));
});
afterEach(async () => {
  await srv.close();
  await policyLedger.close();
});

/** Where the user's daily line stands: spent and held, in tokens and nano-USD. */
async function userLine(entity: string) {
  const line = policies.lineFor('user-daily', entity)!;
  const s = await policyLedger.standing(line);
  return { usedTokens: s.usedTokens, reservedTokens: s.reservedTokens, spentNanos: s.spentNanos, reservedNanos: s.reservedNanos };
}

const sum = (f: (e: UsageEvent) => number): number => events.reduce((a, e) => a + f(e), 0);

describe('the AI SDK middleware under BudgetPolicies', () => {
  it('refuses the call past the user budget before any request, with no retry; spend equals the events', async () => {
    const openai = createOpenAI({ baseURL: srv.url, apiKey: 'k' });
    const model = wrapLanguageModel({ model: openai.chat('gpt-4o-mini'), middleware: tokenwardenBudget({ ledger, policies, tracker, threadId: 't1', userId: 'ann', orgId: 'acme' }) });
    let refusal: unknown;
    for (let i = 0; i < 8 && refusal === undefined; i++) {
      refusal = await generateText({ model, prompt: 'Go', maxOutputTokens: 200, maxRetries: 2 }).then(() => undefined, (e: unknown) => e);
    }
    expect(refusal).toBeInstanceOf(PolicyExhaustedError);
    expect((refusal as PolicyExhaustedError).scope).toBe('user');
    expect(srv.requests).toHaveLength(events.length);
    // Each call holds its prompt estimate + 200 and uses 200: the 5th finds 200 left, less than it asks.
    expect(events.length).toBe(4);
    expect(await userLine('acme/ann')).toEqual({ usedTokens: sum((e) => e.totalTokens), reservedTokens: 0, spentNanos: sum((e) => e.costNanos ?? 0), reservedNanos: 0 });
    expect(await ledger.usage('t1')).toMatchObject({ totalTokens: 800, reservedTokens: 0 });
  });

  it('refuses past the key rate with RateLimitedError, not retried, streams included', async () => {
    const openai = createOpenAI({ baseURL: srv.url, apiKey: 'k' });
    const model = wrapLanguageModel({ model: openai.chat('gpt-4o-mini'), middleware: tokenwardenBudget({ policies, tracker, keyName: 'ci' }) });
    for (let i = 0; i < 5; i++) await generateText({ model, prompt: 'Go', maxOutputTokens: 10 });
    await expect(generateText({ model, prompt: 'Go', maxOutputTokens: 10, maxRetries: 2 })).rejects.toBeInstanceOf(RateLimitedError);
    const errors: unknown[] = [];
    await streamText({ model, prompt: 'Go', maxOutputTokens: 10, onError: ({ error }) => void errors.push(error) }).consumeStream();
    expect(errors[0]).toBeInstanceOf(RateLimitedError);
    expect(srv.requests).toHaveLength(5);
  });
});

describe('the LangChain handler under BudgetPolicies', () => {
  it('refuses the call past the user budget before the request; spend equals the events', async () => {
    const budget = new TokenwardenCallbackHandler({ ledger, policies, tracker, orgId: 'acme' });
    const model = new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: 'k', maxTokens: 200, maxRetries: 0, configuration: { baseURL: srv.url }, callbacks: [budget] });
    const config = { metadata: { thread_id: 'g1', user_id: 'bob' } };
    let refusal: unknown;
    for (let i = 0; i < 8 && refusal === undefined; i++) {
      refusal = await model.invoke('Go', config).then(() => undefined, (e: unknown) => e);
    }
    expect(refusal).toBeInstanceOf(PolicyExhaustedError);
    expect(srv.requests).toHaveLength(4);
    expect(events.map((e) => e.metadata.user_id)).toEqual(['bob', 'bob', 'bob', 'bob']);
    expect(await userLine('acme/bob')).toEqual({ usedTokens: 800, reservedTokens: 0, spentNanos: sum((e) => e.costNanos ?? 0), reservedNanos: 0 });
    expect(budget.openRuns).toBe(0);
  });
});
