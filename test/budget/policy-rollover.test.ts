/**
 * Window roll-over of budget policies end to end in the library (issue 14, Checks): BudgetPolicies over a
 * MemoryPolicyLedger with an injected clock crossing Monday 2026-11-30 → Tuesday 2026-12-01, a month
 * boundary. The day and month budgets start again at zero; the ISO week (from Monday 30 Nov) and the
 * lifetime budget do not. A ledger started after the boundary restores each line from the usage store
 * to exactly what the live ledger holds (the store's events were recorded with the same clock).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import { BudgetPolicies } from '../../src/budget/policies.js';
import type { BudgetPolicy, CallSubject, PolicyStanding } from '../../src/budget/policy-types.js';
import { PolicyExhaustedError } from '../../src/core/errors.js';
import { PriceTable } from '../../src/pricing/price-table.js';
import { storePolicyRestorer } from '../../src/server/policy-restore.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { UsageTracker } from '../../src/usage/tracker.js';

const MODEL = 'roll-model';
/** 1000 nano-USD per prompt token, 4000 per completion token. */
const prices = new PriceTable({ catalog: false, overrides: { [MODEL]: { inputPerMTok: 1, outputPerMTok: 4 } } });
const POLICIES: BudgetPolicy[] = [
  // A call reserves 300 000 nanos (100 prompt + a cap of 50) and costs 220 000 (30 completion): two fit in a day.
  { name: 'user-daily', scope: 'user', maxUsd: 0.0007, window: '1d' },
  { name: 'org-monthly', scope: 'org', maxUsd: 10, maxTokens: 1_000_000, window: '1mo' },
  { name: 'org-weekly', scope: 'org', maxTokens: 1_000_000, window: '1w' },
  { name: 'user-life', scope: 'user', maxUsd: 10 },
];
const SUBJECT: CallSubject = { model: MODEL, user: 'u-1', org: 'acme' };
const ENTITY: Record<string, string> = { 'user-daily': 'acme/u-1', 'org-monthly': 'acme', 'org-weekly': 'acme', 'user-life': 'acme/u-1' };
const CALL_COST = 100 * 1000 + 30 * 4000;
const CALL_TOKENS = 130;

const stores: SqliteUsageStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function setup(start: number) {
  let now = start;
  const clock = { now: () => now, set: (ms: number) => void (now = ms) };
  const store = new SqliteUsageStore({ path: ':memory:' });
  stores.push(store);
  const tracker = new UsageTracker({ now: clock.now, estimateCostNanos: (model, usage) => prices.estimateCostNanos(model, usage) });
  store.attach(tracker);
  const ledger = new MemoryPolicyLedger({ now: clock.now, restore: storePolicyRestorer(store, POLICIES) });
  const guard = new BudgetPolicies({ policies: POLICIES, ledger, prices, now: clock.now });
  /** One call: reserve its estimate, record its event, settle its cost (as the router does). */
  const call = async (): Promise<void> => {
    const held = await guard.reserve(SUBJECT, { promptTokens: 100, completionTokens: 50 });
    const event = tracker.record({ model: MODEL, provider: 'test', promptTokens: 100, completionTokens: 30, latencyMs: 1, metadata: { user_id: 'u-1', org_id: 'acme' } });
    expect(event.costNanos).toBe(CALL_COST);
    await guard.settle(held!.reservation, { nanos: event.costNanos!, tokens: event.totalTokens });
  };
  return { clock, store, ledger, guard, call };
}

/** Where each policy's line of the subject stands at the guard's `now`. */
async function standings(guard: BudgetPolicies): Promise<Record<string, Pick<PolicyStanding, 'windowStart' | 'resetsAt' | 'spentNanos' | 'usedTokens' | 'reservedNanos'>>> {
  const out: Record<string, Pick<PolicyStanding, 'windowStart' | 'resetsAt' | 'spentNanos' | 'usedTokens' | 'reservedNanos'>> = {};
  for (const p of POLICIES) {
    const s = await guard.ledger.standing(guard.lineFor(p.name, ENTITY[p.name]!)!);
    out[p.name] = { windowStart: s.windowStart, resetsAt: s.resetsAt, spentNanos: s.spentNanos, usedTokens: s.usedTokens, reservedNanos: s.reservedNanos };
  }
  return out;
}

