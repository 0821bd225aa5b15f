/**
 * `GET /v1/usage/hourly` on a real gateway over a real SQLite store: exact hourly sums, the default
 * last 24 hours, the 31-day bound, org scoping of tenant keys, and a store without an hourly series.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashGatewayKey } from '../../src/gateway/key-ring.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import type { UsageStore } from '../../src/usage/usage-store.js';
import { makeEvent } from '../stores/usage/usage-store-contract.js';
import { call, errorOf, startTestGateway, type TestGateway } from './harness.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ADMIN = 'tw-hourly-admin';
const ACME = 'tw-hourly-acme';
const keys = [
  { name: 'admin', sha256: hashGatewayKey(ADMIN), org: null, admin: true },
  { name: 'acme-app', sha256: hashGatewayKey(ACME), org: 'acme', admin: false },
];
const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** Start of the current UTC hour when the file loads (tests run well within it or the next one). */
const HOUR0 = Math.floor(Date.now() / HOUR) * HOUR;
/** 2024-11-01T00:00:00Z */
const T0 = Date.UTC(2024, 10, 1);

const events = [
  // Fixed hours in the past, for explicit ranges.
  makeEvent({ timestamp: T0 + 10 * HOUR + 1, promptTokens: 100, completionTokens: 10, totalTokens: 110, costNanos: 1_500, metadata: { org_id: 'acme' } }),
  makeEvent({ timestamp: T0 + 10 * HOUR + 59 * 60_000, promptTokens: 200, completionTokens: 20, totalTokens: 220, costNanos: 2_500, metadata: { org_id: 'globex' } }),
  makeEvent({ timestamp: T0 + 11 * HOUR, promptTokens: 300, completionTokens: 30, totalTokens: 330, costNanos: undefined, metadata: { org_id: 'acme' } }),
  makeEvent({ timestamp: T0 + 40 * HOUR, promptTokens: 400, completionTokens: 40, totalTokens: 440, costNanos: 4_000_000_000, metadata: { org_id: 'acme', user_id: 'u-7' } }),
  // Around now, for the default range (the current hour and the 23 before it).
  makeEvent({ timestamp: HOUR0 - 23 * HOUR, promptTokens: 7, completionTokens: 3, totalTokens: 10, costNanos: 70, metadata: { org_id: 'acme' } }),
  makeEvent({ timestamp: HOUR0 - 23 * HOUR - 1, promptTokens: 9, completionTokens: 1, totalTokens: 10, costNanos: 90, metadata: { org_id: 'acme' } }),
  makeEvent({ timestamp: HOUR0 - HOUR + 5, promptTokens: 5, completionTokens: 5, totalTokens: 10, costNanos: 50, metadata: { org_id: 'globex' } }),
  makeEvent({ timestamp: HOUR0, promptTokens: 1, completionTokens: 1, totalTokens: 2, costNanos: 20, metadata: { org_id: 'acme' } }),
];

type Point = { hour: string; prompt_tokens: number; completion_tokens: number; total_tokens: number; request_count: number; cost_nanos: number | null; cost_usd: number | null; unpriced_requests: number };
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

