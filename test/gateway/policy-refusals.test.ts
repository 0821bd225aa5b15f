/**
 * Budget-policy refusals and headers through a real gateway in front of a real local upstream (issue 14):
 * the exact code and fields of each scope's refusal with nothing sent upstream, truthful `Retry-After` for
 * rate limits, `model_not_priced`, Anthropic's shape, and the `x-budget-*` / `x-ratelimit-*` headers of
 * answers (JSON after the charge, streams before their first byte).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BudgetPolicy, PolicyScope } from '../../src/budget/policy-types.js';
import { usdText } from '../../src/gateway/budget-headers.js';
import { call, errorOf, HELLO } from './harness.js';
import { auth, startPolicyGateway, type PolicyGateway } from './policy-gateway.js';

let gw: PolicyGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function start(policies: BudgetPolicy[], options: { now?: () => number } = {}): Promise<PolicyGateway> {
  gw = await startPolicyGateway({ policies, ...options });
  return gw;
}

function chat(g: PolicyGateway, headers: Record<string, string>, extra: Record<string, unknown> = {}) {
  return call(`${g.url}/v1/chat/completions`, { headers, body: { model: 'gpt-4o', messages: HELLO, max_tokens: 20, ...extra } });
}

const nextUtcMidnight = (ms: number): string => new Date(Math.floor(ms / 86_400_000 + 1) * 86_400_000).toISOString();

/** For each scope: the request that names its entity, and the entity the refusal names. */
const SCOPES: Array<{ scope: PolicyScope; headers: Record<string, string>; entity: string }> = [
  { scope: 'thread', headers: { ...auth('admin'), 'x-thread-id': 't1' }, entity: 't1' },
  { scope: 'user', headers: { ...auth('admin'), 'x-user-id': 'u-7' }, entity: 'u-7' },
  { scope: 'org', headers: auth('acme-app'), entity: 'acme' },
  { scope: 'key', headers: auth('acme-app'), entity: 'acme-app' },
  { scope: 'agent', headers: { ...auth('admin'), 'x-agent-id': 'a-1' }, entity: 'a-1' },
  { scope: 'model', headers: auth('admin'), entity: 'gpt-4o' },
  { scope: 'global', headers: auth('admin'), entity: '*' },
];

