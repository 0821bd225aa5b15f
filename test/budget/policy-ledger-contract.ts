/**
 * The contract every {@link PolicyLedger} keeps, run against each implementation (memory, Redis). It builds
 * its lines by hand (no `BudgetPolicies`), drives time with an injected clock and only uses the interface,
 * so that any backend can run it.
 *
 * Behaviour it pins down beyond the interface's JSDoc:
 * - a line is checked limit by limit in the order nanos, tokens, requests; lines in the order given; the
 *   first that cannot afford the call is the one named by the error;
 * - refusal amounts are in the limit's unit: USD (nanos / 1e9), tokens, requests (a call asks 1);
 * - release frees the hold and counts nothing (no request either);
 * - a hold lapses at `expiresAt` (= now + TTL at reserve) and frees its amounts; a settle of a lapsed hold
 *   still charges the real amount (the call was answered: the bill is the truth), once, and frees nothing
 *   twice; a release of a lapsed hold does nothing;
 * - alerts raised by a call are delivered by the time its promise settles.
 *
 * @example
 * ```ts
 * runPolicyLedgerContract('MemoryPolicyLedger', async (opts) => {
 *   const ledger = new MemoryPolicyLedger(opts);
 *   return { ledger, cleanup: () => ledger.close() };
 * });
 * ```
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerUnavailableError, PolicyExhaustedError, RateLimitedError } from '../../src/core/errors.js';
import type {
  LineLimits,
  PolicyAlert,
  PolicyAmount,
  PolicyLedger,
  PolicyLine,
  PolicyReservation,
  PolicyScope,
  RestorePolicySpend,
} from '../../src/budget/policy-types.js';
import { windowAt, type BudgetWindow } from '../../src/budget/windows.js';

/** What the suite passes to `make`: the clock, and optionally a restore and a hold TTL. */
export interface PolicyLedgerContractOptions {
  now: () => number;
  restore?: RestorePolicySpend;
  reservationTtlMs?: number;
}

export type MakePolicyLedger = (opts: PolicyLedgerContractOptions) => Promise<{ ledger: PolicyLedger; cleanup(): Promise<void> }>;

const DAY: BudgetWindow = { count: 1, unit: 'd' };
const MINUTE: BudgetWindow = { count: 1, unit: 'm' };
/** 2026-11-30 12:00:00 UTC: the suite's default clock. */
const NOON = Date.UTC(2026, 10, 30, 12, 0, 0);

/** Awaits `promise` and returns what it rejected with; fails the test if it resolved. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** A unique policy name (so that a shared backend, e.g. one Redis, never mixes tests). */
function policyName(label = 'p'): string {
  return `${label}-${randomUUID().slice(0, 12)}`;
}

interface LineSpec {
  policy: string;
  entity?: string;
  scope?: PolicyScope;
  /** `undefined`: lifetime (budget lines only). */
  window?: BudgetWindow | undefined;
  limits: LineLimits;
  priced?: boolean;
  thresholds?: number[];
}

/** A budget line at `now` (window default 1d). */
function budgetLine(now: number, spec: LineSpec): PolicyLine {
  const window = 'window' in spec ? spec.window : DAY;
  const span = window === undefined ? undefined : windowAt(window, now);
  return {
    policy: spec.policy,
    scope: spec.scope ?? 'user',
    entity: spec.entity ?? 'u-1',
    meter: 'budget',
    windowStart: span?.start ?? 0,
    resetsAt: span?.resetsAt ?? null,
    window,
    limits: spec.limits,
    priced: spec.priced ?? true,
    thresholds: spec.thresholds ?? [],
  };
}

/** A rate line (the UTC minute) at `now`. */
function rateLine(now: number, spec: LineSpec): PolicyLine {
  const span = windowAt(MINUTE, now);
  return {
    policy: spec.policy,
    scope: spec.scope ?? 'key',
    entity: spec.entity ?? 'k-1',
    meter: 'rate',
    windowStart: span.start,
    resetsAt: span.resetsAt,
    window: MINUTE,
    limits: spec.limits,
    priced: true,
    thresholds: [],
  };
}

const amount = (nanos: number, tokens: number): PolicyAmount => ({ nanos, tokens });

