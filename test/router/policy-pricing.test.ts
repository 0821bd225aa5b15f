/**
 * A USD policy is charged what the call costs even when the provider answers with a model name no price
 * table knows (a self-hosted path like `/models/llama-70b-awq`, a dated alias): the usage event is priced
 * at the requested model's rates, and the policy settles to that event's cost.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import { BudgetPolicies } from '../../src/budget/policies.js';
import { PriceTable } from '../../src/pricing/price-table.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { LLMRouter } from '../../src/router/router.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';

let srv: FakeServer<OpenAIScenario>;
beforeEach(async () => {
  srv = await startFakeOpenAIServer();
});
afterEach(async () => {
  await srv.close();
});

it('prices the event at the requested model when the answered name has no price, and the policy is charged it', async () => {
  const prices = new PriceTable();
  prices.setOverride('llama-70b', { inputPerMTok: 1000, outputPerMTok: 2000 }, { prefix: false });
  const tracker = new UsageTracker({ estimateCostNanos: (m, u) => prices.estimateCostNanos(m, u) });
  const events: UsageEvent[] = [];
  tracker.subscribe((e) => events.push(e));
  const ledger = new MemoryPolicyLedger();
  const policies = new BudgetPolicies({ policies: [{ name: 'user-daily', scope: 'user', maxUsd: 0.1, window: '1d' }], ledger, prices });
  const backend = new OpenAICompatibleBackend({ name: 'local', baseUrl: srv.url, apiKey: 'k', models: ['llama-70b'] });
  const router = new LLMRouter({ backends: [backend], tracker, policies });
  srv.setDefault({ kind: 'ok', model: '/models/llama-70b-instruct-awq' });
  const messages = [{ role: 'user' as const, content: 'Hello' }];
  let answered = 0;
  for (let i = 0; i < 20; i++) {
    const ok = await router
      .complete({ model: 'llama-70b', messages, maxTokens: 8, metadata: { user_id: 'u-1' } })
      .then(() => true, (err: Error) => (expect(err.message).toMatch(/budget exhausted/), false));
    if (ok) answered++;
  }
  // 12 prompt + 8 completion tokens at $1000/$2000 per 1M tokens: $0.028 per call, so the $0.10 daily limit binds after a few calls.
  expect(events.length).toBe(answered);
  expect(events.every((e) => e.costNanos === 12 * 1_000_000 + 8 * 2_000_000)).toBe(true);
  const line = policies.lineFor('user-daily', 'u-1')!;
  const standing = await ledger.standing(line);
  expect(standing.spentNanos).toBe(events.reduce((n, e) => n + e.costNanos!, 0));
  expect(standing.spentNanos).toBeLessThanOrEqual(100_000_000);
  expect(answered).toBeGreaterThanOrEqual(2);
  expect(answered).toBeLessThan(20);
});

it('counts calls that reached the provider and failed against a rate limit: a tenant cannot drain a shared key by failing calls', async () => {
  const ledger = new MemoryPolicyLedger();
  const policies = new BudgetPolicies({ policies: [{ name: 'key-rate', scope: 'key', rpm: 5 }], ledger, prices: new PriceTable() });
  const backend = new OpenAICompatibleBackend({ name: 'up', baseUrl: srv.url, apiKey: 'k', models: ['*'] });
  const router = new LLMRouter({ backends: [backend], tracker: new UsageTracker(), policies });
  srv.setDefault({ kind: 'status', status: 400, body: { error: { message: 'bad request', type: 'invalid_request_error' } } });
  const toNextMinute = 60_000 - (Date.now() % 60_000);
  if (toNextMinute < 3_000) await new Promise((r) => setTimeout(r, toNextMinute + 50)); // all calls in one UTC minute
  const codes: string[] = [];
  for (let i = 0; i < 8; i++) {
    const err = (await router.complete({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], metadata: { key_name: 'k1' } }).catch((e: unknown) => e)) as { code?: string };
    codes.push(err.code ?? 'ok');
  }
  expect(codes).toEqual([...Array(5).fill('INVALID_REQUEST'), ...Array(3).fill('RATE_LIMITED')]);
  expect(srv.requests).toHaveLength(5);
});
