/**
 * `/readyz` and the call gate: a real SQLite store and a real memory ledger whose readiness the test
 * flips (through a proxy that forwards everything else), behind a real gateway and fake upstream.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BudgetLedger } from '../../src/budget/types.js';
import { createGateway } from '../../src/gateway/create-gateway.js';
import { hashGatewayKey } from '../../src/gateway/key-ring.js';
import type { CheckState } from '../../src/gateway/readiness.js';
import { LLMRouter } from '../../src/router/router.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { RedisBudgetLedger } from '../../src/stores/ledgers/redis/redis-ledger.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import type { Readiness } from '../../src/core/types.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { startThrowawayRedis } from '../stores/ledgers/redis/throwaway-redis.js';
import { describeRedis } from '../support/services.js';
import { HELLO, call, errorOf, startTestGateway, type TestGateway } from './harness.js';

/** `target` with some members replaced; every other member is the target's own (bound to it). */
function withOverrides<T extends object>(target: T, overrides: Record<string, unknown>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (typeof prop === 'string' && prop in overrides) return overrides[prop];
      const v: unknown = Reflect.get(t, prop, t);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** Polls `fn` until it returns true (bounded). */
async function eventually(fn: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Mode = 'ready' | 'failing' | 'hangs' | 'throws';
const answer = (mode: Mode, reason: string): Promise<Readiness> =>
  mode === 'ready'
    ? Promise.resolve({ ready: true })
    : mode === 'failing'
      ? Promise.resolve({ ready: false, reason })
      : mode === 'hangs'
        ? new Promise<Readiness>(() => undefined)
        : Promise.reject(new Error('boom (test)'));

describe('readiness of the store and the ledger', () => {
  let tg: TestGateway;
  let storeMode: Mode = 'ready';
  let ledgerMode: Mode = 'ready';
  const readyz = () => call(`${tg.url}/readyz`);
  const chat = () => call(`${tg.url}/v1/chat/completions`, { headers: { 'x-thread-id': 'rz' }, body: { model: 'gpt-4o-mini', messages: HELLO } });

  beforeAll(async () => {
    const ledger = withOverrides<BudgetLedger>(new MemoryBudgetLedger(), { readiness: () => answer(ledgerMode, 'redis unreachable (test)') });
    const store = withOverrides(new SqliteUsageStore({ path: ':memory:' }), { readiness: () => answer(storeMode, 'disk full (test)') });
    tg = await startTestGateway({ ledger, store, gateway: { readinessIntervalMs: 50 } });
  });
  afterAll(async () => {
    await tg.close();
  });
  beforeEach(async () => {
    storeMode = ledgerMode = 'ready';
    await eventually(async () => (await readyz()).status === 200);
  });

  it('reports ok while both are ready', async () => {
    const r = await readyz();
    expect(r.body).toEqual({ status: 'ok', checks: { store: { status: 'ok' }, ledger: { status: 'ok' } } });
    expect((await chat()).status).toBe(200);
  });

  it('a failing store: /readyz 503 naming it, /healthz still ok, new calls 503 before any provider call', async () => {
    storeMode = 'failing';
    await eventually(async () => (await readyz()).status === 503);
    const r = await readyz();
    expect(r.body).toEqual({ status: 'not_ready', checks: { store: { status: 'failing', reason: 'disk full (test)' }, ledger: { status: 'ok' } } });
    expect((await call(`${tg.url}/healthz`)).status).toBe(200);
    const upstreamBefore = tg.upstream!.requests.length;
    const c = await chat();
    expect(c.status).toBe(503);
    expect(errorOf(c.body)).toMatchObject({ type: 'server_error', code: 'not_ready' });
    expect(errorOf(c.body).message).toContain('usage store failing');
    // Why it fails (paths, addresses) is for operators, on /readyz, not in a tenant's error.
    expect(errorOf(c.body).message).not.toContain('disk full');
    expect(c.headers.get('retry-after')).toBe('1');
    expect(tg.upstream!.requests.length).toBe(upstreamBefore);
    // Reads still work: only new LLM calls are refused.
    expect((await call(`${tg.url}/v1/usage/summary`)).status).toBe(200);

    storeMode = 'ready';
    await eventually(async () => (await readyz()).status === 200);
    expect((await chat()).status).toBe(200);
  });

  it('a ledger whose check hangs or throws counts as failing', async () => {
    ledgerMode = 'hangs';
    await eventually(async () => (await readyz()).status === 503);
    const hung = await readyz();
    expect((hung.body.checks as { ledger: { reason: string } }).ledger.reason).toMatch(/did not answer within \d+ ms/);
    const c = await chat();
    expect(c.status).toBe(503);
    expect(errorOf(c.body).message).toContain('budget ledger failing');

    ledgerMode = 'throws';
    await eventually(async () => JSON.stringify((await readyz()).body).includes('boom (test)'));
    expect((await readyz()).body.checks).toEqual({ store: { status: 'ok' }, ledger: { status: 'failing', reason: 'readiness check failed: boom (test)' } });
  });
});

describe('a failed store write refreshes readiness at once', () => {
  it('refuses the next calls without waiting for the interval', async () => {
    let failing = false;
    const inner = new SqliteUsageStore({ path: ':memory:' });
    const refuse = (): never => {
      throw new Error('SQLITE_FULL: database or disk is full (test)');
    };
    const store = withOverrides(inner, {
      append: (events: unknown) => (failing ? Promise.reject(new Error('SQLITE_FULL (test)')) : inner.append(events as never)),
      appendSync: (events: unknown) => (failing ? refuse() : inner.appendSync(events as never)),
      readiness: () => Promise.resolve<Readiness>(failing ? { ready: false, reason: 'the disk is full' } : { ready: true }),
    });
    // One check a minute: only the write failure can make the gateway notice within the test.
    const g = await startTestGateway({ store, gateway: { readinessIntervalMs: 60_000 } });
    const url = g.url;
    try {
      const post = () => call(`${url}/v1/chat/completions`, { headers: { 'x-thread-id': 'w' }, body: { model: 'gpt-4o-mini', messages: HELLO } });
      expect((await post()).status).toBe(200);
      expect((await call(`${url}/readyz`)).status).toBe(200);
      failing = true;
      const first = await post();
      expect(first.status).toBe(503);
      await eventually(async () => (await call(`${url}/readyz`)).status === 503, 3000);
      const upstreamBefore = g.upstream!.requests.length;
      const next = await post();
      expect(next.status).toBe(503);
      expect(errorOf(next.body).code).toBe('not_ready');
      expect(errorOf(next.body).message).toContain('usage store failing');
      expect(g.upstream!.requests.length).toBe(upstreamBefore);
    } finally {
      failing = false;
      await g.close();
    }
  });

  it('without a store, /readyz says so and is ready', async () => {
    const router = new LLMRouter({ backends: [], ledger: new MemoryBudgetLedger(), tracker: new UsageTracker() });
    const gateway = createGateway({ router, logError: () => undefined });
    const { port } = await gateway.listen(0, '127.0.0.1');
    try {
      const r = await call(`http://127.0.0.1:${port}/readyz`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: 'ok', checks: { store: { status: 'not_configured' }, ledger: { status: 'ok' } } });
    } finally {
      await gateway.close();
    }
  });
});

describeRedis('a Redis ledger whose server goes away', () => {
  it('makes the gateway not ready (calls refused before any provider call) until Redis is back', async () => {
    const redis = await startThrowawayRedis();
    const real = new RedisBudgetLedger({ url: redis.url, commandTimeoutMs: 200, keyPrefix: 'tw-readyz:', onError: () => undefined });
    // Readiness as a Redis ledger can report it: one cheap read with a short deadline.
    const probe = async (): Promise<Readiness> => {
      try {
        await real.usage('readiness-probe');
        return { ready: true };
      } catch (err) {
        return { ready: false, reason: `Redis: ${(err as Error).message}` };
      }
    };
    const tg = await startTestGateway({ ledger: withOverrides<BudgetLedger>(real, { readiness: probe }), gateway: { readinessIntervalMs: 200 } });
    const chat = () => call(`${tg.url}/v1/chat/completions`, { headers: { 'x-thread-id': 'redis-rz' }, body: { model: 'gpt-4o-mini', messages: HELLO } });
    try {
      expect((await chat()).status).toBe(200);
      await redis.kill();
      await eventually(async () => (await call(`${tg.url}/readyz`)).status === 503);
      const r = await call(`${tg.url}/readyz`);
      expect((r.body.checks as { ledger: CheckState }).ledger).toMatchObject({ status: 'failing', reason: expect.stringContaining('Redis') as string });
      const upstreamBefore = tg.upstream!.requests.length;
      const refused = await chat();
      expect(refused.status).toBe(503);
      expect(errorOf(refused.body).code).toBe('not_ready');
      expect(errorOf(refused.body).message).toContain('budget ledger failing');
      expect(tg.upstream!.requests.length).toBe(upstreamBefore);

      await redis.start();
      await eventually(async () => (await call(`${tg.url}/readyz`)).status === 200, 10_000);
      expect((await chat()).status).toBe(200);
    } finally {
      await tg.close();
      await redis.stop();
    }
  });
});

describe('/readyz with gateway keys', () => {
  it('shows why a check fails to admin keys only; others see the statuses', async () => {
    const store = withOverrides(new SqliteUsageStore({ path: ':memory:' }), {
      readiness: () => Promise.resolve<Readiness>({ ready: false, reason: 'database file /srv/usage.db was deleted' }),
    });
    const tg = await startTestGateway({
      store,
      keys: [
        { name: 'app', sha256: hashGatewayKey('tw-app'), org: 'acme' },
        { name: 'ops', sha256: hashGatewayKey('tw-ops'), org: null, admin: true },
      ],
      gateway: { readinessIntervalMs: 50 },
    });
    try {
      const as = (key?: string) => call(`${tg.url}/readyz`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
      await eventually(async () => (await as()).status === 503);
      for (const r of [await as(), await as('tw-app'), await as('wrong')]) {
        expect(r.body).toEqual({ status: 'not_ready', checks: { store: { status: 'failing' }, ledger: { status: 'ok' } } });
      }
      expect((await as('tw-ops')).body.checks).toMatchObject({ store: { status: 'failing', reason: 'database file /srv/usage.db was deleted' } });
    } finally {
      await tg.close();
    }
  });
});
