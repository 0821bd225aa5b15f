/**
 * Finding 7 of issue 11: reserve scripts that time out on the client still run when Redis resumes. With
 * a private redis-server paused by SIGSTOP for longer than the command timeout, the holds of the reserves
 * that timed out must not outlive the stall (before the fix they held the budget for the hold TTL, 10 min).
 * Also the ledger's readiness() and the tombstone that stops a reserve whose cancel ran first.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { BudgetExhaustedError, LedgerUnavailableError } from '../../../../src/core/errors.js';
import { RedisBudgetLedger, type RedisBudgetLedgerOptions } from '../../../../src/stores/ledgers/redis/index.js';
import { OP_CANCEL, OP_RESERVE } from '../../../../src/stores/ledgers/redis/batch-script.js';
import { holdId } from '../../../../src/stores/ledgers/redis/ledger-state.js';
import { buildLedgerScripts } from '../../../../src/stores/ledgers/redis/scripts.js';
import { describeRedis } from '../../../support/services.js';
import { rejectionOf, waitFor } from '../../../budget/ledger-contract.js';
import { auditRedisThread } from './redis-audit.js';
import { startTcpProxy } from '../../../support/tcp-proxy.js';
import { startThrowawayRedis, type ThrowawayRedis } from './throwaway-redis.js';

const PREFIX = 'tw-stall:';

describeRedis('RedisBudgetLedger after a Redis stall (SIGSTOP)', () => {
  let server: ThrowawayRedis;
  let admin: Redis;
  const ledgers: RedisBudgetLedger[] = [];
  const newLedger = (options: RedisBudgetLedgerOptions = {}): RedisBudgetLedger => {
    const ledger = new RedisBudgetLedger({ url: server.url, keyPrefix: PREFIX, onError: () => undefined, ...options });
    ledgers.push(ledger);
    return ledger;
  };

  beforeAll(async () => {
    server = await startThrowawayRedis();
    admin = new Redis(server.url);
    admin.on('error', () => undefined); // the readiness test kills the server
  });
  afterEach(async () => {
    server.resume();
    await Promise.all(ledgers.splice(0).map((l) => l.close()));
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  it('reserves that timed out during a stall leave no tokens held once Redis resumes', async () => {
    const ledger = newLedger({ commandTimeoutMs: 300, maxTokensPerThread: 100_000 });
    const id = `stall-${randomUUID()}`;
    await ledger.settle(await ledger.reserve(id, 100), { promptTokens: 50 });

    server.pause();
    // Two ticks of calls, so that both a batch and calls queued behind it time out.
    const first = Array.from({ length: 8 }, () => ledger.reserve(id, 300));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = Array.from({ length: 3 }, () => ledger.reserve(id, 9));
    for (const outcome of await Promise.allSettled([...first, ...second])) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(LedgerUnavailableError);
      // The message reaches gateway clients: no thread id in it (it may be an internal org/thread id).
      expect(((outcome as PromiseRejectedResult).reason as Error).message).not.toContain(id);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // stalled for well over the command timeout
    server.resume();

    // Redis now runs the 11 reserves it received, then their cancels: nothing stays held.
    await waitFor(async () => (await ledger.usage(id))!.reservedTokens === 0, 15_000, 'no tokens held after the stall');
    await waitFor(async () => ledger.pendingCancels === 0, 15_000, 'the cancels to get through');
    expect(await ledger.usage(id)).toMatchObject({ totalTokens: 50, reservedTokens: 0, remaining: 99_950, requestCount: 1 });
    const audit = await auditRedisThread(admin, PREFIX, id);
    expect(audit.problems).toEqual([]);
    expect(audit).toMatchObject({ heldCounter: 0, holdCounter: 0, liveHolds: 0 });
    // The budget is whole again: the full remainder can be reserved.
    expect((await ledger.reserve(id, 99_950)).tokens).toBe(99_950);
    expect(await rejectionOf(ledger.reserve(id, 1))).toBeInstanceOf(BudgetExhaustedError);
  });

  it('releases lost with a broken connection leave no tokens held once Redis is reachable again', async () => {
    const proxy = await startTcpProxy(Number(new URL(server.url).port));
    try {
      const ledger = newLedger({ url: `redis://127.0.0.1:${proxy.port}`, commandTimeoutMs: 300, maxTokensPerThread: 100_000 });
      const id = `release-${randomUUID()}`;
      const holds = await Promise.all(Array.from({ length: 5 }, () => ledger.reserve(id, 1_000)));
      // The calls failed (say, the provider errored) while the link to Redis is down: the releases never arrive.
      proxy.cut();
      for (const outcome of await Promise.allSettled(holds.map((h) => ledger.release(h)))) {
        expect(outcome.status).toBe('rejected');
      }
      proxy.restore();
      await waitFor(async () => (await ledger.usage(id).catch(() => undefined))?.reservedTokens === 0, 15_000, 'no tokens held once Redis is back');
      await waitFor(async () => ledger.pendingCancels === 0, 15_000, 'the cancels to get through');
      expect(await ledger.usage(id)).toMatchObject({ totalTokens: 0, reservedTokens: 0, remaining: 100_000 });
    } finally {
      await proxy.close();
    }
  });

  it('a cancel that reaches Redis before its reserve leaves a tombstone, and the reserve then holds nothing', async () => {
    const scripts = buildLedgerScripts({ defaultMax: 1_000, holdTtlMs: 60_000, threadTtlMs: 120_000, slackMs: 1_000, thresholds: [75] });
    const run = (key: string, args: (string | number)[]): Promise<unknown> => admin.eval(scripts.ops, 1, key, Date.now(), ...args);
    const thread = `tomb-${randomUUID()}`;
    const key = `${PREFIX}{${thread}}:b`;
    const id = holdId(randomUUID(), 400);

    expect(await run(key, [OP_CANCEL, id])).toEqual([1, 0]); // nothing to release: tombstoned
    const tombstoneOnly = await auditRedisThread(admin, PREFIX, thread);
    expect(tombstoneOnly).toMatchObject({ exists: false, tombstones: 1, problems: [] });
    expect(tombstoneOnly.hashTtlMs).toBeGreaterThan(0);
    expect(tombstoneOnly.hashTtlMs).toBeLessThanOrEqual(60_000);

    expect(await run(key, [OP_RESERVE, id])).toEqual([2, 0, 0]); // the late reserve: refused, holds nothing
    expect(await auditRedisThread(admin, PREFIX, thread)).toMatchObject({ exists: false, heldCounter: 0, problems: [] });
    // Other reservations of the thread are unaffected, and a resent reserve is not counted twice.
    const other = holdId(randomUUID(), 100);
    expect(await run(key, [OP_RESERVE, other])).toEqual([1, expect.any(Number)]);
    expect(await run(key, [OP_RESERVE, other])).toEqual([1, expect.any(Number)]);
    const audit = await auditRedisThread(admin, PREFIX, thread);
    expect(audit).toMatchObject({ exists: true, heldCounter: 100, holdCounter: 1, tombstones: 1, problems: [] });
    // A cancel of a live hold releases it like a release would.
    expect(await run(key, [OP_CANCEL, other])).toEqual([1, 1]);
    expect(await auditRedisThread(admin, PREFIX, thread)).toMatchObject({ heldCounter: 0, holdCounter: 0, problems: [] });
  });

  it('readiness(): ready while Redis answers, not ready while it is stalled or gone, ready with a reason when failing open', async () => {
    const ledger = newLedger({ commandTimeoutMs: 300 });
    const open = newLedger({ commandTimeoutMs: 300, failOpen: true });
    await ledger.usage('probe');
    await open.usage('probe');
    expect(await ledger.readiness()).toEqual({ ready: true });

    server.pause();
    const stalled = await ledger.readiness();
    expect(stalled.ready).toBe(false);
    expect(stalled.reason).toContain('did not answer PING');
    const openStalled = await open.readiness();
    expect(openStalled.ready).toBe(true);
    expect(openStalled.reason).toContain('unmetered');
    server.resume();
    await waitFor(async () => (await ledger.readiness()).ready, 5_000, 'readiness after the stall');

    await server.kill();
    await waitFor(async () => !(await ledger.readiness()).ready, 5_000, 'not ready once Redis is gone');
    expect((await ledger.readiness()).reason).toMatch(/unreachable|PING/);
    await server.start();
    await waitFor(async () => (await ledger.readiness()).ready, 10_000, 'ready once Redis is back');
    await ledger.close();
    expect(await ledger.readiness()).toEqual({ ready: false, reason: 'the Redis budget ledger is closed' });
  });
});
