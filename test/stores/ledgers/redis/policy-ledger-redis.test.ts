/**
 * RedisPolicyLedger across instances and Redis failures: two instances on two clients never overspend a
 * user or an org policy and charge exactly; a Redis restart (FLUSHDB) restores the spend; holds of a dead
 * instance lapse; a stalled Redis gives LedgerUnavailableError, not a hang.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { LedgerUnavailableError, PolicyExhaustedError } from '../../../../src/core/errors.js';
import type { PolicyAmount, PolicyLine } from '../../../../src/budget/policy-types.js';
import { RedisPolicyLedger, policyHoldsKey, policyLinesKey, type RedisPolicyLedgerOptions } from '../../../../src/stores/ledgers/redis/index.js';
import { describeRedis, REDIS_URL } from '../../../support/services.js';
import { rejectionOf, waitFor } from '../../../budget/ledger-contract.js';
import { deleteKeys } from './redis-audit.js';
import { dailyLine } from './policy-lines.js';
import { startThrowawayRedis, type ThrowawayRedis } from './throwaway-redis.js';

const PREFIX = `tw-test-policy2:${process.pid}:${randomUUID().slice(0, 8)}:`;
const USD = 1_000_000_000;

/** The holds left on a line (members of the ledger's holds set naming the line's key). */
async function holdFields(admin: Redis, line: PolicyLine): Promise<string[]> {
  const tail = `\0${policyLinesKey(PREFIX, line)}\0${line.entity}`;
  return (await admin.zrange(policyHoldsKey(PREFIX), 0, -1)).filter((m) => m.includes(tail));
}

