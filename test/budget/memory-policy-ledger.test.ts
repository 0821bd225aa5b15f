import { describe, expect, it } from 'vitest';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import type { PolicyLine, PolicyReservation, RestorePolicySpend } from '../../src/budget/policy-types.js';
import { windowAt } from '../../src/budget/windows.js';
import { LedgerUnavailableError, TokenwardenError } from '../../src/core/errors.js';
import { runPolicyLedgerContract } from './policy-ledger-contract.js';

runPolicyLedgerContract('MemoryPolicyLedger', async (opts) => {
  const ledger = new MemoryPolicyLedger(opts);
  return { ledger, cleanup: () => ledger.close() };
});

const NOON = Date.UTC(2026, 10, 30, 12);

function dayLine(policy: string, entity: string, now: number, limits: PolicyLine['limits'] = { tokens: 1_000 }): PolicyLine {
  const span = windowAt({ count: 1, unit: 'd' }, now);
  return {
    policy, scope: 'user', entity, meter: 'budget', windowStart: span.start, resetsAt: span.resetsAt,
    window: { count: 1, unit: 'd' }, limits, priced: true, thresholds: [],
  };
}

function minuteLine(policy: string, entity: string, now: number): PolicyLine {
  const span = windowAt({ count: 1, unit: 'm' }, now);
  return {
    policy, scope: 'key', entity, meter: 'rate', windowStart: span.start, resetsAt: span.resetsAt,
    window: { count: 1, unit: 'm' }, limits: { requests: 100 }, priced: true, thresholds: [],
  };
}