describe('budget refusals per scope', () => {
  for (const { scope, headers, entity } of SCOPES) {
    it(`${scope}: 429 ${scope}_budget_exhausted naming the policy, entity and amounts; the upstream gets nothing`, async () => {
      const g = await start([{ name: `${scope}-cap`, scope, maxTokens: 5, window: '1d' }]);
      const before = Date.now();
      const res = await chat(g, headers);
      expect(res.status).toBe(429);
      expect(res.headers.get('x-should-retry')).toBe('false');
      const error = errorOf(res.body) as unknown as Record<string, unknown>;
      expect(error).toMatchObject({
        type: 'budget_exhausted',
        code: `${scope}_budget_exhausted`,
        param: null,
        policy: `${scope}-cap`,
        scope,
        entity,
        limit: 'tokens',
        max: 5,
        used: 0,
        reserved: 0,
        resets_at: nextUtcMidnight(before),
      });
      expect(error.requested).toBeGreaterThan(20);
      expect(error.message).toContain(`policy "${scope}-cap" for ${scope} ${JSON.stringify(entity)}`);
      expect(g.upstream.requests).toHaveLength(0);
    });
  }

  it('names a thread as its client sent it, without the org it is namespaced by', async () => {
    const g = await start([{ name: 'thread-cap', scope: 'thread', maxTokens: 5 }]);
    const res = await chat(g, { ...auth('acme-app'), 'x-thread-id': 't1' });
    expect(res.status).toBe(429);
    expect(errorOf(res.body)).toMatchObject({ code: 'thread_budget_exhausted', entity: 't1' });
    expect(errorOf(res.body).message).toContain('for thread "t1"');
    expect(errorOf(res.body).message).not.toContain('acme/');
    const standing = await call(`${g.url}/v1/budgets/thread-cap/t1`, { headers: auth('acme-app') });
    expect(standing.body).toMatchObject({ entity: 't1', max_tokens: 5, used_tokens: 0 });
  });

  it('a USD budget names its amounts in USD; a lifetime budget resets never (resets_at null)', async () => {
    const g = await start([
      { name: 'user-daily', scope: 'user', maxUsd: 0.00001, window: '1d' },
      { name: 'agent-life', scope: 'agent', maxTokens: 5 },
    ]);
    const usd = await chat(g, { ...auth('admin'), 'x-user-id': 'u-7' });
    expect(usd.status).toBe(429);
    const e = errorOf(usd.body) as unknown as Record<string, unknown>;
    expect(e).toMatchObject({ code: 'user_budget_exhausted', policy: 'user-daily', limit: 'usd', max: 0.00001, used: 0, reserved: 0 });
    expect(e.requested).toBeGreaterThan(0.00001);
    const life = await chat(g, { ...auth('admin'), 'x-agent-id': 'a-1' });
    expect(errorOf(life.body)).toMatchObject({ code: 'agent_budget_exhausted', policy: 'agent-life', resets_at: null });
    expect(errorOf(life.body).message).toContain('a lifetime budget');
    expect(g.upstream.requests).toHaveLength(0);
  });

  it('refuses a stream with a JSON 429 before any event, and in Anthropic\'s shape on /v1/messages', async () => {
    const g = await start([{ name: 'user-cap', scope: 'user', maxTokens: 5 }]);
    const streamed = await chat(g, { ...auth('admin'), 'x-user-id': 'u-7' }, { stream: true });
    expect(streamed.status).toBe(429);
    expect(streamed.headers.get('content-type')).toContain('application/json');
    const message = errorOf(streamed.body).message;
    const anthropic = await call(`${g.url}/v1/messages`, {
      headers: { 'x-api-key': 'admin', 'x-user-id': 'u-7', 'anthropic-version': '2023-06-01' },
      body: { model: 'gpt-4o', max_tokens: 20, messages: HELLO },
    });
    expect(anthropic.status).toBe(429);
    expect(anthropic.body).toEqual({ type: 'error', error: { type: 'rate_limit_error', message } });
    expect(g.upstream.requests).toHaveLength(0);
  });

  it('a model without a price under a USD policy: 400 model_not_priced naming the model and the policy', async () => {
    const g = await start([{ name: 'all-usd', scope: 'global', maxUsd: 100, window: '1mo' }]);
    const res = await chat(g, auth('admin'), { model: 'house-llm-1' });
    expect(res.status).toBe(400);
    const e = errorOf(res.body) as unknown as Record<string, unknown>;
    expect(e).toMatchObject({ type: 'invalid_request_error', code: 'model_not_priced', param: 'model', policy: 'all-usd', model: 'house-llm-1' });
    expect(e.message).toContain('"house-llm-1"');
    expect(e.message).toContain('"all-usd"');
    expect(g.upstream.requests).toHaveLength(0);
  });
});

