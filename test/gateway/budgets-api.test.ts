/**
 * `/v1/budgets`: the policies and the caller's standing, one entity's standing, the top entities of a
 * policy, and per-entity overrides (admin), through a real gateway: auth rules, JSON shape, 4xx naming
 * their field, and overrides enforced on the next call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetPolicy } from '../../src/budget/policy-types.js';
import { createGateway } from '../../src/gateway/create-gateway.js';
import { LLMRouter } from '../../src/router/router.js';
import { call, errorOf, HELLO, startTestGateway } from './harness.js';
import { auth, startPolicyGateway, type PolicyGateway } from './policy-gateway.js';

const POLICIES: BudgetPolicy[] = [
  { name: 'user-daily', scope: 'user', maxUsd: 5, window: '1d' },
  { name: 'acme-monthly', scope: 'org', match: { org: 'acme' }, maxUsd: 500, maxTokens: 50_000_000, window: '1mo' },
  { name: 'org-daily', scope: 'org', maxTokens: 1_000_000, window: '1d' },
  { name: 'key-rate', scope: 'key', rpm: 60, tpm: 100_000 },
  { name: 'model-cap', scope: 'model', maxTokens: 1_000_000 },
  { name: 'global-cap', scope: 'global', maxUsd: 1_000, window: '1d' },
];

let g: PolicyGateway;
/** Cost of one call (the fake upstream reports 12 + 8 tokens), nano-USD. */
let costNanos: number;
const DAY = 86_400_000;
const today = (): string => new Date(Math.floor(Date.now() / DAY) * DAY).toISOString();
const tomorrow = (): string => new Date(Math.floor(Date.now() / DAY + 1) * DAY).toISOString();

function chat(headers: Record<string, string>) {
  return call(`${g.url}/v1/chat/completions`, { headers, body: { model: 'gpt-4o', messages: HELLO, max_tokens: 20 } });
}

function api(path: string, key: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  return call(`${g.url}${path}`, { ...init, headers: { ...auth(key), ...init.headers } });
}

beforeAll(async () => {
  g = await startPolicyGateway({ policies: POLICIES });
  expect((await chat({ ...auth('acme-app'), 'x-user-id': 'u-7' })).status).toBe(200);
  expect((await chat({ ...auth('acme-ci') })).status).toBe(200);
  expect((await chat({ ...auth('beta-app') })).status).toBe(200);
  costNanos = (await g.store.query({})).events[0]!.costNanos!;
  expect(costNanos).toBeGreaterThan(0);
});
afterAll(async () => {
  await g?.close();
});

describe('GET /v1/budgets', () => {
  it('lists the policies and where the caller\'s own org, key and user stand', async () => {
    const res = await api('/v1/budgets', 'acme-app', { headers: { 'x-user-id': 'u-7' } });
    expect(res.status).toBe(200);
    expect(res.body.object).toBe('list');
    const policies = res.body.policies as Array<Record<string, unknown>>;
    expect(policies.map((p) => p.name)).toEqual(POLICIES.map((p) => p.name));
    expect(policies[1]).toMatchObject({ name: 'acme-monthly', scope: 'org', match: { org: 'acme' }, max_usd: 500, max_tokens: 50_000_000, rpm: null, tpm: null, window: '1mo', unpriced: 'refuse' });
    expect(policies[3]).toMatchObject({ name: 'key-rate', scope: 'key', match: null, max_usd: null, max_tokens: null, rpm: 60, tpm: 100_000, window: null });
    const data = res.body.data as Array<Record<string, unknown>>;
    expect(data.map((d) => `${d.policy}:${d.entity}`)).toEqual(['user-daily:u-7', 'acme-monthly:acme', 'org-daily:acme', 'key-rate:acme-app']);
    expect(data[2]).toEqual({
      policy: 'org-daily',
      scope: 'org',
      entity: 'acme',
      window: '1d',
      window_start: today(),
      resets_at: tomorrow(),
      max_usd: null,
      spent_usd: (2 * costNanos) / 1e9,
      reserved_usd: 0,
      remaining_usd: null,
      max_tokens: 1_000_000,
      used_tokens: 40,
      reserved_tokens: 0,
      remaining_tokens: 1_000_000 - 40,
    });
    expect(data[1]).toMatchObject({ max_usd: 500, spent_usd: (2 * costNanos) / 1e9, remaining_usd: (500e9 - 2 * costNanos) / 1e9, used_tokens: 40 });
    expect(data[3]).toMatchObject({ max_usd: null, spent_usd: null, max_tokens: null, window_start: null, rate: { rpm: 60, requests: 1, remaining_requests: 59, tpm: 100_000, tokens: 20, remaining_tokens: 99_980 } });
  });

  it('shows another org only its own entities (a match on another org leaves the policy out)', async () => {
    const res = await api('/v1/budgets', 'beta-app');
    const data = res.body.data as Array<Record<string, unknown>>;
    expect(data.map((d) => `${d.policy}:${d.entity}`)).toEqual(['org-daily:beta', 'key-rate:beta-app']);
    expect(data[0]).toMatchObject({ used_tokens: 20 });
    const bad = await api('/v1/budgets', 'beta-app', { headers: { 'x-user-id': 'u'.repeat(300) } });
    expect(bad.status).toBe(400);
    expect(errorOf(bad.body)).toMatchObject({ param: 'x-user-id', code: 'invalid_id' });
  });

  it('checks the policies option up front, naming it', () => {
    expect(() => createGateway({ router: new LLMRouter({ backends: [] }), policies: { guard: {}, ledger: g.ledger } as never })).toThrow(/options\.policies: must be \{ guard, ledger \}/);
  });

  it('answers 404 on a gateway without policies', async () => {
    const plain = await startTestGateway();
    try {
      const res = await call(`${plain.url}/v1/budgets`);
      expect(res.status).toBe(404);
      expect(errorOf(res.body).code).toBe('no_budget_policies');
    } finally {
      await plain.close();
    }
  });
});

