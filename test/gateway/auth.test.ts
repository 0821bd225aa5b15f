import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { createGateway } from '../../src/gateway/create-gateway.js';
import { KeyRing, hashGatewayKey } from '../../src/gateway/key-ring.js';
import { MockBackend } from '../../src/providers/mock.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { HELLO, call, errorOf, startTestGateway, type TestGateway } from './harness.js';

const ACME = 'tw-acme-secret';
const BETA = 'tw-beta-secret';
const ADMIN = 'tw-admin-secret';

let tg: TestGateway;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  tg = await startTestGateway({
    keys: [
      { name: 'acme-app', sha256: hashGatewayKey(ACME), org: 'acme' },
      { name: 'beta-app', sha256: hashGatewayKey(BETA), org: 'beta' },
      { name: 'ops', sha256: hashGatewayKey(ADMIN), org: null, admin: true },
    ],
  });
  for (const [key, thread] of [
    [ACME, 'plan'],
    [BETA, 'plan'],
    [BETA, 'other'],
  ] as const) {
    const r = await call(`${tg.url}/v1/chat/completions`, {
      headers: { ...bearer(key), 'x-thread-id': thread },
      body: { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 20 },
    });
    expect(r.status).toBe(200);
  }
});
afterAll(async () => {
  await tg.close();
});

