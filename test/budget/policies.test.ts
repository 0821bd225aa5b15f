import { describe, expect, it } from 'vitest';
import { BudgetPolicies } from '../../src/budget/policies.js';
import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import type { BudgetPolicy, CallSubject } from '../../src/budget/policy-types.js';
import { PolicyExhaustedError, UnpricedModelError, ValidationError } from '../../src/core/errors.js';
import { PriceTable } from '../../src/pricing/price-table.js';

/** 2026-11-30 17:30:15 UTC. */
const NOW = Date.UTC(2026, 10, 30, 17, 30, 15);

const prices = new PriceTable({
  catalog: false,
  overrides: {
    // Writing the prompt to the cache costs more than reading it as input: the estimate uses 3.75.
    'acme-claude': { inputPerMTok: 3, outputPerMTok: 15, cacheWritePerMTok: 3.75 },
    // A cache write cheaper than input: the estimate uses the input rate.
    'acme-gpt': { inputPerMTok: 2.5, outputPerMTok: 10, cacheWritePerMTok: 1 },
  },
});

function make(policies: BudgetPolicy[], now = (): number => NOW): { guard: BudgetPolicies; ledger: MemoryPolicyLedger } {
  const ledger = new MemoryPolicyLedger({ now });
  return { guard: new BudgetPolicies({ policies, ledger, prices, now }), ledger };
}

function names(guard: BudgetPolicies, subject: CallSubject): string[] {
  return guard.linesFor(subject, NOW).map((l) => `${l.policy}/${l.meter}/${l.entity}`);
}

function problem(policies: unknown): string {
  try {
    new BudgetPolicies({ policies: policies as BudgetPolicy[], ledger: new MemoryPolicyLedger(), prices });
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as Error).message;
  }
  throw new Error('expected a ValidationError');
}

describe('BudgetPolicies: which policies apply', () => {
  const { guard } = make([
    { name: 'user-daily', scope: 'user', maxUsd: 5, window: '1d' },
    { name: 'acme-monthly', scope: 'org', match: { org: 'acme' }, maxUsd: 500, maxTokens: 50_000_000, window: '1mo' },
    { name: 'key-rate', scope: 'key', rpm: 60, tpm: 100_000 },
    { name: 'agent-cap', scope: 'agent', maxTokens: 200_000 },
    { name: 'gpt4o-global', scope: 'global', match: { model: 'gpt-4o*' }, maxTokens: 1_000_000 },
    { name: 'thread-u7', scope: 'thread', match: { user: 'u-7' }, maxTokens: 1_000 },
    { name: 'everything', scope: 'global', rpm: 10_000 },
  ]);

  it('a scope applies when the call has its attribute; global always, as entity *', () => {
    expect(names(guard, { model: 'acme-gpt' })).toEqual(['everything/rate/*']);
    expect(names(guard, { model: 'acme-gpt', user: 'u-1', key: 'ci', agent: 'writer' })).toEqual([
      'user-daily/budget/u-1', 'key-rate/rate/ci', 'agent-cap/budget/writer', 'everything/rate/*',
    ]);
  });

  it('match: exact values, and prefixes ending in *', () => {
    expect(names(guard, { model: 'acme-gpt', org: 'acme' })).toContain('acme-monthly/budget/acme');
    expect(names(guard, { model: 'acme-gpt', org: 'acme-2' })).not.toContain('acme-monthly/budget/acme-2');
    expect(names(guard, { model: 'gpt-4o-mini' })).toContain('gpt4o-global/budget/*');
    expect(names(guard, { model: 'gpt-4o' })).toContain('gpt4o-global/budget/*');
    expect(names(guard, { model: 'gpt-4' })).not.toContain('gpt4o-global/budget/*');
  });

  it('a match on an attribute the call lacks does not apply; the scope entity comes from its own attribute', () => {
    expect(names(guard, { model: 'acme-gpt', thread: 't-1' })).toEqual(['everything/rate/*']);
    expect(names(guard, { model: 'acme-gpt', thread: 't-1', user: 'u-7' })).toEqual([
      'user-daily/budget/u-7', 'thread-u7/budget/t-1', 'everything/rate/*',
    ]);
    expect(names(guard, { model: 'acme-gpt', thread: '' })).toEqual(['everything/rate/*']);
  });
});