describe('GET /v1/budgets/{policy}/{entity}', () => {
  it('reads an entity of the caller\'s own org; another org is 403, another org\'s key 404', async () => {
    const own = await api('/v1/budgets/org-daily/acme', 'acme-app');
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ policy: 'org-daily', entity: 'acme', used_tokens: 40 });
    const other = await api('/v1/budgets/org-daily/beta', 'acme-app');
    expect(other.status).toBe(403);
    expect(errorOf(other.body)).toMatchObject({ code: 'forbidden', param: 'entity' });
    expect((await api('/v1/budgets/key-rate/acme-ci', 'acme-app')).body).toMatchObject({ entity: 'acme-ci', rate: { requests: 1 } });
    for (const key of ['beta-app', 'nobody']) {
      const res = await api(`/v1/budgets/key-rate/${key}`, 'acme-app');
      expect(res.status).toBe(404);
      expect(errorOf(res.body)).toMatchObject({ code: 'budget_entity_not_found', param: 'entity' });
    }
    expect((await api('/v1/budgets/org-daily/beta', 'admin')).body).toMatchObject({ entity: 'beta', used_tokens: 20 });
  });

  it('lets everyone read shared model and global limits; a lifetime budget has no window', async () => {
    const model = await api('/v1/budgets/model-cap/gpt-4o', 'beta-app');
    expect(model.status).toBe(200);
    expect(model.body).toMatchObject({ scope: 'model', entity: 'gpt-4o', window: null, window_start: null, resets_at: null, used_tokens: 60, remaining_tokens: 1_000_000 - 60 });
    const global = await api('/v1/budgets/global-cap/*', 'acme-app');
    expect(global.body).toMatchObject({ entity: '*', spent_usd: (3 * costNanos) / 1e9, resets_at: tomorrow() });
    const notStar = await api('/v1/budgets/global-cap/acme', 'admin');
    expect(notStar.status).toBe(404);
    expect(errorOf(notStar.body).code).toBe('budget_entity_not_found');
  });

  it('names an unknown policy in its 404', async () => {
    const res = await api('/v1/budgets/nope-daily/acme', 'admin');
    expect(res.status).toBe(404);
    expect(errorOf(res.body)).toMatchObject({ code: 'policy_not_found', param: 'policy' });
    expect(errorOf(res.body).message).toContain('"nope-daily"');
  });
});

