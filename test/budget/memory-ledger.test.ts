import { describe, expect, it } from 'vitest';
import { LedgerUnavailableError, ThreadLimitError } from '../../src/core/errors.js';
import type { RestoredSpend } from '../../src/budget/types.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { rejectionOf, runBudgetLedgerContract } from './ledger-contract.js';

runBudgetLedgerContract('MemoryBudgetLedger', async (options) => new MemoryBudgetLedger(options));
runBudgetLedgerContract(
  'MemoryBudgetLedger with restore, groups and idle expiry',
  async (options) =>
    new MemoryBudgetLedger({
      ...options,
      groupOf: (id) => id.slice(0, 1),
      maxThreadsPerGroup: 10_000,
      idleTtlMs: 3_600_000,
      restore: async () => undefined,
    }),
);

/** A restore over a map of recorded spend, counting its calls; `gate` holds every restore until opened. */
function recorded(entries: Record<string, RestoredSpend>) {
  const calls: string[] = [];
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let gated = false;
  return {
    calls,
    hold(): void {
      gated = true;
    },
    release: () => open(),
    restore: async (id: string): Promise<RestoredSpend | undefined> => {
      calls.push(id);
      if (gated) await gate;
      return entries[id];
    },
  };
}

const orgOf = (id: string): string => (id.includes('/') ? id.slice(0, id.indexOf('/')) : '');

describe('MemoryBudgetLedger: groups, idle expiry, restore, stats', () => {
  it('an org at its thread cap gets ThreadLimitError; another org still opens threads', async () => {
    const ledger = new MemoryBudgetLedger({ groupOf: orgOf, maxThreadsPerGroup: 100 });
    for (let i = 0; i < 100; i++) await ledger.reserve(`orgA/t${i}`, 1);
    const err = (await rejectionOf(ledger.reserve('orgA/one-more', 1))) as ThreadLimitError;
    expect(err).toBeInstanceOf(ThreadLimitError);
    expect(err).toMatchObject({ code: 'TOO_MANY_THREADS', scope: 'group', group: 'orgA', limit: 100 });
    expect((await ledger.reserve('orgB/brand-new-b', 1)).tokens).toBe(1);
    expect((await ledger.reserve('orgA/t5', 1)).tokens).toBe(1);
    expect(ledger.stats()).toEqual({ liveThreads: 101, reservedTokens: 102 });
  });

  it('idle threads leave memory and come back with their spend from restore (one restore per thread)', async () => {
    let now = 0;
    const store: Record<string, RestoredSpend> = {};
    const r = recorded(store);
    const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 1_000, idleTtlMs: 60_000, now: () => now, restore: r.restore });
    const hold = await ledger.reserve('t', 500);
    await ledger.settle(hold, { promptTokens: 300, completionTokens: 100 });
    store.t = { promptTokens: 300, completionTokens: 100, requestCount: 1 }; // what the usage store recorded
    expect(r.calls).toEqual(['t']); // the first call of a thread not in memory asks once
    now += 61_000;
    expect(ledger.stats().liveThreads).toBe(0);
    expect(ledger.registry.hasBudget('t')).toBe(false);
    // Read without bringing it back into memory.
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 400, requestCount: 1, remaining: 600, reservedTokens: 0 });
    expect(ledger.stats().liveThreads).toBe(0);
    // Back on its next call, with its spend.
    expect(await rejectionOf(ledger.reserve('t', 700))).toMatchObject({ code: 'BUDGET_EXHAUSTED', used: 400 });
    expect(ledger.stats().liveThreads).toBe(1);
    await ledger.settle(await ledger.reserve('t', 600), { promptTokens: 600 });
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 1_000, requestCount: 2, remaining: 0 });
  });

  it('a thread with its own maximum (setBudget) stays in memory however long it idles, so it keeps that maximum', async () => {
    let now = 0;
    const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 1_000, idleTtlMs: 60_000, now: () => now, restore: async () => undefined });
    await ledger.setBudget('lowered', 100);
    await ledger.settle(await ledger.reserve('plain', 10), { promptTokens: 10 });
    now += 61_000;
    await ledger.reserve('other', 1); // creating a thread sweeps idle ones
    expect(ledger.registry.hasBudget('plain')).toBe(false);
    expect(ledger.registry.hasBudget('lowered')).toBe(true);
    expect(await rejectionOf(ledger.reserve('lowered', 101))).toMatchObject({ code: 'BUDGET_EXHAUSTED', maxTokens: 100 });
  });

  it('concurrent first calls of a thread share one restore and cannot overspend while it runs', async () => {
    const r = recorded({ t: { promptTokens: 900, completionTokens: 0, requestCount: 9 } });
    const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 1_000, restore: r.restore });
    r.hold();
    const calls = Array.from({ length: 50 }, () => ledger.reserve('t', 10));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.calls).toEqual(['t']);
    expect(ledger.stats().reservedTokens).toBe(0); // nothing held before the spend is known
    r.release();
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(10);
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: 900, reservedTokens: 100, remaining: 0 });
    expect(r.calls).toEqual(['t']);
  });

  it('a full group is refused before any restore; a failing restore fails the call without internal ids, and is retried', async () => {
    const r = recorded({});
    const ledger = new MemoryBudgetLedger({ groupOf: orgOf, maxThreadsPerGroup: 1, restore: r.restore });
    await ledger.reserve('acme/a', 1);
    r.calls.length = 0;
    expect(await rejectionOf(ledger.reserve('acme/b', 1))).toBeInstanceOf(ThreadLimitError);
    expect(r.calls).toEqual([]);

    let fail = true;
    const flaky = new MemoryBudgetLedger({
      restore: async () => {
        if (fail) throw new Error('database is locked');
        return { promptTokens: 5, completionTokens: 0, requestCount: 1 };
      },
    });
    const err = (await rejectionOf(flaky.reserve('acme/secret-thread', 1))) as LedgerUnavailableError;
    expect(err).toBeInstanceOf(LedgerUnavailableError);
    expect(err.message).toContain('database is locked');
    expect(err.message).not.toContain('acme');
    fail = false;
    await flaky.reserve('acme/secret-thread', 1);
    expect(await flaky.usage('acme/secret-thread')).toMatchObject({ totalTokens: 5, reservedTokens: 1 });
  });

  it('setBudget and endThread of a thread not in memory see its recorded spend', async () => {
    const r = recorded({ a: { promptTokens: 70, completionTokens: 30, requestCount: 2 }, b: { promptTokens: 1, completionTokens: 2, requestCount: 1 } });
    const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 1_000, restore: r.restore });
    expect(await ledger.setBudget('a', 150)).toMatchObject({ totalTokens: 100, maxTokens: 150, remaining: 50 });
    expect(await ledger.endThread('b')).toMatchObject({ totalTokens: 3, requestCount: 1 });
    expect(await ledger.endThread('never-seen')).toBeUndefined();
    expect(await ledger.usage('never-seen')).toBeUndefined();
  });

  it('stats() counts live threads and held tokens without walking them', async () => {
    const ledger = new MemoryBudgetLedger();
    const holds = await Promise.all(Array.from({ length: 150_000 }, (_, i) => ledger.reserve(`t${i}`, 2)));
    expect(ledger.stats()).toEqual({ liveThreads: 150_000, reservedTokens: 300_000 });
    await ledger.release(holds[0]!);
    await ledger.settle(holds[1]!, { promptTokens: 1 });
    await ledger.endThread('t2');
    expect(ledger.stats()).toEqual({ liveThreads: 149_999, reservedTokens: 299_994 });
  });
});
