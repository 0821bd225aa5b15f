/**
 * The dashboard in a real headless Chromium, against a real HTTP server answering the usage API from
 * a real SQLite store seeded with known events.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThreadBudgetRegistry } from '../../src/budget/registry.js';
import { createGateway } from '../../src/gateway/create-gateway.js';
import { DASHBOARD_CSP, dashboardAsset, dashboardHtml } from '../../src/gateway/dashboard/index.js';
import { hashGatewayKey, type GatewayKey } from '../../src/gateway/key-ring.js';
import { MockBackend } from '../../src/providers/mock.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/index.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import type { UsageEvent } from '../../src/usage/types.js';

// DOM globals used inside page callbacks (the project's `lib` has no DOM types; declared for this file only).
declare const document: { getElementById(id: string): { textContent: string | null } | null };
declare const sessionStorage: { getItem(key: string): string | null };
declare const localStorage: { length: number };
declare function getComputedStyle(element: unknown): { backgroundColor: string };

const CHROMIUM = '/usr/bin/chromium';
const REQUIRE = process.env.TOKENWARDEN_REQUIRE_SERVICES === '1';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM && !REQUIRE) {
  console.warn(`[tokenwarden tests] ${CHROMIUM} not found: skipping the headless dashboard tests`);
}
const describeBrowser = HAVE_CHROMIUM || REQUIRE ? describe : describe.skip;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.now();

let seq = 0;
function event(fields: Partial<UsageEvent> & Pick<UsageEvent, 'model' | 'provider' | 'promptTokens' | 'completionTokens' | 'timestamp'>): UsageEvent {
  seq++;
  return {
    id: `01JDASHBOARDTEST${String(seq).padStart(10, '0')}`,
    threadId: null,
    agentId: null,
    totalTokens: fields.promptTokens + fields.completionTokens,
    latencyMs: 100,
    estimatedCost: fields.costNanos === undefined ? undefined : fields.costNanos / 1e9,
    costNanos: undefined,
    metadata: {},
    ...fields,
  };
}

const AGENT_HTML = '<b>reviewer</b>';
/** Within the last 30 days: 7,500 prompt + 1,650 completion tokens, 5 calls, $3.24. */
const RECENT: UsageEvent[] = [
  event({ model: 'gpt-4o-mini', provider: 'openai', agentId: 'planner', threadId: 'research-42', promptTokens: 1200, completionTokens: 300, costNanos: 450_000_000, timestamp: NOW - HOUR }),
  event({ model: 'gpt-4o-mini', provider: 'openai', agentId: 'planner', promptTokens: 800, completionTokens: 200, costNanos: 300_000_000, timestamp: NOW - 2 * DAY }),
  event({ model: 'claude-3-5-haiku', provider: 'anthropic', agentId: 'researcher', promptTokens: 5000, completionTokens: 1000, costNanos: 2_250_000_000, timestamp: NOW - 2 * DAY - HOUR }),
  event({ model: 'claude-3-5-haiku', provider: 'anthropic', agentId: AGENT_HTML, promptTokens: 400, completionTokens: 100, costNanos: 240_000_000, timestamp: NOW - 5 * DAY }),
  event({ model: 'local-llama', provider: 'mock', agentId: null, promptTokens: 100, completionTokens: 50, costNanos: undefined, timestamp: NOW - 6 * DAY }),
];
/** Outside the default 30-day period: 10,000 prompt tokens, $1.00. */
const OLD = event({ model: 'gpt-4o-mini', provider: 'openai', agentId: 'planner', promptTokens: 10_000, completionTokens: 0, costNanos: 1_000_000_000, timestamp: NOW - 60 * DAY });

interface TestGateway {
  origin: string;
  registry: ThreadBudgetRegistry;
  /** Errors the gateway logged (answered 500). */
  logged: unknown[];
  close(): Promise<void>;
}

/** The real gateway (mock provider, in-memory ledger) over `store`, on 127.0.0.1 port 0. */
async function startGateway(store: SqliteUsageStore, keys?: GatewayKey[]): Promise<TestGateway> {
  const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 100_000 });
  const router = new LLMRouter({
    backends: [new MockBackend({ name: 'mock' })],
    ledger: new MemoryBudgetLedger({ registry }),
    tracker: new UsageTracker(),
  });
  const logged: unknown[] = [];
  const gateway = createGateway({ router, store, keys, closeResources: false, shutdownTimeoutMs: 1_000, logError: (_m, err) => logged.push(err) });
  const { port } = await gateway.listen(0, '127.0.0.1');
  return { origin: `http://127.0.0.1:${port}`, registry, logged, close: () => gateway.close() };
}

