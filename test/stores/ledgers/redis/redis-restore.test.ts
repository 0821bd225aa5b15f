/**
 * The Redis ledger's `restore`: a thread missing from Redis (its keys idled out, or Redis lost its data)
 * comes back with its recorded spend on its next call, once per thread, without overspending meanwhile.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { BudgetExhaustedError, LedgerUnavailableError, ThreadLimitError } from '../../../../src/core/errors.js';
import type { RestoredSpend } from '../../../../src/budget/types.js';
import { RedisBudgetLedger, type RedisBudgetLedgerOptions } from '../../../../src/stores/ledgers/redis/index.js';
import { describeRedis, REDIS_URL } from '../../../support/services.js';
import { rejectionOf, runBudgetLedgerContract } from '../../../budget/ledger-contract.js';
import { auditRedisThread, deleteKeys } from './redis-audit.js';

const PREFIX = `tw-test-restore:${process.pid}:${randomUUID().slice(0, 8)}:`;

describeRedis('RedisBudgetLedger with restore', () => {
  let admin: Redis;
  const ledgers: RedisBudgetLedger[] = [];
  const record: Record<string, RestoredSpend> = {};
  const calls: string[] = [];
  const restore = async (id: string): Promise<RestoredSpend | undefined> => {
    calls.push(id);
    await new Promise((resolve) => setTimeout(resolve, 20)); // a store query takes a while
    return record[id];
  };
  const newLedger = (options: RedisBudgetLedgerOptions = {}): RedisBudgetLedger => {
    const ledger = new RedisBudgetLedger({ url: REDIS_URL, keyPrefix: PREFIX, onError: () => undefined, restore, ...options });
    ledgers.push(ledger);
    return ledger;
  };
  const forget = async (id: string): Promise<void> => {
    await admin.del(`${PREFIX}{${id}}:b`); // what an idle expiry or a Redis restart does
  };
  beforeAll(() => {
    admin = new Redis(REDIS_URL!);
  });
  afterEach(async () => {
    calls.length = 0;
    await Promise.all(ledgers.splice(0).map((l) => l.close()));
  });
  afterAll(async () => {
    await deleteKeys(admin, PREFIX);
    await admin.quit();
  });

  // Nothing recorded for the contract's fresh threads: the contract holds with restore on.
  runBudgetLedgerContract('RedisBudgetLedger with restore', async (options) => newLedger(options));

  it('a thread missing from Redis comes back with its spend; concurrent first calls share one restore and cannot overspend', async () => {
    const id = `gone-${randomUUID()}`;
    const a = newLedger({ maxTokensPerThread: 1_000 });
    const b = newLedger({ maxTokensPerThread: 1_000 });
    await a.settle(await a.reserve(id, 900), { promptTokens: 800, completionTokens: 100 });
    record[id] = { promptTokens: 800, completionTokens: 100, requestCount: 1 };
    await forget(id);
    calls.length = 0;
    // Read without recreating it.
    expect(await a.usage(id)).toMatchObject({ totalTokens: 900, remaining: 100, reservedTokens: 0 });
    expect(await admin.exists(`${PREFIX}{${id}}:b`)).toBe(0);
    calls.length = 0;
    // 30 concurrent first calls on two instances: 100 tokens left, so exactly 10 of 10 fit.
    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).reserve(id, 10)));
    const held = outcomes.filter((o) => o.status === 'fulfilled');
    expect(held).toHaveLength(10);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(BudgetExhaustedError);
    expect(calls.length).toBeLessThanOrEqual(2); // one per instance at most
    expect(await a.usage(id)).toMatchObject({ totalTokens: 900, requestCount: 1, reservedTokens: 100, remaining: 0 });
    expect((await auditRedisThread(admin, PREFIX, id)).problems).toEqual([]);
  });

  it('thresholds already reached do not fire again after a restore', async () => {
    const id = `fired-${randomUUID()}`;
    record[id] = { promptTokens: 800, completionTokens: 0, requestCount: 4 };
    const ledger = newLedger({ maxTokensPerThread: 1_000 });
    const result = await ledger.settle(await ledger.reserve(id, 100), { promptTokens: 100 });
    expect(result.crossed.map((e) => e.percent)).toEqual([90]);
    expect(result.usage).toMatchObject({ totalTokens: 900, requestCount: 5 });
  });

  it('setBudget and endThread of a missing thread see its recorded spend', async () => {
    const set = `set-${randomUUID()}`;
    const end = `end-${randomUUID()}`;
    record[set] = { promptTokens: 60, completionTokens: 40, requestCount: 2 };
    record[end] = { promptTokens: 5, completionTokens: 5, requestCount: 1 };
    const ledger = newLedger({ maxTokensPerThread: 1_000 });
    expect(await ledger.setBudget(set, 150)).toMatchObject({ totalTokens: 100, maxTokens: 150, remaining: 50 });
    expect(await ledger.endThread(end)).toMatchObject({ totalTokens: 10, requestCount: 1 });
    expect(await ledger.endThread(`never-${randomUUID()}`)).toBeUndefined();
  });

  it('a full group refuses the restored thread; a failing restore fails the call without the thread id', async () => {
    const org = `org-${randomUUID().slice(0, 8)}`;
    const grouped = newLedger({ groupOf: (id) => id.split('/')[0], maxThreadsPerGroup: 1 });
    await grouped.reserve(`${org}/a`, 1);
    record[`${org}/b`] = { promptTokens: 1, completionTokens: 0, requestCount: 1 };
    expect(await rejectionOf(grouped.reserve(`${org}/b`, 1))).toBeInstanceOf(ThreadLimitError);

    const failing = newLedger({
      restore: async () => {
        throw new Error('store is down');
      },
    });
    const err = (await rejectionOf(failing.reserve(`${org}/secret`, 1))) as Error;
    expect(err).toBeInstanceOf(LedgerUnavailableError);
    expect(err.message).toContain('store is down');
    expect(err.message).not.toContain(org);
  });
});