describe('BudgetPolicies: lines and windows', () => {
  it('builds budget lines over the policy window (or lifetime) and rate lines over the UTC minute', () => {
    const { guard } = make([
      { name: 'daily', scope: 'user', maxUsd: 5, window: '1d', thresholds: [90, 50, 90] },
      { name: 'monthly', scope: 'org', maxTokens: 1_000, window: '1mo', rpm: 10 },
      { name: 'forever', scope: 'agent', maxTokens: 7 },
    ]);
    const lines = guard.linesFor({ model: 'acme-gpt', user: 'u', org: 'o', agent: 'a' }, NOW);
    expect(lines).toEqual([
      {
        policy: 'daily', scope: 'user', entity: 'o/u', org: 'o', meter: 'budget', windowStart: Date.UTC(2026, 10, 30), resetsAt: Date.UTC(2026, 11, 1),
        window: { count: 1, unit: 'd' }, limits: { nanos: 5_000_000_000 }, priced: true, thresholds: [50, 90],
      },
      {
        policy: 'monthly', scope: 'org', entity: 'o', meter: 'budget', windowStart: Date.UTC(2026, 10, 1), resetsAt: Date.UTC(2026, 11, 1),
        window: { count: 1, unit: 'mo' }, limits: { tokens: 1_000 }, priced: true, thresholds: [75, 90, 95],
      },
      {
        policy: 'monthly', scope: 'org', entity: 'o', meter: 'rate', windowStart: Date.UTC(2026, 10, 30, 17, 30), resetsAt: Date.UTC(2026, 10, 30, 17, 31),
        window: { count: 1, unit: 'm' }, limits: { requests: 10 }, priced: true, thresholds: [],
      },
      {
        policy: 'forever', scope: 'agent', entity: 'o/a', org: 'o', meter: 'budget', windowStart: 0, resetsAt: null,
        window: undefined, limits: { tokens: 7 }, priced: true, thresholds: [75, 90, 95],
      },
    ]);
    // The next month: the cached span is not reused.
    const dec = guard.linesFor({ model: 'acme-gpt', org: 'o' }, Date.UTC(2026, 11, 1, 0, 0, 0));
    expect(dec[0]).toMatchObject({ windowStart: Date.UTC(2026, 11, 1), resetsAt: Date.UTC(2027, 0, 1) });
    // And back (a clock stepping back still gets its own window).
    expect(guard.linesFor({ model: 'acme-gpt', org: 'o' }, NOW)[0]).toMatchObject({ windowStart: Date.UTC(2026, 10, 1) });
  });

  it('qualifies user and agent entities by the call\'s org, so two orgs\' users of one id never share a budget', () => {
    const { guard } = make([
      { name: 'daily', scope: 'user', maxTokens: 100, window: '1d' },
      { name: 'only-u7', scope: 'user', match: { user: 'u-7' }, maxTokens: 100 },
    ]);
    const acme = guard.linesFor({ model: 'm', user: 'u-7', org: 'acme' }, NOW);
    const beta = guard.linesFor({ model: 'm', user: 'u-7', org: 'beta' }, NOW);
    const none = guard.linesFor({ model: 'm', user: 'u-7' }, NOW);
    expect(acme.map((l) => [l.entity, l.org])).toEqual([['acme/u-7', 'acme'], ['acme/u-7', 'acme']]);
    expect(beta.map((l) => l.entity)).toEqual(['beta/u-7', 'beta/u-7']);
    expect(none.map((l) => [l.entity, l.org])).toEqual([['u-7', undefined], ['u-7', undefined]]);
    // The qualified name is cached per id: an id seen under another org in between is qualified anew.
    expect(guard.linesFor({ model: 'm', user: 'u-7', org: 'acme' }, NOW).map((l) => l.entity)).toEqual(['acme/u-7', 'acme/u-7']);
    expect(guard.linesFor({ model: 'm', agent: 'u-7', user: 'u-7', org: 'beta' }, NOW).map((l) => l.entity)).toEqual(['beta/u-7', 'beta/u-7']);
    // What the HTTP API asks for by the qualified name is the same line as a call's.
    expect(guard.lineFor('daily', 'acme/u-7', NOW)).toEqual(acme[0]);
  });

  it('hands out the same frozen line objects for an entity within a window, new ones after it rolls over', () => {
    const { guard } = make([
      { name: 'daily', scope: 'user', maxUsd: 1, window: '1d', unpriced: 'allow' },
      { name: 'rate', scope: 'key', rpm: 10 },
    ]);
    const subject = { model: 'acme-gpt', user: 'u-7', org: 'acme', key: 'k' };
    const first = guard.linesFor(subject, NOW);
    const again = guard.linesFor({ ...subject }, NOW + 1_000);
    expect(again[0]).toBe(first[0]);
    expect(again[1]).toBe(first[1]);
    expect(Object.isFrozen(first[0])).toBe(true);
    // The next minute: a new rate line, the same budget line.
    const later = guard.linesFor(subject, NOW + 60_000);
    expect(later[0]).toBe(first[0]);
    expect(later[1]).not.toBe(first[1]);
    expect(later[1]!.windowStart).toBe(first[1]!.windowStart + 60_000);
    // An unpriced model gets its own unpriced line, and the priced one is still the cached one after.
    expect(guard.linesFor({ ...subject, model: 'nope' }, NOW)[0]).toMatchObject({ entity: 'acme/u-7', priced: false });
    expect(guard.linesFor(subject, NOW)[0]).toBe(first[0]);
  });

  it('normalizes: maxUsd in integer nanos, window kept as written, default unpriced refuse', () => {
    const { guard } = make([{ name: 'p', scope: 'user', maxUsd: 0.1 + 0.2, window: '1w' }]);
    expect(guard.policy('p')).toMatchObject({ maxUsd: 0.1 + 0.2, maxNanos: 300_000_000, window: '1w', unpriced: 'refuse', budgetWindow: { count: 1, unit: 'w' } });
    expect(guard.policy('nope')).toBeUndefined();
    expect(Object.isFrozen(guard.policies)).toBe(true);
    expect(Object.isFrozen(guard.policies[0])).toBe(true);
  });

  it('lineFor gives an entity its line without a call; the rate line on request', () => {
    const { guard } = make([
      { name: 'daily', scope: 'user', maxTokens: 10, window: '1d', tpm: 5 },
      { name: 'rate-only', scope: 'key', rpm: 3 },
    ]);
    expect(guard.lineFor('daily', 'u-9', NOW)).toMatchObject({ meter: 'budget', entity: 'u-9', windowStart: Date.UTC(2026, 10, 30), limits: { tokens: 10 } });
    expect(guard.lineFor('daily', 'u-9', NOW, 'rate')).toMatchObject({ meter: 'rate', limits: { tokens: 5 } });
    expect(guard.lineFor('rate-only', 'ci', NOW)).toMatchObject({ meter: 'rate', limits: { requests: 3 } });
    expect(guard.lineFor('rate-only', 'ci', NOW, 'budget')).toBeUndefined();
    expect(guard.lineFor('missing', 'x', NOW)).toBeUndefined();
  });
});