/** Gives a thread its own budget through the gateway's API, so it is listed as live. */
async function putBudget(gw: TestGateway, threadId: string, maxTokens: number, key?: string): Promise<void> {
  const res = await fetch(`${gw.origin}/v1/threads/${threadId}/budget`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ max_tokens: maxTokens }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

describe('dashboard assets', () => {
  it('serves the page and its same-origin assets with the right types and a strict CSP', () => {
    expect(dashboardHtml()).toContain('<script src="dashboard/app.js" defer></script>');
    expect(dashboardHtml()).not.toMatch(/https?:\/\//);
    const page = dashboardAsset('/');
    expect(page?.contentType).toBe('text/html; charset=utf-8');
    expect(page?.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("connect-src 'self'");
    expect(dashboardAsset('/dashboard/app.js?v=1')?.contentType).toBe('text/javascript; charset=utf-8');
    expect(dashboardAsset('/dashboard/app.css')?.contentType).toBe('text/css; charset=utf-8');
    expect(dashboardAsset('/dashboard/favicon.svg')?.contentType).toBe('image/svg+xml');
    expect(dashboardAsset('/dashboard/../etc/passwd')).toBeUndefined();
    expect(dashboardAsset('/v1/models')).toBeUndefined();
    for (const path of ['/dashboard/app.js', '/dashboard/app.css']) {
      expect(dashboardAsset(path)?.body, path).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    }
  });
});

describe('dashboard served by the gateway', () => {
  it('answers GET and HEAD with caching and security headers, and 304 to a matching ETag', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-dashboard-http-'));
    const store = new SqliteUsageStore({ path: join(dir, 'usage.db') });
    const gw = await startGateway(store);
    try {
      const page = await fetch(`${gw.origin}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await page.text()).toBe(dashboardHtml());
      const etag = page.headers.get('etag')!;
      expect(etag).toMatch(/^"[\w-]+"$/);
      const again = await fetch(`${gw.origin}/`, { headers: { 'if-none-match': etag } });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe('');
      const js = await fetch(`${gw.origin}/dashboard/app.js`, { method: 'HEAD' });
      expect(js.status).toBe(200);
      expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(Number(js.headers.get('content-length'))).toBe(Buffer.byteLength(dashboardAsset('/dashboard/app.js')!.body));
      expect((await fetch(`${gw.origin}/dashboard/nope.js`)).status).toBe(404);
      expect((await fetch(`${gw.origin}/`, { method: 'POST' })).status).not.toBe(200);
    } finally {
      await gw.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeBrowser('dashboard in headless Chromium', () => {
  let browser: Browser;
  let dir: string;
  let store: SqliteUsageStore;
  let server: TestGateway;

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing but TOKENWARDEN_REQUIRE_SERVICES=1: the dashboard must be tested in a real browser`);
    dir = mkdtempSync(join(tmpdir(), 'tokenwarden-dashboard-'));
    store = new SqliteUsageStore({ path: join(dir, 'usage.db') });
    await store.append([...RECENT, OLD]);
    server = await startGateway(store);
    // research-42: 8,000 of 10,000 used and 500 held by a call in flight; fresh-thread: 1,000 of 100,000.
    await putBudget(server, 'research-42', 10_000);
    server.registry.consume('research-42', { promptTokens: 6_000, completionTokens: 2_000 });
    server.registry.reserve('research-42', 500);
    await putBudget(server, 'fresh-thread', 100_000);
    server.registry.consume('fresh-thread', { promptTokens: 700, completionTokens: 300 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function openPage(origin: string, hash = ''): Promise<{ page: Page; requests: string[]; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'en-US', timezoneId: 'UTC' });
    const page = await context.newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      // A gateway without budget policies answers GET /v1/budgets with 404 (the page shows how to add some).
      const budgetsAbsent = /status of 404/.test(m.text()) && new URL(m.location().url || 'http://x/').pathname === '/v1/budgets';
      if (m.type() === 'error' && !/status of 401/.test(m.text()) && !budgetsAbsent) errors.push(m.text());
    });
    await page.goto(`${origin}/${hash}`);
    return { page, requests, errors };
  }

  async function loaded(page: Page): Promise<void> {
    await page.waitForFunction(() => /^Updated/.test(document.getElementById('status')?.textContent ?? ''));
  }

  function cells(page: Page, tbody: string): Promise<string[][]> {
    return page.$$eval(`#${tbody} tr`, (rows) =>
      rows.map((r) => [...r.querySelectorAll('th, td')].map((c) => (c.textContent ?? '').replace(/\s+/g, ' ').trim())),
    );
  }

  it('renders the real totals, models, agents, days and live budgets, all from its own origin', async () => {
    // One refused call: research-42 cannot afford 5,000 more tokens (8,000 used + 500 held of 10,000).
    const refused = await fetch(`${server.origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-thread-id': 'research-42' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'too much' }], max_tokens: 5_000 }),
    });
    expect(refused.status).toBe(429);
    const { page, requests, errors } = await openPage(server.origin);
    await loaded(page);

    expect(await page.textContent('#kpi-tokens')).toBe('9,150');
    expect(await page.textContent('#kpi-tokens-sub')).toBe('7,500 prompt · 1,650 completion');
    expect(await page.textContent('#kpi-cost')).toBe('$3.24');
    expect(await page.textContent('#kpi-cost-sub')).toBe('$0.81 per priced request · 1 unpriced request not included');
    expect(await page.textContent('#kpi-requests')).toBe('5');
    expect(await page.textContent('#kpi-threads')).toBe('2');

    const models = await cells(page, 'models-rows');
    expect(models.map((r) => r[0])).toEqual(['claude-3-5-haiku 71.0 %', 'gpt-4o-mini 27.3 %', 'local-llama 1.6 %']);
    expect(models[0]!.slice(1)).toEqual(['2', '6,500 5,400 in · 1,100 out', '$2.49']);
    expect(models[1]!.slice(1)).toEqual(['2', '2,500 2,000 in · 500 out', '$0.75']);
    // local-llama has no known price: unpriced, never $0.00.
    expect(models[2]!.slice(1)).toEqual(['1', '150 100 in · 50 out', 'unpriced']);
    const modelBar = await page.$eval('#models-rows tr:first-child .share-fill', (el) => (el as unknown as { style: { width: string } }).style.width);
    expect(modelBar).toBe('71.04%');

    const agents = await cells(page, 'agents-rows');
    expect(agents.map((r) => [r[0], r[1], r[3]])).toEqual([
      ['researcher 65.6 %', '1', '$2.25'],
      ['planner 27.3 %', '2', '$0.75'],
      [`${AGENT_HTML} 5.5 %`, '1', '$0.24'],
      ['(no agent) 1.6 %', '1', 'unpriced'],
    ]);
    // An agent name is text, never markup.
    expect(await page.$$('#agents-rows b')).toHaveLength(0);

    // One bar group per UTC day of the period; the days with usage are the seeded ones.
    const perDay = new Map<string, number>();
    for (const e of RECENT) perDay.set(utcDate(e.timestamp), (perDay.get(utcDate(e.timestamp)) ?? 0) + e.totalTokens);
    const days = [...perDay.keys()].sort();
    const peak = Math.max(...perDay.values());
    const daily = await cells(page, 'daily-rows');
    expect(daily.map((r) => r[0])).toEqual([...days].reverse());
    const busiest = RECENT.filter((e) => utcDate(e.timestamp) === utcDate(NOW - 2 * DAY));
    const row = daily.find((r) => r[0] === utcDate(NOW - 2 * DAY))!;
    expect(row[2]).toBe(busiest.reduce((s, e) => s + e.promptTokens, 0).toLocaleString('en-US'));
    expect(daily.find((r) => r[0] === utcDate(NOW - 6 * DAY))![4]).toBe('unpriced'); // local-llama's day
    const bars = await page.$$eval('#chart-tokens g.bar', (gs) => gs.map((g) => g.querySelectorAll('rect:not(.hit)').length));
    expect(bars.length).toBeGreaterThanOrEqual(30);
    expect(bars.filter((n) => n > 0)).toHaveLength(days.length);
    expect(await page.getAttribute('#chart-tokens svg', 'aria-label')).toMatch(
      new RegExp(`^Tokens per day over \\d+ days; highest ${peak.toLocaleString('en-US')} tokens on `),
    );

    // The live thread's budget bar: 8,000 of 10,000 used (80 %: warning), 500 reserved.
    const budget = await page.$eval('tr[data-thread="research-42"] .budget', (el) => {
      const track = el.getBoundingClientRect().width;
      const used = el.querySelector('.budget-used')!.getBoundingClientRect().width;
      const reserved = el.querySelector('.budget-reserved')!.getBoundingClientRect().width;
      return {
        used: used / track,
        reserved: reserved / track,
        level: el.getAttribute('data-level'),
        now: el.getAttribute('aria-valuenow'),
        max: el.getAttribute('aria-valuemax'),
        text: el.getAttribute('aria-valuetext'),
        color: getComputedStyle(el.querySelector('.budget-used')!).backgroundColor,
      };
    });
    expect(budget.used).toBeCloseTo(0.8, 2);
    expect(budget.reserved).toBeCloseTo(0.05, 2);
    expect(budget).toMatchObject({ level: 'warning', now: '8000', max: '10000', text: '8,000 of 10,000 tokens used (80.0 %), 500 reserved, 1,500 remaining' });
    expect(budget.color).toBe('rgb(217, 119, 6)');
    const threads = await cells(page, 'threads-rows');
    const thread = threads.find((r) => r[0] === 'research-42')!;
    expect(thread.slice(0, 5)).toEqual(['research-42', '—', '1', '80.0 % 8,000 / 10,000 · 500 reserved', '1,500']);
    expect(thread[5]).toMatch(/^\d+ s ago$/);
    expect(await page.$eval('tr[data-thread="fresh-thread"] .budget', (el) => el.getAttribute('data-level'))).toBe('ok');

    // Last 24 hours: one bar per UTC hour, the current one last; only the call an hour ago is in range.
    const hourly = await cells(page, 'hourly-rows');
    const lastHour = new Date(Math.floor((NOW - HOUR) / HOUR) * HOUR).toISOString();
    expect(hourly).toEqual([[`${lastHour.slice(0, 10)} ${lastHour.slice(11, 16)}`, '1', '1,200', '300', '$0.45']]);
    const hourBars = await page.$$eval('#chart-hourly-tokens g.bar', (gs) => gs.map((g) => g.querySelectorAll('rect:not(.hit)').length));
    expect(hourBars).toHaveLength(24);
    expect(hourBars.filter((n) => n > 0)).toEqual([2]);
    expect(await page.getAttribute('#chart-hourly-tokens svg', 'aria-label')).toMatch(/^Tokens per hour over 24 hours; highest 1,500 tokens at .+ UTC$/);
    expect(await page.getAttribute('#chart-hourly-cost svg', 'aria-label')).toMatch(/^Cost per hour over 24 hours; highest \$0\.45 at /);

    // Refusals: the refused call, under its reason, in the chart, its legend and the table.
    expect(await cells(page, 'refusals-rows')).toEqual([['thread_budget_exhausted a thread spent its token budget', '1']]);
    expect(await page.textContent('#refusals-legend')).toBe('thread_budget_exhausted');
    expect(await page.$$('#chart-refusals g.bar rect.reason-0')).toHaveLength(1);
    expect(await page.getAttribute('#chart-refusals svg', 'aria-label')).toMatch(/^Refusals over 9[67] buckets of 15 min; highest 1 refusals at /);

    // No policies configured: the budgets view says how to configure them.
    expect(await page.textContent('#budgets')).toContain('No budget policies configured.');
    expect(await page.textContent('#budgets pre')).toContain('- { name: user-daily, scope: user, max_usd: 5, window: 1d }');

    await page.screenshot({ path: '/tmp/dashboard.png', fullPage: true });
    expect(errors).toEqual([]);
    expect(server.logged).toEqual([]);
    expect(requests.length).toBeGreaterThanOrEqual(9);
    for (const path of ['/v1/usage/hourly', '/v1/metrics/refusals', '/v1/budgets']) expect(requests.some((u) => new URL(u).pathname === path), path).toBe(true);
    expect(requests.filter((u) => !u.startsWith(`${server.origin}/`))).toEqual([]);
    await page.context().close();
  });

  it('changes the period and keeps it in the URL', async () => {
    const { page } = await openPage(server.origin, '#period=all');
    await loaded(page);
    expect(await page.inputValue('#period')).toBe('all');
    expect(await page.textContent('#kpi-tokens')).toBe('19,150');
    expect(await page.textContent('#kpi-cost')).toBe('$4.24');
    await page.selectOption('#period', '24h');
    await page.waitForFunction(() => document.getElementById('kpi-tokens')?.textContent === '1,500');
    expect(await page.textContent('#kpi-requests')).toBe('1');
    expect(new URL(page.url()).hash).toBe('#period=24h');
    await page.context().close();
  });

  it('refreshes by itself when a call goes through the gateway', async () => {
    const liveStore = new SqliteUsageStore({ path: join(dir, 'live.db') });
    await liveStore.append(RECENT);
    const live = await startGateway(liveStore);
    try {
      const { page } = await openPage(live.origin, '#period=7d');
      await loaded(page);
      expect(await page.textContent('#kpi-requests')).toBe('5');
      expect(await page.$('tr[data-thread="live-thread"]')).toBeNull();
      const res = await fetch(`${live.origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-thread-id': 'live-thread', 'x-agent-id': 'planner' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello to the dashboard' }], max_tokens: 20 }),
      });
      expect(res.status).toBe(200);
      const { usage } = (await res.json()) as { usage: { total_tokens: number } };
      await page.waitForFunction(() => document.getElementById('kpi-requests')?.textContent === '6', undefined, { timeout: 15_000 });
      expect(await page.textContent('#kpi-tokens')).toBe((9_150 + usage.total_tokens).toLocaleString('en-US'));
      await page.waitForSelector('tr[data-thread="live-thread"]');
      const now = await page.$eval('tr[data-thread="live-thread"] .budget', (el) => el.getAttribute('aria-valuenow'));
      expect(now).toBe(String(usage.total_tokens));
      await page.context().close();
    } finally {
      await live.close();
      await liveStore.close();
    }
  });

  it('asks for a gateway key on 401 and sends it as a bearer token', async () => {
    const key = 'tw-secret-key';
    const locked = await startGateway(store, [{ name: 'admin', sha256: hashGatewayKey(key), org: null, admin: true }]);
    await putBudget(locked, 'locked-thread', 5_000, key);
    try {
      const { page, requests } = await openPage(locked.origin);
      await page.waitForSelector('#auth:not([hidden])');
      expect(await page.textContent('#auth-message')).toContain('requires a key');
      expect(await page.textContent('#status')).toBe('Key required');

      await page.fill('#key-input', 'wrong-key');
      await page.click('#key-form button[type=submit]');
      await page.waitForFunction(() => /rejected this key: Invalid gateway key/.test(document.getElementById('auth-message')?.textContent ?? ''));

      const authHeaders: string[] = [];
      page.on('request', (r) => {
        if (r.url().includes('/v1/')) authHeaders.push(r.headers()['authorization'] ?? '');
      });
      await page.fill('#key-input', key);
      await page.press('#key-input', 'Enter');
      await loaded(page);
      expect(await page.isHidden('#auth')).toBe(true);
      expect(await page.textContent('#kpi-tokens')).toBe('9,150');
      expect(await page.$('tr[data-thread="locked-thread"]')).not.toBeNull();
      expect(authHeaders.length).toBeGreaterThanOrEqual(3);
      expect(new Set(authHeaders)).toEqual(new Set([`Bearer ${key}`]));
      expect(await page.evaluate(() => sessionStorage.getItem('tokenwarden.gatewayKey'))).toBe(key);
      expect(await page.evaluate(() => localStorage.length)).toBe(0);
      expect(requests.filter((u) => !u.startsWith(`${locked.origin}/`))).toEqual([]);

      await page.click('#key-button');
      await page.click('#key-clear');
      await page.waitForSelector('#auth:not([hidden])');
      expect(await page.evaluate(() => sessionStorage.getItem('tokenwarden.gatewayKey'))).toBeNull();
      await page.context().close();
    } finally {
      await locked.close();
    }
  });

  it('shows usage of models without a known price as unpriced, never $0.00', async () => {
    const localStore = new SqliteUsageStore({ path: join(dir, 'unpriced.db') });
    await localStore.append([
      event({ model: 'my-local-model', provider: 'mock', agentId: 'local', promptTokens: 300, completionTokens: 30, costNanos: undefined, timestamp: NOW - HOUR }),
      event({ model: 'my-local-model', provider: 'mock', agentId: 'local', promptTokens: 200, completionTokens: 20, costNanos: undefined, timestamp: NOW - DAY }),
    ]);
    const local = await startGateway(localStore);
    try {
      const { page, errors } = await openPage(local.origin);
      await loaded(page);
      expect(await page.textContent('#kpi-tokens')).toBe('550');
      expect(await page.textContent('#kpi-cost')).toBe('unpriced');
      expect(await page.textContent('#kpi-cost-sub')).toBe('2 unpriced requests not included');
      const models = await cells(page, 'models-rows');
      expect(models).toEqual([['my-local-model 100.0 %', '2', '550 500 in · 50 out', 'unpriced']]);
      expect(await page.getAttribute('#models-rows td.cost', 'title')).toBe('2 unpriced requests not included');
      const daily = await cells(page, 'daily-rows');
      expect(daily.map((r) => r[4])).toEqual(['unpriced', 'unpriced']);
      expect(await page.textContent('body')).not.toContain('$0.00');
      expect(errors).toEqual([]);
      await page.context().close();
    } finally {
      await local.close();
    }
  });

  it('reads well with no usage at all', async () => {
    const emptyStore = new SqliteUsageStore({ path: join(dir, 'empty.db') });
    const empty = await startGateway(emptyStore);
    try {
      const { page, errors } = await openPage(empty.origin);
      await loaded(page);
      expect(await page.textContent('#kpi-tokens')).toBe('0');
      expect(await page.textContent('#kpi-cost')).toBe('$0.00');
      expect(await page.textContent('#models-rows')).toContain('No usage yet');
      expect(await page.textContent('#agents-rows')).toContain('No usage yet');
      expect(await page.textContent('#threads-rows')).toContain('No live threads');
      expect(await page.textContent('#chart-tokens')).toContain('No usage yet');
      expect(await page.getAttribute('#chart-cost svg', 'aria-label')).toBe('Cost per day: no usage yet in this period');
      expect(await page.getAttribute('#chart-hourly-tokens svg', 'aria-label')).toBe('Tokens per hour: no usage in the last 24 hours');
      expect(await page.textContent('#hourly-rows')).toContain('No usage in the last 24 hours.');
      expect(await page.getAttribute('#chart-refusals svg', 'aria-label')).toBe('Refusals: no refusals in the last 24 hours');
      expect(await page.textContent('#refusals-rows')).toContain('No refusals in the last 24 hours.');
      expect(await page.textContent('#budgets')).toContain('No budget policies configured.');
      expect(await page.isHidden('#error')).toBe(true);
      expect(errors).toEqual([]);
      await page.screenshot({ path: '/tmp/dashboard-empty.png', fullPage: true });
      await page.context().close();
    } finally {
      await empty.close();
      await emptyStore.close();
    }
  });

  it('shows the API error when the usage store fails, and keeps the live threads', async () => {
    const brokenStore = new SqliteUsageStore({ path: join(dir, 'broken.db') });
    const broken = await startGateway(brokenStore);
    await putBudget(broken, 'still-live', 1_000);
    await brokenStore.close();
    try {
      const { page } = await openPage(broken.origin);
      await page.waitForSelector('#error:not([hidden])');
      const text = await page.textContent('#error');
      expect(text).toContain('v1/usage/summary: ');
      expect(text).toContain('v1/usage/daily: ');
      expect(text).toContain('v1/usage/hourly: ');
      expect(await page.textContent('#chart-hourly-tokens')).toContain('Could not load the hourly usage.');
      expect(await page.textContent('#status')).toMatch(/^Update failed/);
      expect(await page.$('tr[data-thread="still-live"]')).not.toBeNull();
      expect(await page.textContent('#kpi-tokens')).toBe('—');
      expect(await page.textContent('#models-rows')).toContain('Could not load usage by model.');
      expect(await page.textContent('#chart-tokens')).toContain('Could not load the daily usage.');
      expect(broken.logged.map((e) => (e as { code?: string }).code)).toContain('STORE_CLOSED');
      await page.screenshot({ path: '/tmp/dashboard-error.png' });
      await page.context().close();
    } finally {
      await broken.close();
    }
  });
});