describe('GET /v1/usage/hourly', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startTestGateway({ keys });
    await tg.store.append(events);
  });
  afterAll(() => tg.close());

  it('sums each UTC hour exactly over an explicit range (since inclusive, until exclusive)', async () => {
    const r = await call(`${tg.url}/v1/usage/hourly?since=2024-11-01T10:00:00Z&until=${T0 + 41 * HOUR}`, { headers: auth(ADMIN) });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ object: 'list', since: T0 + 10 * HOUR, until: T0 + 41 * HOUR });
    expect(r.body.data as Point[]).toEqual([
      { hour: '2024-11-01T10:00:00Z', prompt_tokens: 300, completion_tokens: 30, total_tokens: 330, request_count: 2, cost_nanos: 4_000, cost_usd: 4e-6, unpriced_requests: 0 },
      { hour: '2024-11-01T11:00:00Z', prompt_tokens: 300, completion_tokens: 30, total_tokens: 330, request_count: 1, cost_nanos: null, cost_usd: null, unpriced_requests: 1 },
      { hour: '2024-11-02T16:00:00Z', prompt_tokens: 400, completion_tokens: 40, total_tokens: 440, request_count: 1, cost_nanos: 4_000_000_000, cost_usd: 4, unpriced_requests: 0 },
    ]);
    const narrow = await call(`${tg.url}/v1/usage/hourly?since=${T0 + 10 * HOUR + 2}&until=${T0 + 11 * HOUR}&org_id=globex`, { headers: auth(ADMIN) });
    expect((narrow.body.data as Point[]).map((p) => [p.hour, p.request_count, p.cost_nanos])).toEqual([['2024-11-01T10:00:00Z', 1, 2_500]]);
    const user = await call(`${tg.url}/v1/usage/hourly?since=2024-11-01&until=2024-11-03&user_id=u-7`, { headers: auth(ADMIN) });
    expect((user.body.data as Point[]).map((p) => [p.hour, p.total_tokens])).toEqual([['2024-11-02T16:00:00Z', 440]]);
  });

  it('answers the last 24 hours by default: the current UTC hour and the 23 before it', async () => {
    const r = await call(`${tg.url}/v1/usage/hourly`, { headers: auth(ADMIN) });
    expect(r.status).toBe(200);
    const now = Math.floor(Date.now() / HOUR) * HOUR;
    expect(r.body).toMatchObject({ since: now - 23 * HOUR, until: null });
    const data = r.body.data as Point[];
    // The event one millisecond before the range is left out; the ones in it are there, hour by hour.
    const expected = events.filter((e) => e.timestamp >= now - 23 * HOUR);
    expect(data.reduce((a, p) => a + p.request_count, 0)).toBe(expected.length);
    expect(data.reduce((a, p) => a + (p.cost_nanos ?? 0), 0)).toBe(expected.reduce((a, e) => a + (e.costNanos ?? 0), 0));
    expect(data.map((p) => p.hour)).toEqual([...new Set(expected.map((e) => iso(Math.floor(e.timestamp / HOUR) * HOUR)))].sort());
    // `until` alone: the 24 hours before it.
    const before = await call(`${tg.url}/v1/usage/hourly?until=${T0 + 11 * HOUR}`, { headers: auth(ADMIN) });
    expect(before.body).toMatchObject({ since: T0 - 13 * HOUR, until: T0 + 11 * HOUR });
    expect((before.body.data as Point[]).map((p) => [p.hour, p.request_count])).toEqual([['2024-11-01T10:00:00Z', 2]]);
  });

  it('scopes a tenant key to its org and refuses another org', async () => {
    const r = await call(`${tg.url}/v1/usage/hourly?since=2024-11-01&until=2024-11-03`, { headers: auth(ACME) });
    expect(r.status).toBe(200);
    expect((r.body.data as Point[]).map((p) => [p.hour, p.request_count, p.total_tokens])).toEqual([
      ['2024-11-01T10:00:00Z', 1, 110],
      ['2024-11-01T11:00:00Z', 1, 330],
      ['2024-11-02T16:00:00Z', 1, 440],
    ]);
    const other = await call(`${tg.url}/v1/usage/hourly?org_id=globex`, { headers: auth(ACME) });
    expect(other.status).toBe(403);
    expect((await call(`${tg.url}/v1/usage/hourly`)).status).toBe(401);
  });

  it('covers at most 31 days, and checks its parameters like the other usage routes', async () => {
    const ok = await call(`${tg.url}/v1/usage/hourly?since=${T0}&until=${T0 + 31 * DAY}`, { headers: auth(ADMIN) });
    expect(ok.status).toBe(200);
    const long = await call(`${tg.url}/v1/usage/hourly?since=${T0}&until=${T0 + 31 * DAY + 1}`, { headers: auth(ADMIN) });
    expect(long.status).toBe(400);
    expect(errorOf(long.body)).toMatchObject({ param: 'until' });
    expect(errorOf(long.body).message).toContain('at most 31 days');
    const sinceOnly = await call(`${tg.url}/v1/usage/hourly?since=${Date.now() - 32 * DAY}`, { headers: auth(ADMIN) });
    expect(sinceOnly.status).toBe(400);
    expect(errorOf(sinceOnly.body).param).toBe('since');
    const unknown = await call(`${tg.url}/v1/usage/hourly?step=5`, { headers: auth(ADMIN) });
    expect(unknown.status).toBe(400);
    expect(errorOf(unknown.body)).toMatchObject({ code: 'unknown_parameter', param: 'step' });
    const bad = await call(`${tg.url}/v1/usage/hourly?since=2024-02-30`, { headers: auth(ADMIN) });
    expect(errorOf(bad.body).param).toBe('since');
  });
});

describe('GET /v1/usage/hourly on a store without an hourly series', () => {
  it('answers 501 naming what is missing', async () => {
    const sqlite = new SqliteUsageStore({ path: ':memory:' });
    // A store written before hourly() existed: every method but that one.
    const older: UsageStore = {
      append: (e) => sqlite.append(e),
      query: (q) => sqlite.query(q),
      count: (f) => sqlite.count(f),
      summary: (f) => sqlite.summary(f),
      daily: (f) => sqlite.daily(f),
      flush: () => sqlite.flush(),
      close: () => sqlite.close(),
    };
    const tg = await startTestGateway({ store: older as SqliteUsageStore });
    try {
      const r = await call(`${tg.url}/v1/usage/hourly`);
      expect(r.status).toBe(501);
      expect(errorOf(r.body).code).toBe('usage_store_unsupported');
      expect((await call(`${tg.url}/v1/usage/daily`)).status).toBe(200);
    } finally {
      await tg.close();
      await sqlite.close();
    }
  });
});