/** A settable clock. */
function clock(start = NOON): { now: () => number; set(t: number): void; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    set: (v) => {
      t = v;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

/** Registers the policy ledger contract under `describe(name)`. */
export function runPolicyLedgerContract(name: string, make: MakePolicyLedger): void {
  describe(`PolicyLedger contract: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    const open = async (opts: PolicyLedgerContractOptions): Promise<PolicyLedger> => {
      const { ledger, cleanup } = await make(opts);
      cleanups.push(cleanup);
      return ledger;
    };
    afterEach(async () => {
      await Promise.all(cleanups.splice(0).map((c) => c()));
    });

    describe('reserve over lines', () => {
      it('is all-or-nothing: when the second line refuses, the first holds nothing', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const user = budgetLine(c.now(), { policy: policyName('user'), limits: { tokens: 1_000 } });
        const org = budgetLine(c.now(), { policy: policyName('org'), scope: 'org', entity: 'acme', limits: { tokens: 100 } });
        const err = await rejectionOf(ledger.reserve([user, org], amount(0, 500)));
        expect(err).toBeInstanceOf(PolicyExhaustedError);
        expect(err).toMatchObject({ policy: org.policy, scope: 'org', entity: 'acme', limit: 'tokens', max: 100, requested: 500 });
        expect(await ledger.standing(user)).toMatchObject({ reservedTokens: 0, usedTokens: 0, reservedRequests: 0, requests: 0 });
        expect(await ledger.standing(org)).toMatchObject({ reservedTokens: 0, reservedRequests: 0 });
        // The first line alone still has all of its room.
        const { reservation, standings } = await ledger.reserve([user], amount(0, 1_000));
        expect(reservation.lines).toHaveLength(1);
        expect(standings).toHaveLength(1);
        expect(standings[0]).toMatchObject({ policy: user.policy, reservedTokens: 1_000, reservedRequests: 1 });
      });

      it('returns the reservation (id, lines, amount, expiresAt) and each line standing with it held', async () => {
        const c = clock();
        const ledger = await open({ now: c.now, reservationTtlMs: 5_000 });
        const a = budgetLine(c.now(), { policy: policyName(), limits: { nanos: 1_000_000, tokens: 1_000 } });
        const b = rateLine(c.now(), { policy: policyName(), limits: { requests: 10, tokens: 5_000 } });
        const { reservation, standings } = await ledger.reserve([a, b], amount(250_000, 300));
        expect(typeof reservation.id).toBe('string');
        expect(reservation.amount).toEqual({ nanos: 250_000, tokens: 300 });
        expect(reservation.lines.map((l) => l.policy)).toEqual([a.policy, b.policy]);
        expect(reservation.expiresAt).toBe(NOON + 5_000);
        expect(standings).toEqual([
          {
            policy: a.policy, scope: 'user', entity: 'u-1', meter: 'budget', windowStart: a.windowStart, resetsAt: a.resetsAt,
            limits: { nanos: 1_000_000, tokens: 1_000 }, spentNanos: 0, reservedNanos: 250_000, usedTokens: 0, reservedTokens: 300,
            requests: 0, reservedRequests: 1,
          },
          {
            policy: b.policy, scope: 'key', entity: 'k-1', meter: 'rate', windowStart: b.windowStart, resetsAt: b.resetsAt,
            limits: { requests: 10, tokens: 5_000 }, spentNanos: 0, reservedNanos: 250_000, usedTokens: 0, reservedTokens: 300,
            requests: 0, reservedRequests: 1,
          },
        ]);
        const other = await ledger.reserve([a, b], amount(1, 1));
        expect(other.reservation.id).not.toBe(reservation.id);
      });

      it('a nanos limit: exact amounts in USD, exactly the rest still fits', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const line = budgetLine(c.now(), { policy: policyName(), limits: { nanos: 1_000_000 } });
        const first = await ledger.reserve([line], amount(600_000, 10));
        await ledger.settle(first.reservation, amount(400_000, 10));
        const held = await ledger.reserve([line], amount(350_000, 10));
        const err = await rejectionOf(ledger.reserve([line], amount(250_001, 10)));
        expect(err).toBeInstanceOf(PolicyExhaustedError);
        const e = err as PolicyExhaustedError;
        expect(e.code).toBe('POLICY_BUDGET_EXHAUSTED');
        expect(e).toMatchObject({ policy: line.policy, scope: 'user', entity: 'u-1', limit: 'usd', resetsAt: line.resetsAt });
        expect(e.max).toBeCloseTo(0.001, 12);
        expect(e.used).toBeCloseTo(0.0004, 12);
        expect(e.reserved).toBeCloseTo(0.00035, 12);
        expect(e.requested).toBeCloseTo(0.000250001, 12);
        const last = await ledger.reserve([line], amount(250_000, 10));
        expect(last.standings[0]).toMatchObject({ spentNanos: 400_000, reservedNanos: 600_000 });
        await ledger.release(held.reservation);
        await ledger.release(last.reservation);
        expect(await ledger.standing(line)).toMatchObject({ spentNanos: 400_000, reservedNanos: 0, requests: 1, reservedRequests: 0 });
      });

      it('a tokens limit: exact amounts, a request over the whole limit is refused on an unused line', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const line = budgetLine(c.now(), { policy: policyName(), limits: { tokens: 1_000 }, window: undefined });
        expect(line.resetsAt).toBeNull();
        const big = await rejectionOf(ledger.reserve([line], amount(0, 1_001)));
        expect(big).toBeInstanceOf(PolicyExhaustedError);
        expect(big).toMatchObject({ limit: 'tokens', max: 1_000, used: 0, reserved: 0, requested: 1_001, resetsAt: null });
        const a = await ledger.reserve([line], amount(0, 600));
        await ledger.settle(a.reservation, amount(0, 700)); // more than held: the truth is charged
        await ledger.reserve([line], amount(0, 200));
        const err = await rejectionOf(ledger.reserve([line], amount(0, 101)));
        expect(err).toMatchObject({ limit: 'tokens', max: 1_000, used: 700, reserved: 200, requested: 101 });
        await ledger.reserve([line], amount(0, 100));
        expect(await ledger.standing(line)).toMatchObject({ usedTokens: 700, reservedTokens: 300, requests: 1, reservedRequests: 2 });
      });

      it('a requests limit (rate line): refuses the call past the limit with RateLimitedError and a truthful retry', async () => {
        const c = clock(NOON + 45_000); // 12:00:45: the minute resets in 15 s
        const ledger = await open({ now: c.now });
        const line = rateLine(c.now(), { policy: policyName(), limits: { requests: 3 } });
        const a = await ledger.reserve([line], amount(0, 50));
        await ledger.settle(a.reservation, amount(0, 50));
        await ledger.reserve([line], amount(0, 50));
        await ledger.reserve([line], amount(0, 50));
        const err = await rejectionOf(ledger.reserve([line], amount(0, 50)));
        expect(err).toBeInstanceOf(RateLimitedError);
        const e = err as RateLimitedError;
        expect(e.code).toBe('RATE_LIMITED');
        expect(e).toMatchObject({ policy: line.policy, scope: 'key', entity: 'k-1', limit: 'requests', max: 3, used: 1, reserved: 2, requested: 1 });
        expect(e.resetsAt).toBe(NOON + 60_000);
        expect(e.retryAfterMs).toBe(15_000);
        expect(await ledger.standing(line)).toMatchObject({ requests: 1, reservedRequests: 2, usedTokens: 50, reservedTokens: 100 });
      });

      it('a tokens limit on a rate line refuses with RateLimitedError naming tokens', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const line = rateLine(c.now(), { policy: policyName(), limits: { requests: 100, tokens: 1_000 } });
        await ledger.reserve([line], amount(0, 900));
        const err = await rejectionOf(ledger.reserve([line], amount(0, 101)));
        expect(err).toBeInstanceOf(RateLimitedError);
        expect(err).toMatchObject({ limit: 'tokens', max: 1_000, used: 0, reserved: 900, requested: 101, retryAfterMs: 60_000 });
        await ledger.reserve([line], amount(0, 100));
      });

      it('checks nanos before tokens before requests on one line', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const line = budgetLine(c.now(), { policy: policyName(), limits: { nanos: 10, tokens: 10, requests: 1 } });
        await ledger.reserve([line], amount(5, 5));
        expect(await rejectionOf(ledger.reserve([line], amount(6, 6)))).toMatchObject({ limit: 'usd' });
        expect(await rejectionOf(ledger.reserve([line], amount(5, 6)))).toMatchObject({ limit: 'tokens' });
        expect(await rejectionOf(ledger.reserve([line], amount(5, 5)))).toMatchObject({ limit: 'requests', max: 1, reserved: 1, requested: 1 });
      });

      it('a line with priced:false counts no nanos (hold nor charge) but still its tokens', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const line = budgetLine(c.now(), { policy: policyName(), limits: { nanos: 100, tokens: 1_000 }, priced: false });
        const { reservation, standings } = await ledger.reserve([line], amount(5_000, 10));
        expect(standings[0]).toMatchObject({ reservedNanos: 0, reservedTokens: 10 });
        const settled = await ledger.settle(reservation, amount(7_000, 8));
        expect(settled[0]).toMatchObject({ spentNanos: 0, usedTokens: 8, reservedTokens: 0, requests: 1 });
        const err = await rejectionOf(ledger.reserve([line], amount(1, 993)));
        expect(err).toMatchObject({ limit: 'tokens' });
      });
    });

    describe('settle and release', () => {
      it('settle frees the hold, charges the actual amount and one request, and is idempotent', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const a = budgetLine(c.now(), { policy: policyName(), limits: { nanos: 1_000_000, tokens: 1_000 } });
        const b = rateLine(c.now(), { policy: policyName(), limits: { requests: 5, tokens: 1_000 } });
        const { reservation } = await ledger.reserve([a, b], amount(500_000, 400));
        const standings = await ledger.settle(reservation, amount(123_456, 321));
        expect(standings).toHaveLength(2);
        for (const s of standings) {
          expect(s).toMatchObject({ spentNanos: 123_456, reservedNanos: 0, usedTokens: 321, reservedTokens: 0, requests: 1, reservedRequests: 0 });
        }
        expect(standings.map((s) => s.meter)).toEqual(['budget', 'rate']);
        expect(await ledger.settle(reservation, amount(123_456, 321))).toEqual([]);
        await ledger.release(reservation);
        expect(await ledger.standing(a)).toMatchObject({ spentNanos: 123_456, usedTokens: 321, requests: 1, reservedNanos: 0 });
        expect(await ledger.standing(b)).toMatchObject({ usedTokens: 321, requests: 1, reservedRequests: 0 });
      });

      it('settle of a plain copy of the reservation (as after JSON) works; a forged id charges nothing', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const line = budgetLine(c.now(), { policy: policyName(), limits: { tokens: 1_000 } });
        const { reservation } = await ledger.reserve([line], amount(0, 100));
        const forged: PolicyReservation = { ...JSON.parse(JSON.stringify(reservation)), id: `${reservation.id}-x` };
        expect(await ledger.settle(forged, amount(0, 50))).toEqual([]);
        const copy = JSON.parse(JSON.stringify(reservation)) as PolicyReservation;
        expect(await ledger.settle(copy, amount(0, 60))).toHaveLength(1);
        expect(await ledger.standing(line)).toMatchObject({ usedTokens: 60, reservedTokens: 0, requests: 1 });
      });

      it('release frees the hold, counts nothing, and is idempotent; settle after release charges nothing', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const line = budgetLine(c.now(), { policy: policyName(), limits: { nanos: 1_000, tokens: 1_000 } });
        const { reservation } = await ledger.reserve([line], amount(1_000, 1_000));
        await ledger.release(reservation);
        await ledger.release(reservation);
        expect(await ledger.settle(reservation, amount(10, 10))).toEqual([]);
        expect(await ledger.standing(line)).toMatchObject({
          spentNanos: 0, reservedNanos: 0, usedTokens: 0, reservedTokens: 0, requests: 0, reservedRequests: 0,
        });
        await ledger.reserve([line], amount(1_000, 1_000));
      });

      it('a hold lapses after the TTL and frees its amounts; a late settle still charges once; a late release does nothing', async () => {
        const c = clock();
        const ledger = await open({ now: c.now, reservationTtlMs: 1_000 });
        const line = budgetLine(c.now(), { policy: policyName(), limits: { tokens: 1_000 } });
        const { reservation } = await ledger.reserve([line], amount(0, 1_000));
        expect(reservation.expiresAt).toBe(NOON + 1_000);
        expect(await rejectionOf(ledger.reserve([line], amount(0, 1)))).toBeInstanceOf(PolicyExhaustedError);
        c.advance(999);
        expect(await rejectionOf(ledger.reserve([line], amount(0, 1)))).toBeInstanceOf(PolicyExhaustedError);
        c.advance(1); // at expiresAt
        expect(await ledger.standing(line)).toMatchObject({ reservedTokens: 0, reservedRequests: 0 });
        const other = await ledger.reserve([line], amount(0, 600));
        // The lapsed call was answered after all: it is billed, and frees nothing of the other hold.
        const late = await ledger.settle(reservation, amount(0, 300));
        expect(late[0]).toMatchObject({ usedTokens: 300, reservedTokens: 600, requests: 1, reservedRequests: 1 });
        expect(await ledger.settle(reservation, amount(0, 300))).toEqual([]);
        await ledger.release(reservation);
        expect(await ledger.standing(line)).toMatchObject({ usedTokens: 300, reservedTokens: 600, requests: 1, reservedRequests: 1 });
        await ledger.settle(other.reservation, amount(0, 100));
        expect(await ledger.standing(line)).toMatchObject({ usedTokens: 400, reservedTokens: 0, requests: 2, reservedRequests: 0 });
      });

      it('settle charges the window the hold was taken in, even after it rolled over', async () => {
        const c = clock(Date.UTC(2026, 10, 30, 23, 59, 59));
        const ledger = await open({ now: c.now });
        const old = budgetLine(c.now(), { policy: policyName(), limits: { tokens: 1_000 } });
        const { reservation } = await ledger.reserve([old], amount(0, 500));
        c.set(Date.UTC(2026, 11, 1, 0, 0, 1));
        const fresh = budgetLine(c.now(), { policy: old.policy, limits: { tokens: 1_000 } });
        expect(fresh.windowStart).toBe(Date.UTC(2026, 11, 1));
        const settled = await ledger.settle(reservation, amount(0, 400));
        expect(settled[0]).toMatchObject({ windowStart: old.windowStart, usedTokens: 400 });
        expect(await ledger.standing(fresh)).toMatchObject({ usedTokens: 0, reservedTokens: 0, requests: 0 });
      });
    });

    describe('windows', () => {
      it('rolls over at a month boundary (Nov 30 23:59 → Dec 1) with the injected clock', async () => {
        const c = clock(Date.UTC(2026, 10, 30, 23, 59, 0));
        const ledger = await open({ now: c.now });
        const policy = policyName('monthly');
        const month: BudgetWindow = { count: 1, unit: 'mo' };
        const nov = budgetLine(c.now(), { policy, scope: 'org', entity: 'acme', window: month, limits: { nanos: 1_000_000 } });
        expect(nov.windowStart).toBe(Date.UTC(2026, 10, 1));
        expect(nov.resetsAt).toBe(Date.UTC(2026, 11, 1));
        const { reservation } = await ledger.reserve([nov], amount(1_000_000, 0));
        await ledger.settle(reservation, amount(1_000_000, 0));
        const refused = await rejectionOf(ledger.reserve([nov], amount(1, 0)));
        expect(refused).toMatchObject({ limit: 'usd', resetsAt: Date.UTC(2026, 11, 1) });

        c.set(Date.UTC(2026, 11, 1, 0, 0, 0));
        const dec = budgetLine(c.now(), { policy, scope: 'org', entity: 'acme', window: month, limits: { nanos: 1_000_000 } });
        expect(dec.windowStart).toBe(Date.UTC(2026, 11, 1));
        expect(dec.resetsAt).toBe(Date.UTC(2027, 0, 1));
        expect(await ledger.standing(dec)).toMatchObject({ spentNanos: 0, reservedNanos: 0, requests: 0, resetsAt: Date.UTC(2027, 0, 1) });
        const next = await ledger.reserve([dec], amount(1_000_000, 0));
        expect(next.standings[0]).toMatchObject({ windowStart: Date.UTC(2026, 11, 1), reservedNanos: 1_000_000 });
      });

      it('rolls a rate line over at the next UTC minute', async () => {
        const c = clock(NOON + 59_000);
        const ledger = await open({ now: c.now });
        const policy = policyName('rate');
        const first = rateLine(c.now(), { policy, limits: { requests: 2 } });
        await ledger.settle((await ledger.reserve([first], amount(0, 1))).reservation, amount(0, 1));
        await ledger.settle((await ledger.reserve([first], amount(0, 1))).reservation, amount(0, 1));
        expect(await rejectionOf(ledger.reserve([first], amount(0, 1)))).toMatchObject({ retryAfterMs: 1_000 });
        c.advance(1_000);
        const second = rateLine(c.now(), { policy, limits: { requests: 2 } });
        expect(second.windowStart).toBe(NOON + 60_000);
        expect(await ledger.standing(second)).toMatchObject({ requests: 0, reservedRequests: 0 });
        await ledger.reserve([second], amount(0, 1));
        await ledger.reserve([second], amount(0, 1));
      });
    });

    describe('standing and top', () => {
      it('a line never used stands at zero, with its own limits', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const line = budgetLine(c.now(), { policy: policyName(), limits: { nanos: 5_000, tokens: 7 } });
        expect(await ledger.standing(line)).toEqual({
          policy: line.policy, scope: 'user', entity: 'u-1', meter: 'budget', windowStart: line.windowStart, resetsAt: line.resetsAt,
          limits: { nanos: 5_000, tokens: 7 }, spentNanos: 0, reservedNanos: 0, usedTokens: 0, reservedTokens: 0, requests: 0, reservedRequests: 0,
        });
      });

      it('top lists budget lines of a policy by spent nanos, then tokens, at most limit', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const policy = policyName('top');
        const spend: Array<[string, number, number]> = [['a', 100, 1], ['b', 300, 1], ['c', 300, 9], ['d', 0, 50], ['e', 200, 0]];
        for (const [entity, nanos, tokens] of spend) {
          const line = budgetLine(c.now(), { policy, entity, limits: { nanos: 1_000_000, tokens: 1_000 } });
          await ledger.settle((await ledger.reserve([line], amount(nanos, tokens))).reservation, amount(nanos, tokens));
        }
        // Another policy and a rate line of the same name do not appear.
        const otherLine = budgetLine(c.now(), { policy: policyName(), entity: 'z', limits: { tokens: 10 } });
        await ledger.settle((await ledger.reserve([otherLine], amount(9_999, 1))).reservation, amount(9_999, 1));
        const windowStart = windowAt(DAY, c.now()).start;
        const top = await ledger.top(policy, windowStart, 3);
        expect(top.map((s) => [s.entity, s.spentNanos, s.usedTokens])).toEqual([['c', 300, 9], ['b', 300, 1], ['e', 200, 0]]);
        expect(top.every((s) => s.meter === 'budget' && s.policy === policy && s.windowStart === windowStart)).toBe(true);
        expect((await ledger.top(policy, windowStart, 10)).map((s) => s.entity)).toEqual(['c', 'b', 'e', 'a', 'd']);
        expect(await ledger.top(policy, windowStart - 86_400_000, 10)).toEqual([]);
      });
    });

    describe('overrides', () => {
      it('set, list and delete; an override replaces the budget limits it names, not rate lines', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const policy = policyName('ov');
        const line = budgetLine(c.now(), { policy, entity: 'u-9', limits: { nanos: 1_000, tokens: 100 } });
        const rate = rateLine(c.now(), { policy, entity: 'u-9', limits: { requests: 100, tokens: 100 } });
        await ledger.setOverride({ policy, entity: 'u-9', maxNanos: 5_000 });
        expect((await ledger.overrides()).filter((o) => o.policy === policy)).toEqual([{ policy, entity: 'u-9', maxNanos: 5_000 }]);
        expect(await ledger.standing(line)).toMatchObject({ limits: { nanos: 5_000, tokens: 100 } });
        const { reservation } = await ledger.reserve([line], amount(4_000, 50));
        expect(await rejectionOf(ledger.reserve([line], amount(1_001, 1)))).toMatchObject({ limit: 'usd', max: 5_000 / 1e9 });
        expect(await rejectionOf(ledger.reserve([rate], amount(0, 101)))).toBeInstanceOf(RateLimitedError);
        await ledger.release(reservation);

        await ledger.setOverride({ policy, entity: 'u-9', maxTokens: 20 }); // replaces the whole override
        expect((await ledger.overrides()).filter((o) => o.policy === policy)).toEqual([{ policy, entity: 'u-9', maxTokens: 20 }]);
        expect(await ledger.standing(line)).toMatchObject({ limits: { nanos: 1_000, tokens: 20 } });
        expect(await rejectionOf(ledger.reserve([line], amount(0, 21)))).toMatchObject({ limit: 'tokens', max: 20 });
        // Another entity of the same policy keeps the policy's limits.
        const other = budgetLine(c.now(), { policy, entity: 'u-10', limits: { nanos: 1_000, tokens: 100 } });
        expect(await ledger.standing(other)).toMatchObject({ limits: { nanos: 1_000, tokens: 100 } });

        expect(await ledger.deleteOverride(policy, 'u-9')).toBe(true);
        expect(await ledger.deleteOverride(policy, 'u-9')).toBe(false);
        expect((await ledger.overrides()).filter((o) => o.policy === policy)).toEqual([]);
        expect(await ledger.standing(line)).toMatchObject({ limits: { nanos: 1_000, tokens: 100 } });
        await ledger.reserve([line], amount(0, 100));
      });
    });

    describe('restore', () => {
      it('restores a budget line once, adds to it, and never restores rate lines', async () => {
        const c = clock();
        const calls: PolicyLine[] = [];
        const restore: RestorePolicySpend = async (line) => {
          calls.push(line);
          return { nanos: 300, tokens: 30, requests: 3 };
        };
        const ledger = await open({ now: c.now, restore });
        const line = budgetLine(c.now(), { policy: policyName('rs'), limits: { nanos: 1_000, tokens: 100 } });
        const rate = rateLine(c.now(), { policy: policyName('rr'), limits: { requests: 10 } });
        expect(await ledger.standing(line)).toMatchObject({ spentNanos: 300, usedTokens: 30, requests: 3 });
        const { reservation } = await ledger.reserve([line, rate], amount(700, 70));
        // A read may or may not keep the restored line (the memory ledger does not, so reads never grow
        // it); the first reserve restores at most once more, and nothing after it does.
        const restores = calls.length;
        expect(restores).toBeLessThanOrEqual(2);
        expect(await rejectionOf(ledger.reserve([line], amount(1, 0)))).toMatchObject({ limit: 'usd', used: 300 / 1e9, reserved: 700 / 1e9 });
        await ledger.settle(reservation, amount(100, 10));
        expect(await ledger.standing(line)).toMatchObject({ spentNanos: 400, usedTokens: 40, requests: 4 });
        expect(calls).toHaveLength(restores);
        expect(calls[0]).toMatchObject({ policy: line.policy, entity: 'u-1', meter: 'budget', windowStart: line.windowStart });
      });

      it('concurrent first touches share one restore and count the restored spend', async () => {
        const c = clock();
        let calls = 0;
        let open_: () => void = () => undefined;
        const gate = new Promise<void>((resolve) => (open_ = resolve));
        const restore: RestorePolicySpend = async () => {
          calls++;
          await gate;
          return { nanos: 900, tokens: 0, requests: 1 };
        };
        const ledger = await open({ now: c.now, restore });
        const line = budgetLine(c.now(), { policy: policyName('rc'), limits: { nanos: 1_000 } });
        const tries = Array.from({ length: 10 }, () => ledger.reserve([line], amount(50, 0)));
        await new Promise((resolve) => setTimeout(resolve, 20));
        open_();
        const results = await Promise.allSettled(tries);
        expect(calls).toBe(1);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PolicyExhaustedError);
        expect(await ledger.standing(line)).toMatchObject({ spentNanos: 900, reservedNanos: 100, requests: 1, reservedRequests: 2 });
      });

      it('a failing restore fails the call with LedgerUnavailableError and holds nothing', async () => {
        const c = clock();
        let fail = true;
        const restore: RestorePolicySpend = async () => {
          if (fail) throw new Error('store down');
          return { nanos: 0, tokens: 5, requests: 1 };
        };
        const ledger = await open({ now: c.now, restore });
        const other = budgetLine(c.now(), { policy: policyName('ro'), limits: { tokens: 100 } });
        const line = budgetLine(c.now(), { policy: policyName('rf'), limits: { tokens: 100 } });
        const err = await rejectionOf(ledger.reserve([line, other], amount(0, 10)));
        expect(err).toBeInstanceOf(LedgerUnavailableError);
        fail = false;
        expect(await ledger.standing(line)).toMatchObject({ usedTokens: 5, reservedTokens: 0, reservedRequests: 0 });
        expect(await ledger.standing(other)).toMatchObject({ usedTokens: 5, reservedTokens: 0, reservedRequests: 0 });
      });
    });

    describe('alerts', () => {
      it('a threshold fires once per line and window after settle; several crossed at once each fire', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const alerts: PolicyAlert[] = [];
        const off = ledger.onAlert((a) => alerts.push(a));
        const line = budgetLine(c.now(), { policy: policyName('al'), limits: { nanos: 1_000, tokens: 100 }, thresholds: [50, 75, 90] });
        const charge = async (nanos: number, tokens: number): Promise<void> => {
          await ledger.settle((await ledger.reserve([line], amount(nanos, tokens))).reservation, amount(nanos, tokens));
        };
        await charge(400, 10); // 40 %
        expect(alerts).toEqual([]);
        await charge(0, 70); // tokens 80 %: 50 and 75 at once
        expect(alerts.map((a) => [a.type, a.percent])).toEqual([['threshold', 50], ['threshold', 75]]);
        expect(alerts[1]!.standing).toMatchObject({ policy: line.policy, entity: 'u-1', spentNanos: 400, usedTokens: 80 });
        expect(alerts[1]!.at).toBe(NOON);
        await charge(100, 0); // still under 90
        expect(alerts).toHaveLength(2);
        await charge(500, 0); // nanos 100 %
        expect(alerts.map((a) => a.percent)).toEqual([50, 75, 90]);
        await charge(0, 0);
        expect(alerts).toHaveLength(3);
        off();
        const next = budgetLine(c.now(), { policy: line.policy, entity: 'u-2', limits: { tokens: 100 }, thresholds: [50] });
        await ledger.settle((await ledger.reserve([next], amount(0, 60))).reservation, amount(0, 60));
        expect(alerts).toHaveLength(3);
      });

      it('exhausted fires once per line and window on refusal, naming the refused line', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const alerts: PolicyAlert[] = [];
        ledger.onAlert((a) => alerts.push(a));
        const policy = policyName('ex');
        const ok = budgetLine(c.now(), { policy: policyName('fine'), limits: { tokens: 1_000 } });
        const line = budgetLine(c.now(), { policy, limits: { tokens: 10 } });
        await ledger.reserve([line], amount(0, 10));
        await rejectionOf(ledger.reserve([ok, line], amount(0, 1)));
        await rejectionOf(ledger.reserve([ok, line], amount(0, 1)));
        expect(alerts.map((a) => [a.type, a.standing.policy])).toEqual([['exhausted', policy]]);
        expect(alerts[0]!.standing).toMatchObject({ reservedTokens: 10, limits: { tokens: 10 } });
        c.advance(86_400_000);
        const tomorrow = budgetLine(c.now(), { policy, limits: { tokens: 10 } });
        await rejectionOf(ledger.reserve([tomorrow], amount(0, 11)));
        expect(alerts.map((a) => a.type)).toEqual(['exhausted', 'exhausted']);
        expect(alerts[1]!.standing.windowStart).toBe(tomorrow.windowStart);
      });
    });

    describe('concurrency', () => {
      it('1,000 concurrent reserves never exceed either limit; the sum of charges equals the spend exactly; no hold is left', async () => {
        const c = clock();
        const ledger = await open({ now: c.now });
        const user = budgetLine(c.now(), { policy: policyName('cu'), limits: { nanos: 1_000_000 } });
        const org = budgetLine(c.now(), { policy: policyName('co'), scope: 'org', entity: 'acme', limits: { nanos: 5_000_000, tokens: 15_000 } });
        const lines = [user, org];
        // Phase 1: all at once; exactly floor(1e6 / 10_000) = 100 fit.
        const first = await Promise.allSettled(Array.from({ length: 1_000 }, () => ledger.reserve(lines, amount(10_000, 100))));
        const held = first.flatMap((r) => (r.status === 'fulfilled' ? [r.value.reservation] : []));
        expect(held).toHaveLength(100);
        for (const r of first) if (r.status === 'rejected') expect(r.reason).toMatchObject({ policy: user.policy, limit: 'usd' });
        let charged = 0;
        let tokens = 0;
        await Promise.all(
          held.map(async (reservation, i) => {
            const actual = amount(10_000 - (i % 7) * 1_111, 100 - (i % 5));
            if ((await ledger.settle(reservation, actual)).length > 0) {
              charged += actual.nanos;
              tokens += actual.tokens;
            }
          }),
        );
        // Phase 2: reserve then settle, interleaved.
        const second = await Promise.allSettled(
          Array.from({ length: 1_000 }, async (_, i) => {
            const { reservation } = await ledger.reserve(lines, amount(3_000 + (i % 4), 30));
            await new Promise((resolve) => setImmediate(resolve));
            const actual = amount(1_000 + (i % 13) * 157, 10 + (i % 3));
            if ((await ledger.settle(reservation, actual)).length > 0) {
              charged += actual.nanos;
              tokens += actual.tokens;
            }
          }),
        );
        for (const r of second) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PolicyExhaustedError);
        const u = await ledger.standing(user);
        const o = await ledger.standing(org);
        expect(u.spentNanos).toBe(charged);
        expect(o.spentNanos).toBe(charged);
        expect(o.usedTokens).toBe(tokens);
        expect(u.spentNanos).toBeLessThanOrEqual(1_000_000);
        expect(o.usedTokens).toBeLessThanOrEqual(15_000);
        expect(u.requests).toBe(100 + second.filter((r) => r.status === 'fulfilled').length);
        for (const s of [u, o]) expect(s).toMatchObject({ reservedNanos: 0, reservedTokens: 0, reservedRequests: 0 });
      });
    });
  });
}
