/**
 * Refusals over time: the per-minute ring (injected clock: buckets, the 24-hour wrap, the reason cap),
 * which answers count as refusals, and `GET /v1/metrics/refusals` plus `tokenwarden_refusals_total` on a
 * real gateway refusing real calls.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import { BudgetPolicies } from '../../src/budget/policies.js';
import { ValidationError } from '../../src/core/errors.js';
import { createGateway } from '../../src/gateway/create-gateway.js';
import { PriceTable } from '../../src/pricing/price-table.js';
import { MockBackend } from '../../src/providers/mock.js';
import { LLMRouter } from '../../src/router/router.js';
import { hashGatewayKey } from '../../src/gateway/key-ring.js';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { RefusalHistory, refusalReason, refusalSeriesJson } from '../../src/gateway/refusal-history.js';
import { call, errorOf, HELLO, startTestGateway } from './harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** 2025-03-10T00:00:00Z */
const T0 = Date.UTC(2025, 2, 10);

function clocked(start: number): { history: RefusalHistory; set(ms: number): void } {
  let now = start;
  return { history: new RefusalHistory({ now: () => now }), set: (ms) => void (now = ms) };
}

describe('RefusalHistory', () => {
  it('counts refusals per minute by reason and buckets them on UTC step boundaries', () => {
    const { history, set } = clocked(T0 + 10 * HOUR);
    history.record('rate_limit_exceeded');
    history.record('rate_limit_exceeded');
    set(T0 + 10 * HOUR + 59_999);
    history.record('user_budget_exhausted');
    set(T0 + 10 * HOUR + 7 * MIN);
    history.record('rate_limit_exceeded');
    set(T0 + 10 * HOUR + 16 * MIN + 30_000);
    history.record('model_not_priced');
    const s = history.series({ minutes: 30, stepMinutes: 15 });
    expect(s).toEqual({
      since: T0 + 10 * HOUR - 13 * MIN,
      until: T0 + 10 * HOUR + 17 * MIN,
      stepMinutes: 15,
      reasons: ['rate_limit_exceeded', 'model_not_priced', 'user_budget_exhausted'],
      totals: { rate_limit_exceeded: 3, user_budget_exhausted: 1, model_not_priced: 1 },
      buckets: [
        { start: T0 + 9 * HOUR + 45 * MIN, counts: {} },
        { start: T0 + 10 * HOUR, counts: { rate_limit_exceeded: 3, user_budget_exhausted: 1 } },
        { start: T0 + 10 * HOUR + 15 * MIN, counts: { model_not_priced: 1 } },
      ],
    });
    // Per minute: the two minutes with refusals, nothing in between.
    const perMinute = history.series({ minutes: 17, stepMinutes: 1 });
    expect(perMinute.buckets).toHaveLength(17);
    expect(perMinute.buckets.filter((b) => Object.keys(b.counts).length > 0).map((b) => [(b.start - T0 - 10 * HOUR) / MIN, b.counts])).toEqual([
      [0, { rate_limit_exceeded: 2, user_budget_exhausted: 1 }],
      [7, { rate_limit_exceeded: 1 }],
      [16, { model_not_priced: 1 }],
    ]);
    // The default: the last 24 hours in buckets of 15 minutes on UTC quarter hours (the first one partial).
    const day = history.series();
    expect(day.stepMinutes).toBe(15);
    expect(day.buckets).toHaveLength(97);
    expect(day.buckets[0]!.start).toBe(T0 + 10 * HOUR + 15 * MIN - 24 * HOUR);
    expect(day.since).toBe(T0 + 10 * HOUR + 17 * MIN - 24 * HOUR);
    expect(day.totals).toEqual({ rate_limit_exceeded: 3, user_budget_exhausted: 1, model_not_priced: 1 });
    expect(refusalSeriesJson(s)).toMatchObject({
      object: 'refusal_history',
      since: '2025-03-10T09:47:00Z',
      until: '2025-03-10T10:17:00Z',
      step_minutes: 15,
      data: [{ start: '2025-03-10T09:45:00Z', counts: {} }, { start: '2025-03-10T10:00:00Z' }, { start: '2025-03-10T10:15:00Z' }],
    });
  });

  it('forgets a minute after 24 hours, even when its slot comes round again, and ignores a clock stepping back', () => {
    const { history, set } = clocked(T0 + 5 * MIN);
    history.record('forbidden');
    set(T0 + 24 * HOUR - 1);
    expect(history.series().totals).toEqual({ forbidden: 1 });
    set(T0 + 24 * HOUR + 5 * MIN); // the same ring slot, a day later
    expect(history.series().totals).toEqual({});
    history.record('invalid_api_key');
    expect(history.series().totals).toEqual({ invalid_api_key: 1 });
    expect(history.series({ minutes: 1 }).buckets).toEqual([{ start: T0 + 24 * HOUR + 5 * MIN, counts: { invalid_api_key: 1 } }]);
    set(T0 + 5 * MIN); // back a day: that minute's slot now holds a later minute, nothing is mixed in
    history.record('forbidden');
    set(T0 + 24 * HOUR + 5 * MIN);
    expect(history.series().totals).toEqual({ invalid_api_key: 1 });
  });

  it('keeps memory bounded: past the reason cap, refusals count as other', () => {
    let now = T0;
    const history = new RefusalHistory({ now: () => now, maxReasons: 3 });
    expect(history.record('a')).toBe('a');
    expect(history.record('b')).toBe('b');
    expect(history.record('c')).toBe('other');
    expect(history.record('d')).toBe('other');
    expect(history.record('a')).toBe('a');
    now += 3 * 24 * HOUR; // days of refusals later, still one counter array per reason
    history.record('e');
    expect(history.series().totals).toEqual({ other: 1 });
    expect(() => new RefusalHistory({ maxReasons: 0 })).toThrow(ValidationError);
    expect(() => history.series({ minutes: 1441 })).toThrow(/minutes/);
  });

  it('counts 4xx answers under their code, except routing, a client leaving and a provider rejecting', () => {
    expect(refusalReason({ status: 429, code: 'thread_budget_exhausted' })).toBe('thread_budget_exhausted');
    expect(refusalReason({ status: 429, code: 'org_budget_exhausted' })).toBe('org_budget_exhausted');
    expect(refusalReason({ status: 429, code: 'rate_limit_exceeded' })).toBe('rate_limit_exceeded');
    expect(refusalReason({ status: 400, code: 'model_not_priced' })).toBe('model_not_priced');
    expect(refusalReason({ status: 401, code: 'invalid_api_key' })).toBe('invalid_api_key');
    expect(refusalReason({ status: 404, code: 'model_not_found' })).toBe('model_not_found');
    expect(refusalReason({ status: 404, code: 'route_not_found' })).toBeUndefined();
    expect(refusalReason({ status: 405, code: 'method_not_allowed' })).toBeUndefined();
    expect(refusalReason({ status: 499, code: 'client_closed_request' })).toBeUndefined();
    expect(refusalReason({ status: 400, code: 'upstream_rejected_request' })).toBeUndefined();
    expect(refusalReason({ status: 503, code: 'provider_rate_limited' })).toBeUndefined();
    expect(refusalReason({ status: 500, code: 'internal_error' })).toBeUndefined();
  });
});