describeRedis('RedisPolicyLedger across instances and Redis failures', () => {
  let admin: Redis;
  let server: ThrowawayRedis;
  const ledgers: RedisPolicyLedger[] = [];
  const clients: Redis[] = [];
  const newLedger = (options: RedisPolicyLedgerOptions = {}): RedisPolicyLedger => {
    const ledger = new RedisPolicyLedger({ ...(options.client ? {} : { url: REDIS_URL }), keyPrefix: PREFIX, onError: () => undefined, ...options });
    ledgers.push(ledger);
    return ledger;
  };
  const newClient = (url: string): Redis => {
    const client = new Redis(url, { commandTimeout: 1_000, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    admin = new Redis(REDIS_URL!);
    server = await startThrowawayRedis();
  });
  afterEach(async () => {
    server.resume();
    await Promise.all(ledgers.splice(0).map((l) => l.close()));
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await deleteKeys(admin, PREFIX);
    await admin.quit();
    await server?.stop();
  });

  it('1,000 concurrent calls on two instances never exceed a user or an org policy; spent == sum charged exactly; no hold left', async () => {
    const a = newLedger({ client: newClient(REDIS_URL!) });
    const b = newLedger({ client: newClient(REDIS_URL!) });
    const user = dailyLine('user-daily', `u-${randomUUID()}`, { nanos: 5 * USD });
    const org = dailyLine('org-daily', `o-${randomUUID()}`, { nanos: 4 * USD, tokens: 400_000 }, Date.now(), { scope: 'org' });
    let charged = 0;
    let chargedTokens = 0;
    let refused = 0;
    let settledCalls = 0;
    const call = async (i: number): Promise<void> => {
      const ledger = i % 2 === 0 ? a : b;
      const estimate: PolicyAmount = { nanos: 5_000_000 + (i % 7) * 1_000_000, tokens: 1_000 };
      let reserved;
      try {
        reserved = await ledger.reserve([user, org], estimate);
      } catch (err) {
        expect(err).toBeInstanceOf(PolicyExhaustedError);
        refused++;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, i % 5));
      if (i % 10 === 9) return ledger.release(reserved.reservation);
      const actual = { nanos: estimate.nanos - (i % 3) * 123_457, tokens: 900 + (i % 11) };
      const standings = await ledger.settle(reserved.reservation, actual);
      expect(standings).toHaveLength(2);
      charged += actual.nanos;
      chargedTokens += actual.tokens;
      settledCalls++;
    };
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => call(i)));
    expect(refused).toBeGreaterThan(0); // the limits were reached
    for (const line of [user, org]) {
      const s = await a.standing(line);
      expect(s).toMatchObject({ spentNanos: charged, usedTokens: chargedTokens, requests: settledCalls, reservedNanos: 0, reservedTokens: 0, reservedRequests: 0 });
      expect(s.spentNanos).toBeLessThanOrEqual(line.limits.nanos!);
      expect(await holdFields(admin, line)).toEqual([]);
    }
    // The org's 4 USD was reached by the holds (calls were refused) and most of it charged, never passed.
    expect(charged).toBeGreaterThan(2 * USD);
  });

  it('after a Redis restart (FLUSHDB) a line stands at its restored spend; concurrent first touches share one restore', async () => {
    const record = new Map<string, { nanos: number; tokens: number; requests: number }>();
    let restores = 0;
    const restore = async (line: PolicyLine) => {
      restores++;
      await new Promise((resolve) => setTimeout(resolve, 20)); // a store query takes a while
      return record.get(line.entity) ?? { nanos: 0, tokens: 0, requests: 0 };
    };
    const a = newLedger({ client: newClient(server.url), restore });
    const b = newLedger({ client: newClient(server.url), restore });
    const line = dailyLine('user-daily', 'u-restart', { nanos: 10 * USD });
    const { reservation } = await a.reserve([line], { nanos: 4 * USD, tokens: 100 });
    await a.settle(reservation, { nanos: 3 * USD, tokens: 90 });
    record.set('u-restart', { nanos: 3 * USD, tokens: 90, requests: 1 }); // what the usage store recorded
    const before = await a.standing(line);

    await newClient(server.url).flushdb(); // what a Redis restart without persistence does
    restores = 0;
    const after = await Promise.all([a.standing(line), a.standing(line), a.reserve([line], { nanos: 1, tokens: 1 }), b.standing(line)]);
    expect(restores).toBe(2); // one per instance
    expect(after[0]).toMatchObject({ spentNanos: before.spentNanos, usedTokens: before.usedTokens, requests: before.requests });
    // The restored spend counts: only 7 USD are left.
    expect(await rejectionOf(b.reserve([line], { nanos: 7 * USD, tokens: 0 }))).toMatchObject({ used: 3, reserved: 1e-9, max: 10 });
    expect(restores).toBe(2);
  });

  it('reading entities not in Redis shows their restored spend and writes nothing (reads never grow Redis)', async () => {
    const client = newClient(server.url);
    const ledger = newLedger({ client, restore: async () => ({ nanos: 7, tokens: 3, requests: 1 }) });
    const policy = `readers-${randomUUID().slice(0, 8)}`;
    const lines = Array.from({ length: 50 }, () => dailyLine(policy, `reader-${randomUUID()}`, { nanos: USD }));
    for (const line of lines) expect(await ledger.standing(line)).toMatchObject({ spentNanos: 7, usedTokens: 3, requests: 1, reservedNanos: 0 });
    expect(await client.exists(policyLinesKey(PREFIX, lines[0]!))).toBe(0);
  });

  it('holds of an instance that died lapse after the TTL (injected clock)', async () => {
    let now = Date.now();
    const clock = () => now;
    const dead = newLedger({ now: clock, reservationTtlMs: 60_000 });
    const line = dailyLine('user-daily', `u-${randomUUID()}`, { nanos: USD }, now);
    await dead.reserve([line], { nanos: 600_000_000, tokens: 10 });
    await dead.reserve([line], { nanos: 400_000_000, tokens: 10 });
    await dead.close(); // never settled
    const alive = newLedger({ now: clock, reservationTtlMs: 60_000 });
    expect(await rejectionOf(alive.reserve([line], { nanos: 1, tokens: 0 }))).toBeInstanceOf(PolicyExhaustedError);
    now += 59_999;
    expect((await alive.standing(line)).reservedNanos).toBe(USD);
    now += 1;
    expect(await alive.standing(line)).toMatchObject({ reservedNanos: 0, reservedTokens: 0, reservedRequests: 0, spentNanos: 0 });
    expect((await alive.reserve([line], { nanos: USD, tokens: 0 })).standings[0]!.reservedNanos).toBe(USD);
    expect(await holdFields(admin, line)).toHaveLength(1);
  });

  it('a stalled Redis gives LedgerUnavailableError within the command timeout, and holds taken meanwhile are released', async () => {
    const ledger = newLedger({ url: server.url, commandTimeoutMs: 300 });
    const line = dailyLine('user-daily', `u-${randomUUID()}`, { nanos: USD });
    await ledger.settle((await ledger.reserve([line], { nanos: 10, tokens: 1 })).reservation, { nanos: 10, tokens: 1 });
    server.pause();
    const started = Date.now();
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => ledger.reserve([line], { nanos: 100, tokens: 1 })));
    expect(Date.now() - started).toBeLessThan(2_000);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(LedgerUnavailableError);
    }
    expect(await rejectionOf(ledger.standing(line))).toBeInstanceOf(LedgerUnavailableError);
    server.resume();
    // Redis runs the reserves it received, then their releases: nothing stays held.
    await waitFor(async () => (await ledger.standing(line)).reservedNanos === 0, 15_000, 'no nanos held after the stall');
    expect(await ledger.standing(line)).toMatchObject({ spentNanos: 10, requests: 1, reservedRequests: 0 });
  });

  it('fail-open lets calls through unmetered while Redis is down, and says so in readiness', async () => {
    const errors: string[] = [];
    const ledger = newLedger({ url: server.url, commandTimeoutMs: 300, failOpen: true, onError: (_, operation) => errors.push(operation) });
    const line = dailyLine('user-daily', `u-${randomUUID()}`, { nanos: 10 });
    await waitFor(async () => (await ledger.readiness()).reason === undefined, 5_000, 'the ledger to connect');
    expect(await ledger.readiness()).toEqual({ ready: true });
    await server.kill();
    try {
      const { reservation, standings } = await ledger.reserve([line], { nanos: 1_000, tokens: 1 });
      expect(reservation.id.startsWith('failopen:')).toBe(true);
      expect(standings[0]).toMatchObject({ reservedNanos: 0, limits: { nanos: 10 } });
      expect(await ledger.settle(reservation, { nanos: 5, tokens: 1 })).toEqual([]);
      await ledger.release(reservation);
      expect(errors).toContain('reserve');
      expect(await ledger.readiness()).toMatchObject({ ready: true, reason: expect.stringContaining('fail-open') });
      expect(await rejectionOf(ledger.standing(line))).toBeInstanceOf(LedgerUnavailableError);
    } finally {
      await server.start();
    }
    await waitFor(async () => (await ledger.readiness()).reason === undefined, 10_000, 'the ledger to reconnect');
    expect((await ledger.reserve([line], { nanos: 10, tokens: 1 })).standings[0]!.reservedNanos).toBe(10);
  });
});
