/**
 * The dashboard's budgets view in a real headless Chromium against a real gateway with budget policies
 * (memory policy ledger, real calls through the gateway), as an admin and as a tenant key.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import { BudgetPolicies } from '../../src/budget/policies.js';
import type { BudgetPolicy } from '../../src/budget/policy-types.js';
import { createGateway, type Gateway } from '../../src/gateway/create-gateway.js';
import { hashGatewayKey, type GatewayKey } from '../../src/gateway/key-ring.js';
import { PriceTable } from '../../src/pricing/price-table.js';
import { MockBackend } from '../../src/providers/mock.js';
import { LLMRouter } from '../../src/router/router.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/index.js';
import { UsageTracker } from '../../src/usage/tracker.js';

// DOM globals used inside page callbacks (the project's `lib` has no DOM types; declared for this file only).
declare const document: { getElementById(id: string): { textContent: string | null } | null };
declare const sessionStorage: { setItem(key: string, value: string): void };

const CHROMIUM = '/usr/bin/chromium';
const REQUIRE = process.env.TOKENWARDEN_REQUIRE_SERVICES === '1';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const describeBrowser = HAVE_CHROMIUM || REQUIRE ? describe : describe.skip;

const POLICIES: BudgetPolicy[] = [
  { name: 'user-daily', scope: 'user', maxUsd: 5, window: '1d' },
  { name: 'agent-cap', scope: 'agent', maxTokens: 200_000 },
  { name: 'org-monthly', scope: 'org', maxUsd: 500, maxTokens: 50_000_000, window: '1mo' },
  { name: 'model-rate', scope: 'model', rpm: 60 },
];

interface Running {
  origin: string;
  store: SqliteUsageStore;
  gateway: Gateway;
  close(): Promise<void>;
}

async function startGateway(keys?: GatewayKey[]): Promise<Running> {
  const ledger = new MemoryPolicyLedger();
  const policies = new BudgetPolicies({ policies: POLICIES, ledger, prices: new PriceTable() });
  const router = new LLMRouter({
    backends: [new MockBackend({ name: 'mock' })],
    ledger: new MemoryBudgetLedger({ maxTokensPerThread: 100_000 }),
    tracker: new UsageTracker(),
    policies,
  });
  const store = new SqliteUsageStore({ path: ':memory:' });
  const gateway = createGateway({ router, store, keys, policies: { guard: policies, ledger }, shutdownTimeoutMs: 1_000, logError: () => undefined });
  const { port } = await gateway.listen(0, '127.0.0.1');
  return { origin: `http://127.0.0.1:${port}`, store, gateway, close: () => gateway.close() };
}

async function chat(gw: Running, headers: Record<string, string>, content: string): Promise<void> {
  const res = await fetch(`${gw.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 50 }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

describeBrowser('dashboard budgets view in headless Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing but TOKENWARDEN_REQUIRE_SERVICES=1: the dashboard must be tested in a real browser`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function openPage(origin: string, key?: string): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'en-US', timezoneId: 'UTC' });
    if (key) await context.addInitScript((k) => sessionStorage.setItem('tokenwarden.gatewayKey', k), key);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 403/.test(m.text())) errors.push(m.text());
    });
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => /^Updated/.test(document.getElementById('status')?.textContent ?? ''));
    return { page, errors };
  }

  function rows(page: Page, policy: string): Promise<string[][]> {
    return page.$$eval(`.policy[data-policy="${policy}"] tbody tr`, (trs) =>
      trs.map((r) => [...r.querySelectorAll('th, td')].map((c) => (c.textContent ?? '').replace(/\s+/g, ' ').trim())),
    );
  }

  it("shows each policy's entities with their spend against the limit and the reset time", async () => {
    const gw = await startGateway();
    try {
      await chat(gw, { 'x-user-id': 'u-7', 'x-agent-id': 'planner' }, 'first call of u-7');
      await chat(gw, { 'x-user-id': 'u-7', 'x-agent-id': 'planner' }, 'second call of u-7, a little longer than the first');
      await chat(gw, { 'x-user-id': 'u-9' }, 'u-9 once');
      // What the gateway says, and what the store recorded: the page must show the same.
      const top = (await (await fetch(`${gw.origin}/v1/budgets/user-daily?top=20`)).json()) as { data: Array<{ entity: string; spent_usd: number; max_usd: number; resets_at: string }> };
      expect(top.data.map((s) => s.entity)).toEqual(['u-7', 'u-9']);
      const stored = (await gw.store.query({ userId: 'u-7' })).events.reduce((a, e) => a + (e.costNanos ?? 0), 0);
      const u7 = top.data[0]!;
      expect(Math.round(u7.spent_usd * 1e9)).toBe(stored);
      expect(stored).toBeGreaterThan(0);

      const { page, errors } = await openPage(gw.origin);
      expect(await page.$$eval('#budgets .policy', (ps) => ps.map((p) => p.getAttribute('data-policy')))).toEqual(['user-daily', 'agent-cap', 'org-monthly', 'model-rate']);
      expect(await page.textContent('.policy[data-policy="user-daily"] .policy-meta')).toBe('scope user · $5.00 per 1d');
      const usd = (v: number): string => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumSignificantDigits: 3 }).format(v);
      const userRows = await rows(page, 'user-daily');
      expect(userRows.map((r) => r[0])).toEqual(['u-7', 'u-9']);
      const pct = ((u7.spent_usd / 5) * 100).toFixed(1);
      expect(userRows[0]![1]).toBe(`${pct} % ${usd(u7.spent_usd)} / $5.00`);
      expect(userRows[0]![3]).toMatch(/^in \d+ h \d+ min$|^in \d+ (min|s)$/);
      const meter = await page.$eval('.policy[data-policy="user-daily"] tr[data-entity="u-7"] .budget', (el) => ({
        level: el.getAttribute('data-level'),
        max: el.getAttribute('aria-valuemax'),
        now: Number(el.getAttribute('aria-valuenow')),
      }));
      expect(meter).toMatchObject({ level: 'ok', max: '5' });
      expect(await page.getAttribute('.policy[data-policy="user-daily"] tr[data-entity="u-7"] .budget', 'aria-label')).toBe('USD spent of u-7');
      expect(meter.now).toBeCloseTo(u7.spent_usd, 12);
      const nextMidnight = new Date(Math.floor(Date.now() / 86_400_000 + 1) * 86_400_000).toISOString();
      expect(await page.getAttribute('.policy[data-policy="user-daily"] tr[data-entity="u-7"] td:last-child', 'title')).toBe(nextMidnight);
      expect(u7.resets_at).toBe(nextMidnight);

      // Tokens over a lifetime: never resets; the agent's row counts both of u-7's calls.
      const agentRows = await rows(page, 'agent-cap');
      expect(agentRows.map((r) => [r[0], r[3]])).toEqual([['planner', 'never (lifetime)']]);
      expect(agentRows[0]![1]).toMatch(/^0\.\d % [\d,]+ \/ 200,000 tokens$/);
      // No org on a keyless gateway: the org policy has no entity yet.
      expect(await rows(page, 'org-monthly')).toEqual([['No spend in the current window yet.']]);
      // A rate-only policy has no spend to rank its entities by.
      expect(await rows(page, 'model-rate')).toEqual([['Rate limits only: counted per minute, nothing to rank by spend. One entity: GET /v1/budgets/model-rate/{entity}.']]);
      expect(await page.textContent('.policy[data-policy="model-rate"] .policy-meta')).toBe('scope model · 60 requests/min');
      await page.screenshot({ path: '/tmp/dashboard-budgets.png', fullPage: true });
      expect(errors).toEqual([]);
      await page.context().close();
    } finally {
      await gw.close();
    }
  });

  it("shows a tenant key its own org's standing (top entities need an admin key) and explains the refusals view", async () => {
    const admin = 'tw-dash-admin';
    const tenant = 'tw-dash-acme';
    const gw = await startGateway([
      { name: 'admin', sha256: hashGatewayKey(admin), org: null, admin: true },
      { name: 'acme-app', sha256: hashGatewayKey(tenant), org: 'acme', admin: false },
    ]);
    try {
      await chat(gw, { authorization: `Bearer ${tenant}`, 'x-user-id': 'u-1' }, 'a call billed to acme');
      const { page, errors } = await openPage(gw.origin, tenant);
      expect(await page.textContent('.policy[data-policy="org-monthly"] .policy-note')).toBe('Your key sees its own standing only; the top entities need an admin key.');
      const org = await rows(page, 'org-monthly');
      expect(org.map((r) => r[0])).toEqual(['acme']);
      expect(org[0]![1]).toMatch(/^0\.0 % \$[\d.]+ \/ \$500\.00 0\.0 % [\d,]+ \/ 50,000,000 tokens$/);
      expect(await page.textContent('#chart-refusals')).toBe('Refusals are counted for the whole gateway: an admin key is needed to see them.');
      expect(await page.isHidden('#error')).toBe(true);
      expect(errors).toEqual([]);
      await page.context().close();
    } finally {
      await gw.close();
    }
  });

  it('charts refusals of many reasons: the five most frequent by name, the rest together, all of them in the table', async () => {
    const admin = 'tw-dash-admin';
    const tenant = 'tw-dash-acme';
    const gw = await startGateway([
      { name: 'admin', sha256: hashGatewayKey(admin), org: null, admin: true },
      { name: 'acme-app', sha256: hashGatewayKey(tenant), org: 'acme', admin: false },
    ]);
    const get = async (path: string, key: string, headers: Record<string, string> = {}, times = 1): Promise<number> => {
      let status = 0;
      for (let i = 0; i < times; i++) status = (await fetch(`${gw.origin}${path}`, { headers: { authorization: `Bearer ${key}`, ...headers } })).status;
      return status;
    };
    // All refusals in one 15-minute bucket of the chart: not started in a quarter hour's last 3 seconds.
    const left = 900_000 - (Date.now() % 900_000);
    if (left < 3_000) await new Promise((r) => setTimeout(r, left + 50));
    try {
      expect(await get('/v1/models', 'wrong-key', {}, 7)).toBe(401); // invalid_api_key ×7
      expect(await get('/metrics', tenant, {}, 6)).toBe(403); // admin_required ×6
      expect(await get('/v1/models', tenant, { 'x-org-id': 'globex' }, 5)).toBe(403); // org_mismatch ×5
      expect(await get('/v1/usage/daily?org_id=globex', tenant, {}, 4)).toBe(403); // forbidden ×4
      expect(await get('/v1/usage/daily?x=1', admin, {}, 3)).toBe(400); // unknown_parameter ×3
      expect(await get('/v1/usage/daily?since=2024-02-30', admin, {}, 2)).toBe(400); // invalid_value ×2
      expect(await get('/v1/budgets/nope', admin)).toBe(404); // policy_not_found ×1
      const { page, errors } = await openPage(gw.origin, admin);
      const table = await page.$$eval('#refusals-rows tr', (trs) => trs.map((r) => [r.getAttribute('data-reason'), r.querySelector('td')?.textContent]));
      expect(table).toEqual([
        ['invalid_api_key', '7'],
        ['admin_required', '6'],
        ['org_mismatch', '5'],
        ['forbidden', '4'],
        ['unknown_parameter', '3'],
        ['invalid_value', '2'],
        ['policy_not_found', '1'],
      ]);
      expect(await page.$$eval('#refusals-legend .swatch', (ss) => ss.map((e) => e.getAttribute('class')))).toEqual([
        'swatch reason-0',
        'swatch reason-1',
        'swatch reason-2',
        'swatch reason-3',
        'swatch reason-4',
        'swatch reason-rest',
      ]);
      expect(await page.textContent('#refusals-legend')).toBe('invalid_api_key admin_required org_mismatch forbidden unknown_parameter other reasons');
      // One bar, its segments stacked: 3 of the 28 refusals are "other reasons".
      const segments = await page.$$eval('#chart-refusals g.bar rect:not(.hit)', (rs) => rs.map((r) => [r.getAttribute('class'), Number(r.getAttribute('height'))]));
      expect(segments.map((x) => x[0])).toEqual(['reason-0', 'reason-1', 'reason-2', 'reason-3', 'reason-4', 'reason-rest']);
      const heights = segments.map((x) => x[1] as number);
      expect(heights[5]! / heights[0]!).toBeCloseTo(3 / 7, 2);
      expect(await page.getAttribute('#chart-refusals svg', 'aria-label')).toMatch(/; highest 28 refusals at /);
      expect(errors).toEqual([]);
      await page.context().close();
    } finally {
      await gw.close();
    }
  });
});