describe('BudgetPolicies: reserve, settle, release', () => {
  it('prices the estimate exactly: prompt × max(input, cache write) + completion × output', async () => {
    const { guard, ledger } = make([{ name: 'u', scope: 'user', maxUsd: 1, window: '1d' }]);
    const claude = await guard.reserve({ model: 'acme-claude', user: 'a' }, { promptTokens: 1_000, completionTokens: 500 });
    // 1,000 × 3.75 $/MTok = 3,750,000 nanos; 500 × 15 $/MTok = 7,500,000 nanos.
    expect(claude!.reservation.amount).toEqual({ nanos: 11_250_000, tokens: 1_500 });
    expect(claude!.standings[0]).toMatchObject({ reservedNanos: 11_250_000, reservedTokens: 1_500, reservedRequests: 1 });
    const gpt = await guard.reserve({ model: 'acme-gpt', user: 'b' }, { promptTokens: 1_000, completionTokens: 500 });
    // 1,000 × 2.5 + 500 × 10 $/MTok.
    expect(gpt!.reservation.amount.nanos).toBe(7_500_000);
    const none = await guard.reserve({ model: 'acme-gpt', user: 'c' }, { promptTokens: 0, completionTokens: 0 });
    expect(none!.reservation.amount).toEqual({ nanos: 0, tokens: 0 });

    await guard.settle(claude!.reservation, { nanos: 4_000_000, tokens: 700 });
    await guard.release(gpt!.reservation);
    const line = guard.lineFor('u', 'a', NOW)!;
    expect(await ledger.standing(line)).toMatchObject({ spentNanos: 4_000_000, usedTokens: 700, reservedNanos: 0, requests: 1 });
    expect(await ledger.standing(guard.lineFor('u', 'b', NOW)!)).toMatchObject({ spentNanos: 0, reservedNanos: 0, requests: 0 });
  });

  it('refuses once the USD limit cannot afford the estimate, naming the policy, in USD', async () => {
    const { guard } = make([{ name: 'tiny', scope: 'user', maxUsd: 0.02, window: '1d' }]);
    await guard.reserve({ model: 'acme-claude', user: 'a' }, { promptTokens: 1_000, completionTokens: 500 });
    const err = await guard.reserve({ model: 'acme-claude', user: 'a' }, { promptTokens: 1_000, completionTokens: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyExhaustedError);
    expect(err).toMatchObject({ policy: 'tiny', scope: 'user', entity: 'a', limit: 'usd', max: 0.02, used: 0, reserved: 0.01125, requested: 0.01125 });
    expect((err as Error).message).toContain('user budget exhausted');
  });

  it('returns undefined when no policy applies (nothing is held)', async () => {
    const { guard, ledger } = make([{ name: 'u', scope: 'user', maxTokens: 10 }]);
    expect(await guard.reserve({ model: 'acme-gpt' }, { promptTokens: 100, completionTokens: 100 })).toBeUndefined();
    expect(ledger.stats()).toEqual({ lines: 0, holds: 0 });
  });

  it('an unpriced model under a USD policy is refused (nothing held), unless the policy allows it', async () => {
    const { guard, ledger } = make([
      { name: 'rate', scope: 'key', rpm: 10 },
      { name: 'usd', scope: 'user', maxUsd: 1, window: '1d' },
      { name: 'tokens', scope: 'org', maxTokens: 1_000 },
    ]);
    const err = await guard.reserve({ model: 'mystery-7b', user: 'u', key: 'k', org: 'o' }, { promptTokens: 10, completionTokens: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnpricedModelError);
    expect(err).toMatchObject({ code: 'UNPRICED_MODEL', model: 'mystery-7b', policy: 'usd' });
    expect(ledger.stats().holds).toBe(0);
    // Without a USD policy in play the model is fine.
    const ok = await guard.reserve({ model: 'mystery-7b', key: 'k', org: 'o' }, { promptTokens: 10, completionTokens: 10 });
    expect(ok!.reservation.amount).toEqual({ nanos: 0, tokens: 20 });

    const allowing = make([
      { name: 'usd', scope: 'user', maxUsd: 0.000001, window: '1d', unpriced: 'allow' },
      { name: 'tokens', scope: 'user', maxTokens: 100 },
    ]);
    const held = await allowing.guard.reserve({ model: 'mystery-7b', user: 'u' }, { promptTokens: 40, completionTokens: 10 });
    expect(held!.reservation.lines.map((l) => [l.policy, l.priced])).toEqual([['usd', false], ['tokens', true]]);
    expect(held!.standings[0]).toMatchObject({ reservedNanos: 0, reservedTokens: 50 });
    expect(allowing.guard.linesFor({ model: 'mystery-7b', user: 'u' }, NOW)[0]!.priced).toBe(false);
    expect(allowing.guard.linesFor({ model: 'acme-gpt', user: 'u' }, NOW)[0]!.priced).toBe(true);
    const settled = await allowing.guard.settle(held!.reservation, { nanos: 0, tokens: 45 });
    expect(settled[0]).toMatchObject({ spentNanos: 0, usedTokens: 45 });
  });

  it('reserves all applicable policies at once: one refusing holds none', async () => {
    const { guard, ledger } = make([
      { name: 'user-daily', scope: 'user', maxUsd: 5, window: '1d' },
      { name: 'org-cap', scope: 'org', maxTokens: 1_000 },
    ]);
    const subject = { model: 'acme-gpt', user: 'u', org: 'o' };
    const err = await guard.reserve(subject, { promptTokens: 900, completionTokens: 200 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ policy: 'org-cap', limit: 'tokens' });
    expect(await ledger.standing(guard.lineFor('user-daily', 'u', NOW)!)).toMatchObject({ reservedNanos: 0, reservedRequests: 0 });
  });

  it('reads the clock once per reserve when its memory ledger shares the clock, twice when not', async () => {
    let reads = 0;
    const clock = (): number => (reads++, NOW + reads);
    const { guard } = make([{ name: 'u', scope: 'user', maxTokens: 100 }], clock);
    const held = await guard.reserve({ model: 'acme-gpt', user: 'u' }, { promptTokens: 1, completionTokens: 0 });
    expect(reads).toBe(1);
    // The ledger took the guard's reading: the hold lapses a TTL after it.
    expect(held!.reservation.expiresAt).toBe(NOW + 1 + 600_000);
    const own = new BudgetPolicies({ policies: [{ name: 'u', scope: 'user', maxTokens: 100 }], ledger: new MemoryPolicyLedger({ now: clock }), prices, now: () => NOW });
    reads = 0;
    await own.reserve({ model: 'acme-gpt', user: 'u' }, { promptTokens: 1, completionTokens: 0 });
    expect(reads).toBe(1); // the ledger's own clock, read by the ledger
  });

  it('checks each call cheaply but names bad arguments', async () => {
    const { guard } = make([{ name: 'u', scope: 'user', maxTokens: 10 }]);
    await expect(guard.reserve({ model: 'acme-gpt', user: 'u' }, { promptTokens: -1, completionTokens: 0 })).rejects.toThrow(/estimate\.promptTokens/);
    await expect(guard.reserve({ model: '' } as CallSubject, { promptTokens: 1, completionTokens: 0 })).rejects.toThrow(/subject\.model/);
    expect(() => guard.lineFor('u', '')).toThrow(/entity/);
  });
});

describe('BudgetPolicies: options are checked up front, naming the field', () => {
  it('each problem names policies[i].field', () => {
    expect(problem([{ name: 'a', scope: 'user', maxUsd: 1 }, { name: 'b', scope: 'user', maxUsd: -1 }])).toMatch(/^policies\[1\]\.maxUsd: must be a finite number > 0 \(USD\)/);
    expect(problem([{ name: 'a', scope: 'user', maxUsd: Infinity }])).toMatch(/^policies\[0\]\.maxUsd: must be a finite number > 0/);
    expect(problem([{ name: 'a', scope: 'user', maxUsd: 1e-12 }])).toMatch(/^policies\[0\]\.maxUsd: must be at least 0\.000000001/);
    expect(problem([{ name: 'a', scope: 'user', maxUsd: 1 }, { name: 'a', scope: 'org', rpm: 1 }])).toMatch(/^policies\[1\]\.name: repeats the name of policies\[0\]/);
    expect(problem([{ name: 'a', scope: 'user' }])).toMatch(/^policies\[0\]: must set at least one limit: maxUsd, maxTokens, rpm or tpm/);
    expect(problem([{ name: 'a', scope: 'user', maxTokens: 5, window: '1 day' }])).toMatch(/^policies\[0\]\.window: must be like 30s, 15m, 1h, 1d, 1w or 1mo/);
    expect(problem([{ name: 'a', scope: 'key', rpm: 5, window: '1d' }])).toMatch(/^policies\[0\]\.window: applies to maxUsd\/maxTokens/);
    expect(problem([{ name: 'a', scope: 'key', rpm: 1.5 }])).toMatch(/^policies\[0\]\.rpm: must be a whole number >= 1/);
    expect(problem([{ name: 'a', scope: 'key', tpm: 0 }])).toMatch(/^policies\[0\]\.tpm: must be a whole number >= 1/);
    expect(problem([{ name: 'a', scope: 'key', maxTokens: 2.5 }])).toMatch(/^policies\[0\]\.maxTokens: must be a whole number >= 1/);
    expect(problem([{ name: 'a', scope: 'team', rpm: 1 }])).toMatch(/^policies\[0\]\.scope: must be one of thread, user, org, key, agent, model, global/);
    expect(problem([{ name: 'a', scope: 'org', rpm: 1, match: { team: 'x' } }])).toMatch(/^policies\[0\]\.match\.team: is not a match key \(expected one of thread, user, org, key, agent, model\)/);
    expect(problem([{ name: 'a', scope: 'org', rpm: 1, match: { org: '' } }])).toMatch(/^policies\[0\]\.match\.org: must not be empty/);
    expect(problem([{ name: 'a', scope: 'org', maxTokens: 1, thresholds: [50, 0] }])).toMatch(/^policies\[0\]\.thresholds\[1\]: must be a percent in \(0, 100\]/);
    expect(problem([{ name: 'a', scope: 'org', maxTokens: 1, thresholds: [101] }])).toMatch(/^policies\[0\]\.thresholds\[0\]: must be a percent/);
    expect(problem([{ name: 'a', scope: 'org', maxUsd: 1, unpriced: 'maybe' }])).toMatch(/^policies\[0\]\.unpriced: must be "refuse" or "allow"/);
    expect(problem([{ name: 'a b', scope: 'org', rpm: 1 }])).toMatch(/^policies\[0\]\.name: must be 1 to 64 letters/);
    expect(problem([{ name: 'a', scope: 'org', max_usd: 1 }])).toMatch(/^policies\[0\]\.max_usd: is not a policy field/);
    expect(problem('nope')).toMatch(/^policies: must be a list of policies/);
    expect(problem(undefined)).toMatch(/^policies: must be a list of policies/);
  });

  it('names the ledger, the prices and the clock', () => {
    const ledger = new MemoryPolicyLedger();
    const policies: BudgetPolicy[] = [{ name: 'a', scope: 'user', rpm: 1 }];
    expect(() => new BudgetPolicies({ policies, ledger: {} as MemoryPolicyLedger, prices })).toThrow(/^ledger: must be a PolicyLedger/);
    expect(() => new BudgetPolicies({ policies, ledger, prices: {} as PriceTable })).toThrow(/^prices: must be a PriceTable/);
    expect(() => new BudgetPolicies({ policies, ledger, prices, now: 5 as unknown as () => number })).toThrow(/^now: must be a function/);
    expect(() => new BudgetPolicies(undefined as unknown as { policies: BudgetPolicy[]; ledger: MemoryPolicyLedger; prices: PriceTable })).toThrow(/^options: must be an object/);
  });
});