describe('rate limits', () => {
  it('a client at the limit is never refused; the next call is, with Retry-After to the next UTC minute (injected clock)', async () => {
    const now = Date.UTC(2026, 10, 30, 17, 59, 17, 500);
    const g = await start([{ name: 'key-rate', scope: 'key', rpm: 3 }], { now: () => now });
    const atLimit = await Promise.all([1, 2, 3].map(() => chat(g, auth('acme-app'))));
    expect(atLimit.map((r) => r.status)).toEqual([200, 200, 200]);
    const over = await chat(g, auth('acme-app'));
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBe('43');
    expect(over.headers.get('retry-after-ms')).toBe('42500');
    expect(over.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(over.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(over.headers.get('x-ratelimit-reset-requests')).toBe('42.5s');
    expect(errorOf(over.body)).toMatchObject({
      type: 'rate_limit_error',
      code: 'rate_limit_exceeded',
      param: null,
      policy: 'key-rate',
      scope: 'key',
      entity: 'acme-app',
      limit: 'requests',
      max: 3,
      used: 3,
      reserved: 0,
      requested: 1,
      resets_at: '2026-11-30T18:00:00.000Z',
    });
    expect(g.upstream.requests).toHaveLength(3);
    // Another key has its own count.
    expect((await chat(g, auth('acme-ci'))).status).toBe(200);
  });

  it('with the real clock: Retry-After in [1, 60], consistent with retry-after-ms and x-ratelimit-reset-requests', async () => {
    // Not in the last two seconds of a minute, so that both calls and the refusal share one minute.
    while (Date.now() % 60_000 > 58_000) await new Promise((r) => setTimeout(r, 100));
    const g = await start([{ name: 'key-rate', scope: 'key', rpm: 2, tpm: 100_000 }]);
    const first = await chat(g, auth('acme-app'));
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('100000');
    expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe(String(100_000 - 20));
    expect((await chat(g, auth('acme-app'))).status).toBe(200);
    const refusedAt = Date.now();
    const over = await chat(g, auth('acme-app'));
    expect(over.status).toBe(429);
    const seconds = Number(over.headers.get('retry-after'));
    const ms = Number(over.headers.get('retry-after-ms'));
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThanOrEqual(60);
    expect(seconds).toBe(Math.max(1, Math.ceil(ms / 1000)));
    expect(Math.abs(ms - (60_000 - (refusedAt % 60_000)))).toBeLessThan(1_000);
    const reset = over.headers.get('x-ratelimit-reset-requests')!;
    const m = /^(?:(\d+)ms|([\d.]+)s)$/.exec(reset);
    expect(m).not.toBeNull();
    const resetMs = m![1] !== undefined ? Number(m![1]) : Number(m![2]) * 1000;
    expect(Math.abs(resetMs - ms)).toBeLessThanOrEqual(1);
    expect(g.upstream.requests).toHaveLength(2);
  });
});

describe('budget headers on answers', () => {
  const POLICIES: BudgetPolicy[] = [
    { name: 'user-daily', scope: 'user', maxUsd: 5, window: '1d' },
    { name: 'org-monthly', scope: 'org', maxUsd: 500, window: '1mo' },
    { name: 'key-rate', scope: 'key', rpm: 60, tpm: 100_000 },
  ];

  it('a JSON answer carries the tightest budget after its charge and the rate limits', async () => {
    const g = await start(POLICIES);
    const res = await chat(g, { ...auth('admin'), 'x-user-id': 'u-7' });
    expect(res.status).toBe(200);
    const [event] = (await g.store.query({})).events;
    expect(event!.costNanos).toBeGreaterThan(0);
    const h = Object.fromEntries([...res.headers].filter(([k]) => k.startsWith('x-budget-') || k.startsWith('x-ratelimit-')));
    expect(h).toEqual({
      'x-budget-policy': 'user-daily',
      'x-budget-scope': 'user',
      'x-budget-entity': 'u-7',
      'x-budget-limit-usd': '5',
      'x-budget-remaining-usd': usdText(5e9 - event!.costNanos!),
      'x-budget-reset': nextUtcMidnight(event!.timestamp),
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': expect.stringMatching(/^(\d+ms|[\d.]+s)$/),
      'x-ratelimit-limit-tokens': '100000',
      'x-ratelimit-remaining-tokens': '99980',
      'x-ratelimit-reset-tokens': expect.stringMatching(/^(\d+ms|[\d.]+s)$/),
    });
  });

  it('a stream carries them before its first byte, with the call held; translated answers too', async () => {
    const g = await start(POLICIES);
    const streamed = await chat(g, { ...auth('admin'), 'x-user-id': 'u-7' }, { stream: true });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('content-type')).toContain('text/event-stream');
    expect(streamed.headers.get('x-budget-policy')).toBe('user-daily');
    const remaining = Number(streamed.headers.get('x-budget-remaining-usd'));
    expect(remaining).toBeLessThan(5); // the stream's hold, before anything was charged
    expect(remaining).toBeGreaterThan(4.99);
    expect(streamed.headers.get('x-ratelimit-remaining-requests')).toBe('59'); // this call, held
    const messages = await call(`${g.url}/v1/messages`, {
      headers: { 'x-api-key': 'admin', 'x-user-id': 'u-7', 'anthropic-version': '2023-06-01' },
      body: { model: 'gpt-4o', max_tokens: 20, messages: HELLO, stream: true },
    });
    expect(messages.status).toBe(200);
    expect(messages.headers.get('x-budget-entity')).toBe('u-7');
    expect(messages.headers.get('x-ratelimit-remaining-requests')).toBe('58');
  });

  it('an answer no policy applies to has no policy headers', async () => {
    const g = await start([{ name: 'user-daily', scope: 'user', maxUsd: 5, window: '1d' }]);
    const res = await chat(g, auth('admin'));
    expect(res.status).toBe(200);
    expect([...res.headers.keys()].filter((k) => k.startsWith('x-budget-') || k.startsWith('x-ratelimit-'))).toEqual([]);
  });
});