describe('GET /v1/metrics/refusals on a gateway', () => {
  it('counts the calls the gateway refused, by reason, for admins; tokenwarden_refusals_total agrees', async () => {
    const admin = 'tw-refusals-admin';
    const tenant = 'tw-refusals-acme';
    const metrics = new GatewayMetrics();
    const tg = await startTestGateway({
      keys: [
        { name: 'admin', sha256: hashGatewayKey(admin), org: null, admin: true },
        { name: 'acme', sha256: hashGatewayKey(tenant), org: 'acme', admin: false },
      ],
      gateway: { metrics },
    });
    const as = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
    try {
      const put = await call(`${tg.url}/v1/threads/poor/budget`, { method: 'PUT', headers: as(admin), body: { max_tokens: 10 } });
      expect(put.status).toBe(200);
      for (let i = 0; i < 2; i++) {
        const r = await call(`${tg.url}/v1/chat/completions`, { headers: { ...as(admin), 'x-thread-id': 'poor' }, body: { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 500 } });
        expect(errorOf(r.body).code).toBe('thread_budget_exhausted');
      }
      // A streamed call refused before its first chunk is counted once too.
      const streamed = await call(`${tg.url}/v1/chat/completions`, { headers: { ...as(admin), 'x-thread-id': 'poor' }, body: { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 500, stream: true } });
      expect(streamed.status).toBe(429);
      expect((await call(`${tg.url}/v1/models`, { headers: as('wrong') })).status).toBe(401);
      expect((await call(`${tg.url}/v1/metrics/refusals`, { headers: as(tenant) })).status).toBe(403); // admin_required: itself a refusal
      expect((await call(`${tg.url}/v1/nowhere`, { headers: as(admin) })).status).toBe(404); // not a refusal
      const ok = await call(`${tg.url}/v1/chat/completions`, { headers: as(admin), body: { model: 'gpt-4o-mini', messages: HELLO } });
      expect(ok.status).toBe(200);

      const r = await call(`${tg.url}/v1/metrics/refusals`, { headers: as(admin) });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        object: 'refusal_history',
        step_minutes: 15,
        reasons: ['thread_budget_exhausted', 'admin_required', 'invalid_api_key'],
        totals: { thread_budget_exhausted: 3, invalid_api_key: 1, admin_required: 1 },
      });
      const data = r.body.data as Array<{ start: string; counts: Record<string, number> }>;
      expect(data.length).toBeGreaterThanOrEqual(96);
      expect(data.length).toBeLessThanOrEqual(97);
      expect(data.reduce((a, b) => a + (b.counts.thread_budget_exhausted ?? 0), 0)).toBe(3);
      expect(Date.parse(data.at(-1)!.start)).toBeLessThanOrEqual(Date.now());
      const fine = await call(`${tg.url}/v1/metrics/refusals?minutes=5&step=1`, { headers: as(admin) });
      expect(fine.body).toMatchObject({ step_minutes: 1 });
      expect(fine.body.data).toHaveLength(5);
      expect((fine.body.totals as Record<string, number>).thread_budget_exhausted).toBe(3);

      const bad = await call(`${tg.url}/v1/metrics/refusals?minutes=0`, { headers: as(admin) });
      expect(bad.status).toBe(400);
      expect(errorOf(bad.body).param).toBe('minutes');
      expect(errorOf((await call(`${tg.url}/v1/metrics/refusals?org_id=acme`, { headers: as(admin) })).body)).toMatchObject({ code: 'unknown_parameter', param: 'org_id' });

      const text = await (await fetch(`${tg.url}/metrics`, { headers: as(admin) })).text();
      expect(text).toContain('# TYPE tokenwarden_refusals_total counter');
      expect(text).toContain('tokenwarden_refusals_total{reason="thread_budget_exhausted"} 3');
      expect(text).toContain('tokenwarden_refusals_total{reason="invalid_api_key"} 1');
      // The two 400s just above were refusals too (invalid_value, unknown_parameter).
      expect(text).toContain('tokenwarden_refusals_total{reason="unknown_parameter"} 1');
      expect(text).not.toContain('reason="route_not_found"');
      expect(text).toContain('tokenwarden_budget_refusals_total 3');
    } finally {
      await tg.close();
    }
  });

  it('needs no key on a gateway without keys', async () => {
    const tg = await startTestGateway();
    try {
      const r = await call(`${tg.url}/v1/metrics/refusals?minutes=60`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ step_minutes: 1, reasons: [], totals: {} });
      expect(r.body.data).toHaveLength(60);
    } finally {
      await tg.close();
    }
  });

  it('counts budget policy refusals under their codes: <scope>_budget_exhausted, rate_limit_exceeded, model_not_priced', async () => {
    const ledger = new MemoryPolicyLedger();
    const policies = new BudgetPolicies({
      policies: [
        { name: 'user-tiny', scope: 'user', maxUsd: 0.000001, window: '1d' },
        { name: 'model-rate', scope: 'model', match: { model: 'gpt-4o' }, rpm: 1 },
        { name: 'org-usd', scope: 'org', maxUsd: 100 },
      ],
      ledger,
      prices: new PriceTable(),
    });
    const router = new LLMRouter({
      backends: [new MockBackend({ name: 'mock' })],
      ledger: new MemoryBudgetLedger({ maxTokensPerThread: 100_000 }),
      policies,
    });
    const gateway = createGateway({ router, policies: { guard: policies, ledger }, logError: () => undefined });
    const { port } = await gateway.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${port}`;
    const post = (model: string, headers: Record<string, string>) =>
      call(`${url}/v1/chat/completions`, { headers, body: { model, messages: HELLO, max_tokens: 100 } });
    // Both gpt-4o calls must fall in one UTC minute (rpm 1): not started in a minute's last 3 seconds.
    const left = MIN - (Date.now() % MIN);
    if (left < 3_000) await new Promise((r) => setTimeout(r, left + 50));
    try {
      expect(errorOf((await post('gpt-4o-mini', { 'x-user-id': 'u-1' })).body).code).toBe('user_budget_exhausted');
      expect((await post('gpt-4o', { 'x-org-id': 'acme' })).status).toBe(200);
      expect(errorOf((await post('gpt-4o', { 'x-org-id': 'acme' })).body).code).toBe('rate_limit_exceeded');
      expect(errorOf((await post('my-local-model', { 'x-org-id': 'acme' })).body).code).toBe('model_not_priced');
      const r = await call(`${url}/v1/metrics/refusals?minutes=10`);
      expect(r.body.totals).toEqual({ user_budget_exhausted: 1, rate_limit_exceeded: 1, model_not_priced: 1 });
    } finally {
      await gateway.close();
    }
  });
});
