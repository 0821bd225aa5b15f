/**
 * The Redis ledger's threads per group (issue 11, finding 2 for shared ledgers): one group (org) at its
 * cap cannot open threads, across instances, while other groups go on; ended and idle threads free
 * their slot.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ThreadLimitError, ValidationError } from '../../../../src/core/errors.js';
import { RedisBudgetLedger, type RedisBudgetLedgerOptions } from '../../../../src/stores/ledgers/redis/index.js';
import { describeRedis, REDIS_URL } from '../../../support/services.js';
import { rejectionOf, runBudgetLedgerContract, waitFor } from '../../../budget/ledger-contract.js';
import { auditRedisThread, deleteKeys } from './redis-audit.js';

const PREFIX = `tw-test-groups:${process.pid}:${randomUUID().slice(0, 8)}:`;
const orgOf = (id: string): string | undefined => (id.includes('/') ? id.slice(0, id.indexOf('/')) : undefined);

describeRedis('RedisBudgetLedger: threads per group', () => {
  let admin: Redis;
  const ledgers: RedisBudgetLedger[] = [];
  const newLedger = (options: RedisBudgetLedgerOptions = {}): RedisBudgetLedger => {
    const ledger = new RedisBudgetLedger({ url: REDIS_URL, keyPrefix: PREFIX, onError: () => undefined, groupOf: orgOf, maxThreadsPerGroup: 3, ...options });
    ledgers.push(ledger);
    return ledger;
  };
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

  // Groups change nothing else: the whole contract holds with them on (every contract thread has no group
  // or its own).
  runBudgetLedgerContract('RedisBudgetLedger with groups', async (options) => newLedger({ ...options, maxThreadsPerGroup: 1_000 }));

  it('a group at its cap is refused before any restore: new thread ids from a full tenant cost no store query', async () => {
    const org = `org-${randomUUID().slice(0, 8)}`;
    const asked: string[] = [];
    const ledger = newLedger({
      restore: async (threadId) => {
        asked.push(threadId);
        return undefined;
      },
    });
    for (const t of ['t1', 't2', 't3']) await ledger.reserve(`${org}/${t}`, 1);
    expect(asked).toEqual([`${org}/t1`, `${org}/t2`, `${org}/t3`]);
    for (let i = 0; i < 5; i++) {
      expect(await rejectionOf(ledger.reserve(`${org}/new-${i}`, 1))).toBeInstanceOf(ThreadLimitError);
    }
    expect(asked).toHaveLength(3); // no restore for the refused ones
    expect((await ledger.reserve(`${org}/t2`, 1)).tokens).toBe(1); // open threads go on
  });

  it('a group at its cap is refused across instances; other groups, ungrouped threads and open threads go on', async () => {
    const org = `org-${randomUUID().slice(0, 8)}`;
    const a = newLedger();
    const b = newLedger();
    await a.reserve(`${org}/t1`, 1);
    await b.reserve(`${org}/t2`, 1);
    // Concurrent creations in one batch: exactly one more fits.
    const outcomes = await Promise.allSettled([a.reserve(`${org}/t3`, 1), a.reserve(`${org}/t4`, 1), b.reserve(`${org}/t5`, 1)]);
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(refused).toHaveLength(2);
    for (const r of refused) {
      expect(r.reason).toBeInstanceOf(ThreadLimitError);
      expect(r.reason).toMatchObject({ code: 'TOO_MANY_THREADS', scope: 'group', group: org, limit: 3 });
    }
    expect((await a.reserve(`${org}/t1`, 5)).tokens).toBe(5); // open threads go on
    const other = `other-${randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 3; i++) await b.reserve(`${other}/t${i}`, 1);
    await a.reserve(`ungrouped-${randomUUID()}`, 1);
    expect(await admin.zcard(`${PREFIX}{${org}}:g`)).toBe(3);
    expect((await auditRedisThread(admin, PREFIX, `${org}/t1`)).problems).toEqual([]);
    // A refused creation left nothing behind.
    const created = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [] : [[`${org}/t3`, `${org}/t4`, `${org}/t5`][i]!]));
    for (const id of created) expect(await a.usage(id)).toBeUndefined();
  });

  it('ending a thread frees its slot; so does a thread whose keys idled out', async () => {
    const org = `org-${randomUUID().slice(0, 8)}`;
    const ledger = newLedger({ maxThreadsPerGroup: 2, threadTtlMs: 1_000, reservationTtlMs: 500 });
    await ledger.settle(await ledger.reserve(`${org}/a`, 10), { promptTokens: 10 });
    await ledger.reserve(`${org}/b`, 1);
    expect(await rejectionOf(ledger.reserve(`${org}/c`, 1))).toBeInstanceOf(ThreadLimitError);
    await ledger.endThread(`${org}/a`);
    await ledger.reserve(`${org}/c`, 1);
    expect(await rejectionOf(ledger.reserve(`${org}/d`, 1))).toBeInstanceOf(ThreadLimitError);
    // Idle for longer than the keys' expiry: both leave the group.
    await waitFor(async () => (await admin.exists(`${PREFIX}{${org}/b}:b`, `${PREFIX}{${org}/c}:b`)) === 0, 5_000, 'the keys to idle out');
    await ledger.reserve(`${org}/d`, 1);
    await ledger.reserve(`${org}/e`, 1);
    expect(await admin.zcard(`${PREFIX}{${org}}:g`)).toBe(2);
  });

  it('a thread unused for groupWindowMs frees its slot but keeps its spend, and counts again when used', async () => {
    const org = `org-${randomUUID().slice(0, 8)}`;
    let now = Date.now();
    const ledger = newLedger({ maxThreadsPerGroup: 2, groupWindowMs: 60_000, now: () => now });
    await ledger.settle(await ledger.reserve(`${org}/a`, 10), { promptTokens: 7 });
    await ledger.reserve(`${org}/b`, 1);
    expect(await rejectionOf(ledger.reserve(`${org}/c`, 1))).toBeInstanceOf(ThreadLimitError);
    now += 61_000; // a and b unused for longer than the window (their keys live on: threadTtlMs is 7 days)
    await ledger.reserve(`${org}/c`, 1);
    await ledger.reserve(`${org}/d`, 1);
    expect(await ledger.usage(`${org}/a`)).toMatchObject({ totalTokens: 7 });
    expect(await rejectionOf(ledger.reserve(`${org}/e`, 1))).toBeInstanceOf(ThreadLimitError);
    expect(() => newLedger({ groupWindowMs: 1_000 })).toThrow(/groupWindowMs: must be from 60000/);
  });

  it('setBudget (an operator) is not refused for a full group but counts the thread', async () => {
    const org = `org-${randomUUID().slice(0, 8)}`;
    const ledger = newLedger({ maxThreadsPerGroup: 1 });
    await ledger.reserve(`${org}/a`, 1);
    expect((await ledger.setBudget(`${org}/vip`, 500)).maxTokens).toBe(500);
    expect(await admin.zcard(`${PREFIX}{${org}}:g`)).toBe(2);
    expect((await ledger.reserve(`${org}/vip`, 5)).tokens).toBe(5);
  });

  it('validates the group options', () => {
    expect(() => new RedisBudgetLedger({ url: REDIS_URL, maxThreadsPerGroup: 5 })).toThrow(ValidationError);
    expect(() => new RedisBudgetLedger({ url: REDIS_URL, groupOf: orgOf, maxThreadsPerGroup: 0 })).toThrow(/maxThreadsPerGroup/);
  });
});
