/**
 * Smaller edge findings: the live-thread gauge reads the ledger's own count (no cap at the gateway's
 * index), and usage dates are checked against the calendar.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetLedger, LedgerStats } from '../../src/budget/types.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { HELLO, call, errorOf, startTestGateway, type TestGateway } from './harness.js';

function gauge(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name} missing from /metrics`);
  return Number(m[1]);
}

/** A memory ledger that reports its counts through `stats()` (proxy: every other member is the ledger's own). */
function countingLedger(inner: MemoryBudgetLedger, tells = true): BudgetLedger {
  const stats = (): LedgerStats | undefined => {
    if (!tells) return undefined;
    let reservedTokens = 0;
    for (const u of Object.values(inner.registry.getAllUsage())) reservedTokens += u.reservedTokens;
    return { liveThreads: inner.registry.size, reservedTokens };
  };
  return new Proxy(inner, {
    get(t, prop) {
      if (prop === 'stats') return stats;
      const v: unknown = Reflect.get(t, prop, t);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

describe('tokenwarden_live_threads', () => {
  it('shows the ledger count, beyond 100 000 threads and beyond the gateway index', async () => {
    const inner = new MemoryBudgetLedger();
    const tg = await startTestGateway({ ledger: countingLedger(inner), gateway: { maxLiveThreads: 100 } });
    try {
      const n = 100_050;
      for (let i = 0; i < n; i += 1000) {
        await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, j) => inner.setBudget(`bulk-${i + j}`, 1000)));
      }
      const text = (await call(`${tg.url}/metrics`)).body.text as string;
      expect(gauge(text, 'tokenwarden_live_threads')).toBe(n);
      expect(gauge(text, 'tokenwarden_reserved_tokens')).toBe(0);
    } finally {
      await tg.close();
    }
  });

  it('falls back to the gateway live-thread index for a ledger that cannot tell', async () => {
    // Like a shared ledger: `stats()` answers undefined, so the gauge counts this gateway's threads.
    const inner = new MemoryBudgetLedger();
    await inner.setBudget('not-through-this-gateway', 1000);
    const tg = await startTestGateway({ ledger: countingLedger(inner, false) });
    try {
      for (const t of ['a', 'b', 'c']) {
        expect((await call(`${tg.url}/v1/chat/completions`, { headers: { 'x-thread-id': t }, body: { model: 'm', messages: HELLO } })).status).toBe(200);
      }
      const text = (await call(`${tg.url}/metrics`)).body.text as string;
      expect(gauge(text, 'tokenwarden_live_threads')).toBe(3);
    } finally {
      await tg.close();
    }
  });
});

describe('usage dates', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startTestGateway();
  });
  afterAll(async () => {
    await tg.close();
  });

  it('refuses dates that are not on the calendar, naming the parameter', async () => {
    const bad: Array<[string, string]> = [
      ['since', '2024-02-30'],
      ['since', '2023-02-29'],
      ['until', '2024-04-31'],
      ['since', '2024-13-01'],
      ['until', '2024-11-28T24:00:00Z'],
      ['since', '2024-11-28T12:60'],
      ['since', '2024-11-28T12:00:00+25:00'],
    ];
    for (const [param, value] of bad) {
      const r = await call(`${tg.url}/v1/usage/summary?${param}=${encodeURIComponent(value)}`);
      expect(r.status, value).toBe(400);
      expect(errorOf(r.body).param, value).toBe(param);
      expect(errorOf(r.body).message).toContain(JSON.stringify(value));
    }
  });

  it('reads real dates and times as before (UTC unless a zone is given)', async () => {
    const r = await call(`${tg.url}/v1/usage/summary?since=2024-02-29&until=${encodeURIComponent('2024-03-01T12:30:00+02:00')}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ since: Date.UTC(2024, 1, 29), until: Date.UTC(2024, 2, 1, 10, 30) });
    const t = await call(`${tg.url}/v1/usage/daily?since=2024-11-28T12:00&until=1732900000000`);
    expect(t.status).toBe(200);
  });
});
