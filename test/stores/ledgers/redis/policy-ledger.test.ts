/**
 * RedisPolicyLedger: the semantics every policy ledger has (all-or-nothing reserve over a call's lines,
 * idempotent settle/release, overrides, alerts once, top), against the real Redis.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { PolicyExhaustedError, RateLimitedError, ValidationError } from '../../../../src/core/errors.js';
import type { PolicyAlert } from '../../../../src/budget/policy-types.js';
import { RedisPolicyLedger, policyLinesKey, policyTopKey, type RedisPolicyLedgerOptions } from '../../../../src/stores/ledgers/redis/index.js';
import { describeRedis, REDIS_URL } from '../../../support/services.js';
import { rejectionOf } from '../../../budget/ledger-contract.js';
import { runPolicyLedgerContract } from '../../../budget/policy-ledger-contract.js';
import { deleteKeys } from './redis-audit.js';
import { dailyLine, lifetimeLine, rateLine } from './policy-lines.js';

const PREFIX = `tw-test-policy:${process.pid}:${randomUUID().slice(0, 8)}:`;
const USD = 1_000_000_000;

describeRedis('RedisPolicyLedger', () => {
  let admin: Redis;
  const ledgers: RedisPolicyLedger[] = [];
  const newLedger = (options: RedisPolicyLedgerOptions = {}): RedisPolicyLedger => {
    const ledger = new RedisPolicyLedger({ ...(options.client ? {} : { url: REDIS_URL }), keyPrefix: PREFIX, onError: () => undefined, ...options });
    ledgers.push(ledger);
    return ledger;
  };
  const uid = (): string => `e-${randomUUID().slice(0, 8)}`;

  beforeAll(() => {
    admin = new Redis(REDIS_URL!);
  });
  afterEach(async () => {
    await Promise.all(ledgers.splice(0).map((l) => l.close()));
  });
  afterAll(async () => {
    await deleteKeys(admin, PREFIX);
    await admin.quit();
  });

  // Each ledger of the contract on its own key prefix: the suite's clocks differ from test to test.
  const contractLedger = (options: RedisPolicyLedgerOptions) => {
    const ledger = newLedger({ ...options, keyPrefix: `${PREFIX}${randomUUID().slice(0, 8)}:` });
    return Promise.resolve({ ledger, cleanup: () => ledger.close() });
  };
  runPolicyLedgerContract('RedisPolicyLedger', (opts) => contractLedger(opts));
  runPolicyLedgerContract('RedisPolicyLedger, unbatched', (opts) => contractLedger({ ...opts, maxBatch: 1 }));

  it('checks its options up front, naming the option', () => {
    expect(() => new RedisPolicyLedger({ url: 'http://x' })).toThrow(/url/);
    expect(() => new RedisPolicyLedger({ reservationTtlMs: 0 })).toThrow(/reservationTtlMs/);
    expect(() => new RedisPolicyLedger({ restore: 5 as never })).toThrow(/restore/);
    expect(() => new RedisPolicyLedger({ client: admin, url: REDIS_URL })).toThrow(/url/);
  });

  it('holds on every line or on none: the first line that cannot afford the call refuses it', async () => {
    const ledger = newLedger();
    const user = dailyLine('user-daily', uid(), { nanos: 5 * USD });
    const org = dailyLine('org-daily', uid(), { nanos: 3 * USD, tokens: 1_000 }, Date.now(), { scope: 'org' });
    const { reservation, standings } = await ledger.reserve([user, org], { nanos: 2 * USD, tokens: 400 });
    expect(standings.map((s) => [s.reservedNanos, s.reservedTokens, s.reservedRequests])).toEqual([[2 * USD, 400, 1], [2 * USD, 400, 1]]);
    expect(reservation.expiresAt).toBeGreaterThan(Date.now() + 590_000);

    // The org cannot afford 2 USD more: nothing is held on the user line either.
    const err = await rejectionOf(ledger.reserve([user, org], { nanos: 2 * USD, tokens: 1 }));
    expect(err).toBeInstanceOf(PolicyExhaustedError);
    expect(err).toMatchObject({ policy: 'org-daily', scope: 'org', limit: 'usd', max: 3, used: 0, reserved: 2, requested: 2, resetsAt: org.resetsAt });
    expect((await ledger.standing(user)).reservedNanos).toBe(2 * USD);
    // Tokens are checked too.
    expect(await rejectionOf(ledger.reserve([org], { nanos: 0, tokens: 601 }))).toMatchObject({ limit: 'tokens', max: 1_000, reserved: 400 });

    const settled = await ledger.settle(reservation, { nanos: 1_500_000_000, tokens: 350 });
    expect(settled.map((s) => [s.spentNanos, s.usedTokens, s.requests, s.reservedNanos, s.reservedRequests])).toEqual([
      [1_500_000_000, 350, 1, 0, 0],
      [1_500_000_000, 350, 1, 0, 0],
    ]);
    // Idempotent: settling or releasing again changes nothing.
    expect(await ledger.settle(reservation, { nanos: USD, tokens: 1 })).toEqual([]);
    await ledger.release(reservation);
    expect(await ledger.standing(org)).toMatchObject({ spentNanos: 1_500_000_000, usedTokens: 350, requests: 1, reservedNanos: 0, limits: { nanos: 3 * USD, tokens: 1_000 } });
  });

  it('release frees the hold without charging, once', async () => {
    const ledger = newLedger();
    const line = dailyLine('p', uid(), { nanos: USD });
    const { reservation } = await ledger.reserve([line], { nanos: USD, tokens: 5 });
    await expect(ledger.reserve([line], { nanos: 1, tokens: 0 })).rejects.toBeInstanceOf(PolicyExhaustedError);
    await ledger.release(reservation);
    await ledger.release(reservation);
    expect(await ledger.settle(reservation, { nanos: 5, tokens: 5 })).toEqual([]);
    expect(await ledger.standing(line)).toMatchObject({ spentNanos: 0, reservedNanos: 0, reservedTokens: 0, requests: 0, reservedRequests: 0 });
    expect((await ledger.reserve([line], { nanos: USD, tokens: 0 })).standings[0]!.reservedNanos).toBe(USD);
  });

  it('rate lines count requests (held ones too) and refuse with RateLimitedError and a truthful retryAfterMs', async () => {
    // 15 s into a minute near the real time (keys expire by Redis's clock, after the window and a grace).
    let now = Math.floor(Date.now() / 60_000) * 60_000 + 15_000;
    const ledger = newLedger({ now: () => now });
    const key = uid();
    const rate = (): ReturnType<typeof rateLine> => rateLine('key-rate', key, { requests: 3, tokens: 10_000 }, now);
    const held = [];
    for (let i = 0; i < 3; i++) held.push((await ledger.reserve([rate()], { nanos: 0, tokens: 10 })).reservation);
    const err = await rejectionOf(ledger.reserve([rate()], { nanos: 0, tokens: 10 }));
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err).toMatchObject({ limit: 'requests', max: 3, used: 0, reserved: 3, requested: 1, retryAfterMs: 45_000 });
    await ledger.settle(held[0]!, { nanos: 0, tokens: 9 });
    await ledger.release(held[1]!);
    // One settled request counts, one released does not.
    expect((await ledger.reserve([rate()], { nanos: 0, tokens: 10 })).standings[0]).toMatchObject({ requests: 1, reservedRequests: 2, usedTokens: 9 });
    // The next minute is a new line.
    now += 60_000;
    expect((await ledger.reserve([rate()], { nanos: 0, tokens: 10 })).standings[0]).toMatchObject({ requests: 0, reservedRequests: 1 });
    // Minute keys expire after their window (plus the grace of a hold's TTL).
    const ttl = await admin.pttl(policyLinesKey(PREFIX, rate()));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(rate().resetsAt! + 660_000 - Date.now() + 50);
  });

  it('an unpriced line counts no nanos; lifetime lines never expire', async () => {
    const ledger = newLedger();
    const unpriced = dailyLine('cap', uid(), { nanos: 10, tokens: 1_000 }, Date.now(), { priced: false });
    const life = lifetimeLine('agent-cap', uid(), { tokens: 100 });
    const { reservation, standings } = await ledger.reserve([unpriced, life], { nanos: 1_000, tokens: 60 });
    expect(standings[0]).toMatchObject({ reservedNanos: 0, reservedTokens: 60 });
    await ledger.settle(reservation, { nanos: 1_000, tokens: 60 });
    expect(await ledger.standing(unpriced)).toMatchObject({ spentNanos: 0, usedTokens: 60 });
    expect(await ledger.standing(life)).toMatchObject({ usedTokens: 60, resetsAt: null, windowStart: 0 });
    expect(await admin.pttl(policyLinesKey(PREFIX, life))).toBe(-1);
    expect(await admin.pttl(policyLinesKey(PREFIX, unpriced))).toBeGreaterThan(0);
    expect(await rejectionOf(ledger.reserve([life], { nanos: 0, tokens: 41 }))).toMatchObject({ limit: 'tokens', used: 60, max: 100, resetsAt: null });
  });

  it('overrides replace the budget limits of one entity; set, list, delete', async () => {
    const ledger = newLedger();
    const entity = uid();
    const line = dailyLine('ov-policy', entity, { nanos: USD, tokens: 100 });
    await ledger.setOverride({ policy: 'ov-policy', entity, maxNanos: 3 * USD });
    expect((await ledger.overrides()).filter((o) => o.entity === entity)).toEqual([{ policy: 'ov-policy', entity, maxNanos: 3 * USD }]);
    const { standings } = await ledger.reserve([line], { nanos: 2 * USD, tokens: 100 });
    expect(standings[0]!.limits).toEqual({ nanos: 3 * USD, tokens: 100 });
    await expect(ledger.reserve([line], { nanos: 0, tokens: 1 })).rejects.toMatchObject({ limit: 'tokens' });
    await ledger.setOverride({ policy: 'ov-policy', entity, maxTokens: 500 });
    expect((await ledger.standing(line)).limits).toEqual({ nanos: USD, tokens: 500 });
    expect(await ledger.deleteOverride('ov-policy', entity)).toBe(true);
    expect(await ledger.deleteOverride('ov-policy', entity)).toBe(false);
    expect((await ledger.standing(line)).limits).toEqual({ nanos: USD, tokens: 100 });
    await expect(ledger.setOverride({ policy: 'p', entity, maxNanos: -1 })).rejects.toBeInstanceOf(ValidationError);
  });

  it('each threshold fires once per line and window across instances, on the instance that crossed it; exhausted once', async () => {
    const a = newLedger();
    const b = newLedger();
    const seen: [string, PolicyAlert][] = [];
    a.onAlert((alert) => seen.push(['a', alert]));
    b.onAlert((alert) => seen.push(['b', alert]));
    const line = dailyLine('alerts', uid(), { nanos: 100 });
    const spend = async (ledger: RedisPolicyLedger, nanos: number): Promise<void> => {
      await ledger.settle((await ledger.reserve([line], { nanos, tokens: 0 })).reservation, { nanos, tokens: 0 });
    };
    await spend(a, 80); // 80 %: 75
    await spend(b, 5); // 85 %: nothing new
    await spend(b, 11); // 96 %: 90 and 95
    await spend(a, 1);
    expect(seen.map(([who, x]) => [who, x.type, x.percent, x.standing.spentNanos])).toEqual([
      ['a', 'threshold', 75, 80],
      ['b', 'threshold', 90, 96],
      ['b', 'threshold', 95, 96],
    ]);
    seen.length = 0;
    await expect(b.reserve([line], { nanos: 50, tokens: 0 })).rejects.toBeInstanceOf(PolicyExhaustedError);
    await expect(a.reserve([line], { nanos: 50, tokens: 0 })).rejects.toBeInstanceOf(PolicyExhaustedError);
    expect(seen.map(([who, x]) => [who, x.type, x.standing.entity, x.standing.spentNanos])).toEqual([['b', 'exhausted', line.entity, 97]]);
  });

  it('top lists a window\'s budget lines by spend, with their limits and overrides', async () => {
    const ledger = newLedger();
    const policy = `top-${randomUUID().slice(0, 6)}`;
    const spends = [5, 50, 20];
    const lines = spends.map((_, i) => dailyLine(policy, `u${i}`, { nanos: 100 }));
    for (let i = 0; i < lines.length; i++) {
      await ledger.settle((await ledger.reserve([lines[i]!], { nanos: 1, tokens: 1 })).reservation, { nanos: spends[i]!, tokens: 1 });
    }
    await ledger.setOverride({ policy, entity: 'u2', maxNanos: 1_000 });
    const top = await ledger.top(policy, lines[0]!.windowStart, 2);
    expect(top.map((s) => [s.entity, s.spentNanos, s.limits.nanos, s.scope, s.resetsAt])).toEqual([
      ['u1', 50, 100, 'user', lines[0]!.resetsAt],
      ['u2', 20, 1_000, 'user', lines[0]!.resetsAt],
    ]);
    expect(await ledger.top(policy, 0, 5)).toEqual([]);
    expect(await admin.pttl(policyTopKey(PREFIX, policy, lines[0]!.windowStart))).toBeGreaterThan(0);
  });

  it('many calls of one tick are batched, each still all-or-nothing', async () => {
    const ledger = newLedger({ maxBatch: 7 });
    const org = dailyLine('org', uid(), { nanos: 1_000 }, Date.now(), { scope: 'org' });
    const users = Array.from({ length: 10 }, () => dailyLine('user', uid(), { nanos: 150 }));
    const outcomes = await Promise.allSettled(users.flatMap((u) => [1, 2].map(() => ledger.reserve([u, org], { nanos: 70, tokens: 1 }))));
    const held = outcomes.filter((o) => o.status === 'fulfilled');
    expect(held).toHaveLength(14); // 14 * 70 = 980 <= 1 000: the org refuses the rest
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ policy: 'org' });
    expect((await ledger.standing(org)).reservedNanos).toBe(980);
  });
});