describe('PUT and DELETE /v1/budgets/{policy}/{entity}', () => {
  it('are admin only', async () => {
    for (const method of ['PUT', 'DELETE']) {
      const res = await api('/v1/budgets/org-daily/acme', 'acme-app', { method, body: { max_tokens: 10 } });
      expect(res.status).toBe(403);
      expect(errorOf(res.body).code).toBe('admin_required');
    }
  });

  it('checks the body field by field', async () => {
    const cases: Array<[unknown, string, string]> = [
      [{ max_usd: -1 }, 'max_usd', 'invalid_value'],
      [{ max_usd: 'ten' }, 'max_usd', 'invalid_value'],
      [{ max_tokens: 1.5 }, 'max_tokens', 'invalid_value'],
      [{ max_tokens: 10, colour: 'red' }, 'colour', 'unknown_parameter'],
      [{}, 'body', 'invalid_value'],
      [[1], 'body', 'invalid_value'],
    ];
    for (const [body, param, code] of cases) {
      const res = await api('/v1/budgets/org-daily/acme', 'admin', { method: 'PUT', body });
      expect(res.status).toBe(400);
      expect(errorOf(res.body)).toMatchObject({ param, code });
    }
    const rateOnly = await api('/v1/budgets/key-rate/acme-app', 'admin', { method: 'PUT', body: { max_tokens: 10 } });
    expect(rateOnly.status).toBe(400);
    expect(errorOf(rateOnly.body).code).toBe('no_budget_to_override');
  });

  it('an override is enforced on the next call, shown to the org by its bare id, and deleted once', async () => {
    const put = await api('/v1/budgets/org-daily/acme', 'admin', { method: 'PUT', body: { max_tokens: 45 } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ policy: 'org-daily', entity: 'acme', max_tokens: 45, used_tokens: 40, remaining_tokens: 5 });
    const before = g.upstream.requests.length;
    const refused = await chat(auth('acme-app'));
    expect(refused.status).toBe(429);
    expect(errorOf(refused.body)).toMatchObject({ code: 'org_budget_exhausted', policy: 'org-daily', entity: 'acme', max: 45, used: 40 });
    expect(g.upstream.requests.length).toBe(before);

    const user = await api('/v1/budgets/user-daily/acme%2Fu-7', 'admin', { method: 'PUT', body: { max_usd: 10 } });
    expect(user.body).toMatchObject({ entity: 'acme/u-7', max_usd: 10 });
    expect((await api('/v1/budgets/user-daily/u-7', 'acme-app')).body).toMatchObject({ entity: 'u-7', max_usd: 10 });
    expect((await api('/v1/budgets/user-daily/u-7', 'beta-app')).body).toMatchObject({ entity: 'u-7', max_usd: 5 });

    const deleted = await api('/v1/budgets/org-daily/acme', 'admin', { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ object: 'budget.override.deleted', policy: 'org-daily', entity: 'acme', deleted: true, budget: { max_tokens: 1_000_000 } });
    const again = await api('/v1/budgets/org-daily/acme', 'admin', { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(errorOf(again.body).code).toBe('override_not_found');
    expect((await chat(auth('acme-app'))).status).toBe(200);
  });
});

describe('GET /v1/budgets/{policy}?top=N', () => {
  it('lists the entities with the most spent (admin only), bounded by top', async () => {
    const res = await api('/v1/budgets/org-daily', 'admin');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ object: 'list', policy: 'org-daily' });
    const data = res.body.data as Array<Record<string, unknown>>;
    expect(data.map((d) => d.entity)).toEqual(['acme', 'beta']);
    expect(data[0]).toMatchObject({ scope: 'org', window: '1d', max_tokens: 1_000_000 });
    const one = await api('/v1/budgets/org-daily?top=1', 'admin');
    expect((one.body.data as unknown[]).length).toBe(1);
    for (const q of ['top=0', 'top=1001', 'top=x']) {
      const bad = await api(`/v1/budgets/org-daily?${q}`, 'admin');
      expect(bad.status).toBe(400);
      expect(errorOf(bad.body).param).toBe('top');
    }
    expect(errorOf((await api('/v1/budgets/org-daily?limit=2', 'admin')).body)).toMatchObject({ param: 'limit', code: 'unknown_parameter' });
    expect((await api('/v1/budgets/org-daily', 'acme-app')).status).toBe(403);
    expect((await api('/v1/budgets/nope', 'admin')).status).toBe(404);
    expect(((await api('/v1/budgets/key-rate', 'admin')).body.data as unknown[]).length).toBe(0);
  });
});