describe('BudgetPolicies across Nov 30 → Dec 1 (a day, a month; not a week, not a lifetime)', () => {
  it('day and month spend start again at zero; the week and the lifetime keep it; a restart after the boundary restores the same', async () => {
    const { clock, store, guard, call } = setup(Date.UTC(2026, 10, 30, 23, 58, 0));
    await call();
    clock.set(Date.UTC(2026, 10, 30, 23, 59, 59, 999));
    await call();
    // The day is spent: a third call is refused until midnight, holding nothing.
    const refused = await guard.reserve(SUBJECT, { promptTokens: 100, completionTokens: 50 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PolicyExhaustedError);
    expect(refused).toMatchObject({ policy: 'user-daily', resetsAt: Date.UTC(2026, 11, 1) });
    const nov = await standings(guard);
    expect(nov).toEqual({
      'user-daily': { windowStart: Date.UTC(2026, 10, 30), resetsAt: Date.UTC(2026, 11, 1), spentNanos: 2 * CALL_COST, usedTokens: 2 * CALL_TOKENS, reservedNanos: 0 },
      'org-monthly': { windowStart: Date.UTC(2026, 10, 1), resetsAt: Date.UTC(2026, 11, 1), spentNanos: 2 * CALL_COST, usedTokens: 2 * CALL_TOKENS, reservedNanos: 0 },
      'org-weekly': { windowStart: Date.UTC(2026, 10, 30), resetsAt: Date.UTC(2026, 11, 7), spentNanos: 2 * CALL_COST, usedTokens: 2 * CALL_TOKENS, reservedNanos: 0 },
      'user-life': { windowStart: 0, resetsAt: null, spentNanos: 2 * CALL_COST, usedTokens: 2 * CALL_TOKENS, reservedNanos: 0 },
    });

    clock.set(Date.UTC(2026, 11, 1, 0, 0, 0));
    expect(await standings(guard)).toEqual({
      'user-daily': { windowStart: Date.UTC(2026, 11, 1), resetsAt: Date.UTC(2026, 11, 2), spentNanos: 0, usedTokens: 0, reservedNanos: 0 },
      'org-monthly': { windowStart: Date.UTC(2026, 11, 1), resetsAt: Date.UTC(2027, 0, 1), spentNanos: 0, usedTokens: 0, reservedNanos: 0 },
      'org-weekly': nov['org-weekly'],
      'user-life': nov['user-life'],
    });
    // The call refused a millisecond ago passes now; so does a second one, and a third is refused again.
    await call();
    await call();
    await expect(guard.reserve(SUBJECT, { promptTokens: 100, completionTokens: 50 })).rejects.toMatchObject({ policy: 'user-daily', resetsAt: Date.UTC(2026, 11, 2) });
    const dec = await standings(guard);
    expect(dec['user-daily']).toMatchObject({ spentNanos: 2 * CALL_COST, usedTokens: 2 * CALL_TOKENS });
    expect(dec['org-monthly']).toMatchObject({ spentNanos: 2 * CALL_COST, usedTokens: 2 * CALL_TOKENS });
    expect(dec['org-weekly']).toMatchObject({ spentNanos: 4 * CALL_COST, usedTokens: 4 * CALL_TOKENS });
    expect(dec['user-life']).toMatchObject({ spentNanos: 4 * CALL_COST, usedTokens: 4 * CALL_TOKENS });

    // A process started on Dec 1 restores every line from the store, on both sides of the boundary.
    await store.flush();
    const now = (): number => Date.UTC(2026, 11, 1, 0, 0, 5);
    const fresh = new BudgetPolicies({ policies: POLICIES, ledger: new MemoryPolicyLedger({ now, restore: storePolicyRestorer(store, POLICIES) }), prices, now });
    expect(await standings(fresh)).toEqual(dec);
    const novLine = fresh.lineFor('org-monthly', 'acme', Date.UTC(2026, 10, 15))!;
    expect(await fresh.ledger.standing(novLine)).toMatchObject({ windowStart: Date.UTC(2026, 10, 1), spentNanos: 2 * CALL_COST, usedTokens: 2 * CALL_TOKENS });
  });
});