describe('gateway keys', () => {
  it('answers 401 for a missing, malformed or wrong key, in OpenAI error shape', async () => {
    const missing = await call(`${tg.url}/v1/models`);
    expect(missing.status).toBe(401);
    expect(errorOf(missing.body)).toMatchObject({ type: 'authentication_error', code: 'missing_api_key' });
    const basic = await call(`${tg.url}/v1/models`, { headers: { authorization: 'Basic abc' } });
    expect(basic.status).toBe(401);
    expect(errorOf(basic.body).code).toBe('invalid_api_key');
    const wrong = await call(`${tg.url}/v1/chat/completions`, { headers: bearer('nope'), body: { model: 'm', messages: HELLO } });
    expect(wrong.status).toBe(401);
    expect(errorOf(wrong.body)).toMatchObject({ code: 'invalid_api_key', message: 'Invalid gateway key' });
    expect(tg.upstream!.requests).toHaveLength(3);
  });

  it('lets the health check and the dashboard through without a key', async () => {
    expect((await call(`${tg.url}/healthz`)).status).toBe(200);
    const page = await fetch(`${tg.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    await page.text();
  });

  it('works with the official SDK using a gateway key as the API key', async () => {
    const client = new OpenAI({ apiKey: ACME, baseURL: `${tg.url}/v1`, maxRetries: 0 });
    const res = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'x-thread-id': 'sdk' } },
    );
    expect(res.choices[0]!.message.content).toBeTruthy();
    const bad = new OpenAI({ apiKey: 'wrong', baseURL: `${tg.url}/v1`, maxRetries: 0 });
    await expect(bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
  });

  it('scopes threads to the key’s org', async () => {
    const acme = await call(`${tg.url}/v1/threads/plan`, { headers: bearer(ACME) });
    const beta = await call(`${tg.url}/v1/threads/plan`, { headers: bearer(BETA) });
    expect(acme.body).toMatchObject({ org_id: 'acme', request_count: 1 });
    expect(beta.body).toMatchObject({ org_id: 'beta', request_count: 1 });
    // beta's "other" thread does not exist for acme.
    expect((await call(`${tg.url}/v1/threads/other`, { headers: bearer(ACME) })).status).toBe(404);
    // Claiming another org is forbidden.
    const claim = await call(`${tg.url}/v1/threads/other`, { headers: { ...bearer(ACME), 'x-org-id': 'beta' } });
    expect(claim.status).toBe(403);
    expect(errorOf(claim.body)).toMatchObject({ type: 'permission_error', code: 'org_mismatch', param: 'x-org-id' });
    // Listing shows only the key's org; asking for another org is forbidden.
    const list = await call(`${tg.url}/v1/threads`, { headers: bearer(BETA) });
    expect((list.body.data as Array<{ org_id: string }>).every((t) => t.org_id === 'beta')).toBe(true);
    expect((list.body.data as unknown[]).length).toBe(2);
    expect((await call(`${tg.url}/v1/threads?org_id=acme`, { headers: bearer(BETA) })).status).toBe(403);
    // An org key may end its own thread but not touch another org's.
    expect((await call(`${tg.url}/v1/threads/other`, { method: 'DELETE', headers: bearer(ACME) })).status).toBe(404);
    expect((await call(`${tg.url}/v1/threads/plan`, { headers: bearer(BETA) })).status).toBe(200);
  });

  it('lets only an admin set budgets, in any org', async () => {
    const denied = await call(`${tg.url}/v1/threads/plan/budget`, { method: 'PUT', headers: bearer(ACME), body: { max_tokens: 10 } });
    expect(denied.status).toBe(403);
    expect(errorOf(denied.body).code).toBe('admin_required');
    const ok = await call(`${tg.url}/v1/threads/plan/budget`, {
      method: 'PUT',
      headers: { ...bearer(ADMIN), 'x-org-id': 'acme' },
      body: { max_tokens: 12_345 },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ id: 'plan', org_id: 'acme', max_tokens: 12_345 });
    expect((await call(`${tg.url}/v1/threads/plan`, { headers: bearer(ACME) })).body.max_tokens).toBe(12_345);
    expect((await call(`${tg.url}/v1/threads/plan`, { headers: bearer(BETA) })).body.max_tokens).toBe(100_000);
    // The admin sees every org's threads.
    const all = await call(`${tg.url}/v1/threads`, { headers: bearer(ADMIN) });
    const orgs = new Set((all.body.data as Array<{ org_id: string }>).map((t) => t.org_id));
    expect(orgs).toEqual(new Set(['acme', 'beta']));
  });

  it('forces the org filter on usage for org keys; admins read everything', async () => {
    const acme = await call(`${tg.url}/v1/usage/summary`, { headers: bearer(ACME) });
    expect(acme.status).toBe(200);
    expect(acme.body.org_id).toBe('acme');
    const acmeEvents = await call(`${tg.url}/v1/usage/events`, { headers: bearer(ACME) });
    expect((acmeEvents.body.data as Array<{ org_id: string }>).every((e) => e.org_id === 'acme')).toBe(true);
    const acmeCount = (acme.body.totals as { request_count: number }).request_count;
    const forbidden = await call(`${tg.url}/v1/usage/summary?org_id=beta`, { headers: bearer(ACME) });
    expect(forbidden.status).toBe(403);

    const admin = await call(`${tg.url}/v1/usage/summary`, { headers: bearer(ADMIN) });
    const adminCount = (admin.body.totals as { request_count: number }).request_count;
    const beta = await call(`${tg.url}/v1/usage/summary?org_id=beta`, { headers: bearer(ADMIN) });
    const betaCount = (beta.body.totals as { request_count: number }).request_count;
    expect(betaCount).toBe(2);
    expect(adminCount).toBe(acmeCount + betaCount);
    // Events carry the key name and org.
    const ev = (acmeEvents.body.data as Array<{ metadata: Record<string, unknown> }>)[0]!;
    expect(ev.metadata).toMatchObject({ org_id: 'acme', key_name: 'acme-app' });
  });

  it('serves /metrics to admins only when keys are configured', async () => {
    expect((await call(`${tg.url}/metrics`, { headers: bearer(ACME) })).status).toBe(403);
    const res = await fetch(`${tg.url}/metrics`, { headers: bearer(ADMIN) });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('tokenwarden_requests_total{route="/v1/chat/completions",status="200"}');
    expect(text).toMatch(/tokenwarden_tokens_total\{model="gpt-4o-mini",provider="openai",kind="prompt"\} \d+/);
  });
});

describe('KeyRing', () => {
  it('matches hashed keys and refuses others', () => {
    const ring = new KeyRing([{ name: 'a', sha256: hashGatewayKey('s1'), org: 'o1' }]);
    expect(ring.authenticate('Bearer s1')).toEqual({ keyName: 'a', org: 'o1', admin: false });
    expect(() => ring.authenticate('Bearer s2')).toThrow(/Invalid gateway key/);
    expect(() => ring.authenticate(undefined)).toThrow(/Missing gateway key/);
    expect(() => new KeyRing([{ name: 'b', sha256: 'abc', org: 'o' }])).toThrow(/keys\[0\]\.sha256/);
    expect(() => new KeyRing([{ name: 'b', sha256: hashGatewayKey('x'), org: null }])).toThrow(/keys\[0\]\.org/);
  });
});

describe('loopback only without keys', () => {
  it('refuses to listen on a non-loopback host when no keys are configured', async () => {
    const router = new LLMRouter({ backends: [new MockBackend()], ledger: new MemoryBudgetLedger(), tracker: new UsageTracker() });
    const gw = createGateway({ router });
    await expect(gw.listen(0, '0.0.0.0')).rejects.toBeInstanceOf(ConfigError);
    await expect(gw.listen(0, '0.0.0.0')).rejects.toThrow(/without gateway keys/);
    await gw.close();
  });
});