describe('MemoryPolicyLedger: bounded memory', () => {
  it('refuses a new line past maxLines with TOO_MANY_BUDGET_ENTITIES; known lines keep working', async () => {
    let t = NOON;
    const ledger = new MemoryPolicyLedger({ now: () => t, maxLines: 3 });
    for (const e of ['a', 'b', 'c']) await ledger.reserve([dayLine('p', e, t)], { nanos: 0, tokens: 1 });
    const err = await ledger.reserve([dayLine('p', 'd', t)], { nanos: 0, tokens: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenwardenError);
    expect(err).toMatchObject({ code: 'TOO_MANY_BUDGET_ENTITIES' });
    expect((err as Error).message).toContain('maximum of 3 lines');
    await ledger.reserve([dayLine('p', 'a', t)], { nanos: 0, tokens: 1 });
    expect(ledger.stats()).toEqual({ lines: 3, holds: 4 });
    // Once the day (and the holds) are over, the old lines make room, and leave within a few calls.
    t += 86_400_000;
    for (const e of ['d', 'e', 'f']) await ledger.reserve([dayLine('p', e, t)], { nanos: 0, tokens: 1 });
    await ledger.reserve([dayLine('p', 'd', t)], { nanos: 0, tokens: 1 });
    expect(ledger.stats()).toEqual({ lines: 3, holds: 4 });
    expect((await ledger.top('p', dayLine('p', 'd', t).windowStart, 10)).map((s) => s.entity).sort()).toEqual(['d', 'e', 'f']);
  });

  it('lets go of lines whose window ended, a few per call, never one holding a live call', async () => {
    let t = NOON + 30_000;
    const ledger = new MemoryPolicyLedger({ now: () => t, reservationTtlMs: 3_600_000 });
    const rate = Array.from({ length: 20 }, (_, i) => minuteLine('r', `k${i}`, t));
    for (const line of rate) await ledger.settle((await ledger.reserve([line], { nanos: 0, tokens: 1 })).reservation, { nanos: 0, tokens: 1 });
    const busy = await ledger.reserve([minuteLine('r', 'busy', t)], { nanos: 0, tokens: 1 });
    expect(ledger.stats().lines).toBe(21);
    t += 60_000;
    for (let i = 0; i < 40; i++) await ledger.reserve([minuteLine('r', 'fresh', t)], { nanos: 0, tokens: 0 });
    expect(ledger.stats().lines).toBe(2); // 'fresh' and the busy line of the last minute
    await ledger.settle(busy.reservation, { nanos: 0, tokens: 1 });
    for (let i = 0; i < 32; i++) await ledger.reserve([minuteLine('r', 'fresh', t)], { nanos: 0, tokens: 0 });
    expect(ledger.stats().lines).toBe(1);
  });

  // A frozen line (as BudgetPolicies hands out) is remembered by identity: it must not lead to the dropped meter.
  it.each([['a plain', false], ['a frozen', true]])('with restore, %s budget line idle past idleTtlMs leaves memory and comes back with its recorded spend', async (_, frozen) => {
    let t = NOON;
    const restored: string[] = [];
    const ledger = new MemoryPolicyLedger({
      now: () => t,
      idleTtlMs: 60_000,
      restore: async (line) => {
        restored.push(line.entity);
        return { nanos: 0, tokens: 40, requests: 2 };
      },
    });
    const line = frozen ? Object.freeze(dayLine('p', 'idle', t)) : dayLine('p', 'idle', t);
    await ledger.settle((await ledger.reserve([line], { nanos: 0, tokens: 10 })).reservation, { nanos: 0, tokens: 10 });
    expect(await ledger.standing(line)).toMatchObject({ usedTokens: 50, requests: 3 });
    t += 61_000;
    for (let i = 0; i < 32; i++) await ledger.reserve([dayLine('p', 'other', t)], { nanos: 0, tokens: 0 });
    expect(ledger.stats().lines).toBe(1);
    expect(await ledger.standing(line)).toMatchObject({ usedTokens: 40, requests: 2 }); // as recorded by the store
    expect(restored).toEqual(['idle', 'other', 'idle']);
    const again = await ledger.reserve([line], { nanos: 0, tokens: 5 });
    expect(again.standings[0]).toMatchObject({ usedTokens: 40, reservedTokens: 5, requests: 2 });
    // The read did not keep the line (reads never grow the ledger): the reserve restored it again.
    expect(restored).toEqual(['idle', 'other', 'idle', 'idle']);
  });
});

describe('MemoryPolicyLedger: checks and failures', () => {
  it('a restore resolving to something else fails the call with LedgerUnavailableError', async () => {
    const ledger = new MemoryPolicyLedger({ restore: async () => ({ nanos: -1, tokens: 0, requests: 0 }) });
    const err = await ledger.reserve([dayLine('p', 'x', Date.now())], { nanos: 0, tokens: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerUnavailableError);
    expect((err as Error).message).toContain('{ nanos, tokens, requests }');
    expect(ledger.stats()).toEqual({ lines: 0, holds: 0 });
  });

  it('a throwing alert listener goes to onError and never breaks accounting', async () => {
    const errors: unknown[] = [];
    const ledger = new MemoryPolicyLedger({ onError: (e) => errors.push(e) });
    ledger.onAlert(() => {
      throw new Error('listener down');
    });
    const line = { ...dayLine('p', 'x', Date.now(), { tokens: 10 }), thresholds: [50] };
    const standings = await ledger.settle((await ledger.reserve([line], { nanos: 0, tokens: 6 })).reservation, { nanos: 0, tokens: 6 });
    expect(standings[0]).toMatchObject({ usedTokens: 6 });
    expect(errors).toHaveLength(1);
    expect(() => ledger.onAlert('x' as unknown as () => void)).toThrow(/listener: must be a function/);
  });

  it('names bad amounts, reservations, overrides and options', async () => {
    const ledger = new MemoryPolicyLedger();
    const line = dayLine('p', 'x', Date.now());
    await expect(ledger.reserve([line], { nanos: 1.5, tokens: 0 })).rejects.toThrow(/^amount\.nanos: must be a whole number of nano-USD/);
    await expect(ledger.reserve([line], { nanos: 0, tokens: -1 })).rejects.toThrow(/^amount\.tokens/);
    await expect(ledger.settle({} as PolicyReservation, { nanos: 0, tokens: 0 })).rejects.toThrow(/^reservation: must be a reservation/);
    await expect(ledger.setOverride({ policy: 'p', entity: 'x' })).rejects.toThrow(/^override: must set maxNanos or maxTokens/);
    await expect(ledger.setOverride({ policy: 'p', entity: 'x', maxNanos: 0 })).rejects.toThrow(/^override\.maxNanos/);
    expect(() => new MemoryPolicyLedger({ maxLines: 0 })).toThrow(/^maxLines: must be an integer >= 1/);
    expect(() => new MemoryPolicyLedger({ reservationTtlMs: -5 })).toThrow(/^reservationTtlMs/);
    expect(() => new MemoryPolicyLedger({ restore: 'x' as unknown as RestorePolicySpend })).toThrow(/^restore: must be a function/);
  });

  it('a lapsed hold is forgotten one TTL after it lapsed: a settle then charges nothing', async () => {
    let t = NOON;
    const ledger = new MemoryPolicyLedger({ now: () => t, reservationTtlMs: 1_000 });
    const line = dayLine('p', 'late', t);
    const { reservation } = await ledger.reserve([line], { nanos: 0, tokens: 10 });
    t += 2_000;
    // Settle reads no clock: holds lapse by the time the last reserve, release, standing or top read.
    expect(await ledger.standing(line)).toMatchObject({ usedTokens: 0, reservedTokens: 0 });
    expect(await ledger.settle(reservation, { nanos: 0, tokens: 10 })).toEqual([]);
    expect(await ledger.standing(line)).toMatchObject({ usedTokens: 0, reservedTokens: 0, requests: 0 });
  });

  it('a settle past the hold time that nothing lapsed yet frees and charges it as live (same totals as lapse + late settle)', async () => {
    let t = NOON;
    const ledger = new MemoryPolicyLedger({ now: () => t, reservationTtlMs: 1_000 });
    const line = dayLine('p', 'quiet', t);
    const { reservation } = await ledger.reserve([line], { nanos: 0, tokens: 10 });
    t += 1_500;
    const settled = await ledger.settle(reservation, { nanos: 0, tokens: 7 });
    expect(settled[0]).toMatchObject({ usedTokens: 7, reservedTokens: 0, requests: 1, reservedRequests: 0 });
    expect(await ledger.settle(reservation, { nanos: 0, tokens: 7 })).toEqual([]);
    expect(await ledger.standing(line)).toMatchObject({ usedTokens: 7, reservedTokens: 0, requests: 1 });
  });
});

describe('MemoryPolicyLedger: refusals and reads never grow it (a flood of new entities)', () => {
  it('a refused call leaves none of the lines it created, and a line already held refuses before any restore', async () => {
    const t = NOON;
    let restores = 0;
    const restore: RestorePolicySpend = async () => (restores++, { nanos: 0, tokens: 0, requests: 0 });
    const ledger = new MemoryPolicyLedger({ now: () => t, restore });
    const rate = { ...minuteLine('key-rate', 'k1', t), limits: { requests: 1 } };
    await ledger.reserve([rate], { nanos: 0, tokens: 1 }); // the key's one request this minute
    expect(ledger.stats().lines).toBe(1);
    for (let i = 0; i < 500; i++) {
      const err = await ledger.reserve([dayLine('user-daily', `acme/new-${i}`, t), rate], { nanos: 0, tokens: 1 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'RATE_LIMITED' });
    }
    expect(ledger.stats().lines).toBe(1);
    expect(restores).toBe(0);
    // Without restore, the lines a refused call created in the same pass leave too.
    const plain = new MemoryPolicyLedger({ now: () => t });
    await plain.reserve([rate], { nanos: 0, tokens: 1 });
    for (let i = 0; i < 100; i++) await plain.reserve([dayLine('user-daily', `u-${i}`, t), rate], { nanos: 0, tokens: 1 }).catch(() => undefined);
    expect(plain.stats().lines).toBe(1);
  });

  it('reading an entity not in memory shows its restored spend without keeping it', async () => {
    const restore: RestorePolicySpend = async () => ({ nanos: 5, tokens: 7, requests: 1 });
    const ledger = new MemoryPolicyLedger({ now: () => NOON, restore });
    for (let i = 0; i < 50; i++) {
      expect(await ledger.standing(dayLine('user-daily', `u-${i}`, NOON))).toMatchObject({ spentNanos: 5, usedTokens: 7, requests: 1, reservedTokens: 0 });
    }
    expect(ledger.stats().lines).toBe(0);
  });
});

describe('MemoryPolicyLedger: a new entity refused by its own line', () => {
  it('leaves no line behind (a flood of requests each above the limit does not grow it)', async () => {
    const ledger = new MemoryPolicyLedger({ now: () => NOON });
    for (let i = 0; i < 200; i++) {
      const err = await ledger.reserve([dayLine('user-daily', `u-${i}`, NOON, { tokens: 100 })], { nanos: 0, tokens: 1_000 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'POLICY_BUDGET_EXHAUSTED' });
    }
    expect(ledger.stats().lines).toBe(0);
  });
});
