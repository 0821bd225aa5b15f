import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { BudgetExhaustedError, LedgerUnavailableError, ValidationError } from '../../../../src/core/errors.js';
import type { Reservation } from '../../../../src/budget/types.js';
import {
  RedisBudgetLedger,
  isFailOpenReservation,
  redisLedgerKeys,
  type RedisBudgetLedgerOptions,
  type RedisLedgerOperation,
} from '../../../../src/stores/ledgers/redis/index.js';
import { describeRedis, REDIS_URL } from '../../../support/services.js';
import { rejectionOf, runBudgetLedgerContract, waitFor } from '../../../budget/ledger-contract.js';
import { auditRedisThread, deleteKeys } from './redis-audit.js';
import { decodeLedgerState } from '../../../../src/stores/ledgers/redis/ledger-state.js';
import { freePort, startThrowawayRedis, type ThrowawayRedis } from './throwaway-redis.js';

const PREFIX = `tw-test-ledger:${process.pid}:${randomUUID().slice(0, 8)}:`;

describeRedis('RedisBudgetLedger', () => {
  let admin: Redis;
  const ledgers: RedisBudgetLedger[] = [];
  const newLedger = (options: RedisBudgetLedgerOptions = {}): RedisBudgetLedger => {
    const ledger = new RedisBudgetLedger({
      ...(options.client ? {} : { url: REDIS_URL }),
      keyPrefix: PREFIX,
      onError: () => undefined,
      ...options,
    });
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

  runBudgetLedgerContract('RedisBudgetLedger', async (options) => newLedger(options));
  runBudgetLedgerContract('RedisBudgetLedger, unbatched', async (options) => newLedger({ ...options, maxBatch: 1 }));

  it('splits the calls of one tick into batches of at most maxBatch, each call still atomic', async () => {
    const ledger = newLedger({ maxTokensPerThread: 1_000, maxBatch: 3 });
    const id = `batch-${randomUUID()}`;
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => ledger.reserve(id, 70)));
    const held = outcomes.filter((o): o is PromiseFulfilledResult<Reservation> => o.status === 'fulfilled');
    expect(held).toHaveLength(14); // 14 * 70 = 980 <= 1 000 < 15 * 70
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(BudgetExhaustedError);
    expect(new Set(held.map((o) => o.value.id)).size).toBe(14);
    const settled = await Promise.all(held.map((o, i) => ledger.settle(o.value, { promptTokens: i })));
    expect(settled.every((r) => r.charged)).toBe(true);
    expect(await ledger.usage(id)).toMatchObject({ totalTokens: 91, requestCount: 14, reservedTokens: 0 });
    expect((await auditRedisThread(admin, PREFIX, id)).problems).toEqual([]);
  });

  it('shares one budget between instances: 1 000 concurrent calls split across two never overspend', async () => {
    const a = newLedger({ maxTokensPerThread: 20_000 });
    const b = newLedger({ maxTokensPerThread: 20_000 });
    const id = `shared-${randomUUID()}`;
    const events: Array<[string, number]> = [];
    a.onThreshold((e) => events.push(['a', e.percent]));
    b.onThreshold((e) => events.push(['b', e.percent]));
    let charged = 0;
    let settled = 0;
    await Promise.all(
      Array.from({ length: 1_000 }, async (_, i) => {
        const ledger = i % 2 === 0 ? a : b;
        let hold: Reservation;
        try {
          hold = await ledger.reserve(id, 50);
        } catch (err) {
          expect(err).toBeInstanceOf(BudgetExhaustedError);
          return;
        }
        // Settle through the other instance half the time: any instance can settle any reservation.
        const settler = i % 4 < 2 ? ledger : ledger === a ? b : a;
        const result = await settler.settle(hold, { promptTokens: 30, completionTokens: 20 });
        expect(result.charged).toBe(true);
        charged += 50;
        settled++;
      }),
    );
    const usage = (await a.usage(id))!;
    expect(usage.totalTokens).toBe(charged);
    expect(charged).toBeLessThanOrEqual(20_000);
    expect(usage.requestCount).toBe(settled);
    expect(usage.reservedTokens).toBe(0);
    expect(await b.usage(id)).toEqual(usage);
    const audit = await auditRedisThread(admin, PREFIX, id);
    expect(audit.problems).toEqual([]);
    expect(audit).toMatchObject({ chargedTokens: charged, holdCounter: 0, fired: [75, 90, 95] });
    // Each threshold fired exactly once across both instances.
    expect(events.map(([, p]) => p).sort((x, y) => x - y)).toEqual([75, 90, 95]);
  });

  it("a dead instance's holds expire within the TTL and the remaining budget is exact afterwards", async () => {
    const id = `dead-${randomUUID()}`;
    const survivor = newLedger({ maxTokensPerThread: 1_000, reservationTtlMs: 300 });
    const dying = new RedisBudgetLedger({ url: REDIS_URL, keyPrefix: PREFIX, maxTokensPerThread: 1_000, reservationTtlMs: 300 });
    await survivor.settle(await survivor.reserve(id, 100), { promptTokens: 100 });
    const orphan = await dying.reserve(id, 600);
    dying.client.disconnect(); // dies without settling or releasing
    await dying.close();
    expect(await survivor.usage(id)).toMatchObject({ reservedTokens: 600, remaining: 300 });
    expect(await rejectionOf(survivor.reserve(id, 400))).toBeInstanceOf(BudgetExhaustedError);
    await waitFor(async () => (await survivor.usage(id))!.reservedTokens === 0, 5_000, 'the orphaned hold to expire');
    expect(Date.now()).toBeGreaterThanOrEqual(orphan.expiresAt! - 50);
    expect(await survivor.usage(id)).toMatchObject({ totalTokens: 100, reservedTokens: 0, remaining: 900 });
    expect((await auditRedisThread(admin, PREFIX, id)).problems).toEqual([]);
    expect((await survivor.reserve(id, 900)).tokens).toBe(900);
  });

  it('hands out reservation ids that are unique across instances', async () => {
    const a = newLedger();
    const b = newLedger();
    const id = `ids-${randomUUID()}`;
    const holds = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).reserve(id, 1)));
    expect(new Set(holds.map((h) => h.id)).size).toBe(200);
    expect((await a.usage(id))!.reservedTokens).toBe(200);
  });

  it('keeps one hash per thread, holds as fields named by their id, with an idle expiry; endThread deletes it', async () => {
    const ledger = newLedger({ threadTtlMs: 60_000, reservationTtlMs: 30_000 });
    const id = `keys-${randomUUID()}`;
    const hold = await ledger.reserve(id, 123);
    const { hash } = redisLedgerKeys(PREFIX, id);
    expect(hash).toBe(`${PREFIX}{${id}}:b`);
    expect(hold.id).toMatch(/^[0-9a-f-]{36}:123$/);
    expect(Number(await admin.hget(hash, hold.id))).toBe(hold.expiresAt);
    expect(decodeLedgerState((await admin.hgetBuffer(hash, 's'))!)).toMatchObject({
      maxTokens: 100_000,
      heldTokens: 123,
      holdCount: 1,
      earliestHoldExpiry: hold.expiresAt,
    });
    let audit = await auditRedisThread(admin, PREFIX, id);
    expect(audit.problems).toEqual([]);
    expect(audit).toMatchObject({ exists: true, maxTokens: 100_000, heldCounter: 123, holdCounter: 1, liveHolds: 1 });
    expect(audit.hashTtlMs).toBeGreaterThan(50_000);
    expect(audit.hashTtlMs).toBeLessThanOrEqual(60_000);
    await ledger.settle(hold, { promptTokens: 100 });
    audit = await auditRedisThread(admin, PREFIX, id);
    expect(audit.problems).toEqual([]);
    expect(await admin.hexists(hash, hold.id)).toBe(0);
    expect(audit).toMatchObject({ heldCounter: 0, holdCounter: 0, chargedTokens: 100 });
    expect(audit.hashTtlMs).toBeGreaterThan(50_000);
    expect(await ledger.endThread(id)).toMatchObject({ totalTokens: 100, requestCount: 1 });
    expect(await admin.exists(hash)).toBe(0);
  });

  it('a settle or release naming a counter field instead of a hold touches nothing', async () => {
    const ledger = newLedger({ maxTokensPerThread: 1_000 });
    const id = `forged-${randomUUID()}`;
    const hold = await ledger.reserve(id, 100);
    await ledger.settle(hold, { promptTokens: 50 });
    for (const field of ['s', 'm', 'p']) {
      expect((await ledger.settle({ ...hold, id: field }, { promptTokens: 1 })).charged).toBe(false);
      await ledger.release({ ...hold, id: field });
    }
    const audit = await auditRedisThread(admin, PREFIX, id);
    expect(audit.problems).toEqual([]);
    expect(audit).toMatchObject({ maxTokens: 1_000, chargedTokens: 50, requestCount: 1, holdCounter: 0 });
  });

  it('applies the reserves, settles and releases of one batch in order, on one thread', async () => {
    const ledger = newLedger({ maxTokensPerThread: 1_000 });
    const id = `same-batch-${randomUUID()}`;
    const first = await ledger.reserve(id, 400);
    // One tick: settle first, settle it again, reserve twice more (the second refused), release first.
    const [a, b, c, d] = await Promise.allSettled([
      ledger.settle(first, { promptTokens: 300 }),
      ledger.settle(first, { promptTokens: 300 }),
      ledger.reserve(id, 600),
      ledger.reserve(id, 200),
      ledger.release(first),
    ]);
    expect(a).toMatchObject({ status: 'fulfilled', value: { charged: true } });
    expect(b).toMatchObject({ status: 'fulfilled', value: { charged: false } });
    expect(c).toMatchObject({ status: 'fulfilled' });
    expect(d).toMatchObject({ status: 'rejected' });
    expect((d as PromiseRejectedResult).reason).toBeInstanceOf(BudgetExhaustedError);
    expect((d as PromiseRejectedResult).reason).toMatchObject({ used: 300, reserved: 600, maxTokens: 1_000 });
    const held = (c as PromiseFulfilledResult<Reservation>).value;
    // The reserve comes first: it fits only because the release after it has not happened yet.
    const [e, f] = await Promise.all([ledger.reserve(id, 100), ledger.release(held)]);
    expect(e.tokens).toBe(100);
    expect(f).toBeUndefined();
    expect(await rejectionOf(ledger.reserve(id, 601))).toBeInstanceOf(BudgetExhaustedError);
    const audit = await auditRedisThread(admin, PREFIX, id);
    expect(audit.problems).toEqual([]);
    expect(audit).toMatchObject({ chargedTokens: 300, requestCount: 1, holdCounter: 1, heldCounter: 100 });
  });

  it('pushes the idle expiry forward lazily, once a tenth of it has elapsed', async () => {
    let clock = 5_000_000;
    const ledger = newLedger({ threadTtlMs: 60_000, reservationTtlMs: 1_000, now: () => clock });
    const id = `idle-${randomUUID()}`;
    const { hash } = redisLedgerKeys(PREFIX, id);
    await ledger.settle(await ledger.reserve(id, 1), { promptTokens: 1 });
    expect(decodeLedgerState((await admin.hgetBuffer(hash, 's'))!).expiresAt).toBe(5_060_000);
    clock += 5_000; // less than the 6 000 ms slack: no refresh
    await ledger.reserve(id, 1);
    expect(decodeLedgerState((await admin.hgetBuffer(hash, 's'))!).expiresAt).toBe(5_060_000);
    clock += 2_000;
    await ledger.reserve(id, 1);
    expect(decodeLedgerState((await admin.hgetBuffer(hash, 's'))!).expiresAt).toBe(5_067_000);
    const audit = await auditRedisThread(admin, PREFIX, id, clock);
    expect(audit.problems).toEqual([]);
    expect(audit.hashTtlMs).toBeGreaterThan(55_000);
  });

  it('keeps its counters consistent with the holds through a random mix of operations and expiries', async () => {
    let clock = 10_000_000;
    const ledger = newLedger({ maxTokensPerThread: 5_000, reservationTtlMs: 1_000, now: () => clock });
    const id = `mix-${randomUUID()}`;
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * n); // high bits: an LCG's low bits cycle
    };
    const open: Reservation[] = [];
    let charged = 0;
    let expiredSeen = 0;
    for (let step = 0; step < 400; step++) {
      const op = rand(10);
      if (op < 5 || open.length === 0) {
        try {
          open.push(await ledger.reserve(id, rand(200)));
        } catch (err) {
          expect(err).toBeInstanceOf(BudgetExhaustedError);
        }
      } else if (op < 8) {
        const hold = open.splice(rand(open.length), 1)[0]!;
        const prompt = rand(hold.tokens + 1);
        const result = await ledger.settle(hold, { promptTokens: prompt });
        expect(result.charged).toBe(hold.expiresAt! > clock);
        if (result.charged) charged += prompt;
        else expiredSeen++;
      } else if (op < 9) {
        await ledger.release(open.splice(rand(open.length), 1)[0]!);
      } else {
        clock += rand(400);
      }
      if (step % 50 === 49) {
        const audit = await auditRedisThread(admin, PREFIX, id, clock);
        expect(audit.problems).toEqual([]);
        expect(audit.chargedTokens).toBe(charged);
        const usage = (await ledger.usage(id))!;
        expect(usage.reservedTokens).toBe(audit.liveTokens);
        expect(usage.totalTokens).toBe(charged);
      }
    }
    expect(expiredSeen).toBeGreaterThan(0); // the mix did settle expired holds
  });

  it('purges expired holds once a thread has many, even when nothing is refused', async () => {
    let clock = 20_000_000;
    const ledger = newLedger({ maxTokensPerThread: 1_000_000, reservationTtlMs: 1_000, now: () => clock });
    const id = `many-${randomUUID()}`;
    for (let i = 0; i < 300; i++) await ledger.reserve(id, 0); // zero-token holds never fill the budget
    expect((await auditRedisThread(admin, PREFIX, id, clock)).holdCounter).toBe(300);
    clock += 1_001;
    await ledger.reserve(id, 1);
    const audit = await auditRedisThread(admin, PREFIX, id, clock);
    expect(audit.problems).toEqual([]);
    expect(audit).toMatchObject({ holdCounter: 1, liveHolds: 1, expiredHolds: 0, heldCounter: 1 });
  });

  it('does not resurrect a thread when a hold is released after the thread ended', async () => {
    const ledger = newLedger();
    const id = `late-${randomUUID()}`;
    const hold = await ledger.reserve(id, 10);
    await ledger.endThread(id);
    await ledger.release(hold);
    expect(await ledger.usage(id)).toBeUndefined();
    expect(await admin.exists(`${PREFIX}{${id}}:b`, `${PREFIX}{${id}}:h`)).toBe(0);
  });

  it('uses the injected clock for hold expiry when given one', async () => {
    let clock = 1_000_000;
    const ledger = newLedger({ maxTokensPerThread: 100, reservationTtlMs: 5_000, now: () => clock });
    const id = `clock-${randomUUID()}`;
    const hold = await ledger.reserve(id, 100);
    expect(hold.expiresAt).toBe(1_005_000);
    clock += 4_999;
    expect((await ledger.usage(id))!.reservedTokens).toBe(100);
    clock += 1;
    expect((await ledger.usage(id))!.reservedTokens).toBe(0);
    expect((await ledger.settle(hold, { promptTokens: 100 })).charged).toBe(false);
  });

  it('works with a client the caller owns and leaves it open on close()', async () => {
    const client = new Redis(REDIS_URL!);
    try {
      const ledger = new RedisBudgetLedger({ client, keyPrefix: PREFIX });
      const id = `client-${randomUUID()}`;
      await ledger.settle(await ledger.reserve(id, 10), { promptTokens: 5 });
      await ledger.close();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
      expect(client.listenerCount('error')).toBe(0);
      expect((await rejectionOf(ledger.usage(id))) as LedgerUnavailableError).toBeInstanceOf(LedgerUnavailableError);
    } finally {
      await client.quit();
    }
  });

  it('closes the client it created', async () => {
    const ledger = new RedisBudgetLedger({ url: REDIS_URL, keyPrefix: PREFIX });
    await ledger.usage('anything');
    await ledger.close();
    expect(ledger.client.status).toBe('end');
    await ledger.close();
  });

  it('validates its options, naming the option', () => {
    const expectField = (fn: () => unknown, field: string) => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(field);
      expect((err as Error).message).toContain(field);
    };
    const client = new Redis({ lazyConnect: true });
    expectField(() => new RedisBudgetLedger({ client, url: 'redis://127.0.0.1:6379' }), 'url');
    expectField(() => new RedisBudgetLedger({ client: {} as Redis }), 'client');
    expectField(() => new RedisBudgetLedger({ url: 'http://x', client: undefined }), 'url');
    expectField(() => new RedisBudgetLedger({ client, keyPrefix: 7 as unknown as string }), 'keyPrefix');
    expectField(() => new RedisBudgetLedger({ client, maxTokensPerThread: 0 }), 'maxTokensPerThread');
    expectField(() => new RedisBudgetLedger({ client, reservationTtlMs: 1.5 }), 'reservationTtlMs');
    expectField(() => new RedisBudgetLedger({ client, reservationTtlMs: 10_000, threadTtlMs: 5_000 }), 'threadTtlMs');
    expectField(() => new RedisBudgetLedger({ client, thresholds: [{ percent: 120, severity: 'final' }] }), 'thresholds[0].percent');
    expectField(() => new RedisBudgetLedger({ client, commandTimeoutMs: 0 }), 'commandTimeoutMs');
    expectField(() => new RedisBudgetLedger({ client, failOpen: 'yes' as unknown as boolean }), 'failOpen');
    expectField(() => new RedisBudgetLedger({ client, maxBatch: 0 }), 'maxBatch');
    expectField(() => new RedisBudgetLedger({ client, maxBatch: 1_001 }), 'maxBatch');
    client.disconnect();
  });

  it('checks a supplied client for defineCommand, and one whose defineCommand throws keeps no listener of the ledger', () => {
    expect(() => new RedisBudgetLedger({ client: { evalsha: () => undefined } as unknown as Redis })).toThrow(/^client: must be an ioredis Redis client/);
    expect(() => new RedisBudgetLedger(null as never)).toThrow('options: must be an object (got null)');
    const client = new Redis({ lazyConnect: true });
    const listeners = () => client.listenerCount('error') + client.listenerCount('ready');
    const before = listeners();
    client.defineCommand = () => {
      throw new Error('no custom commands here');
    };
    expect(() => new RedisBudgetLedger({ client })).toThrow('no custom commands here');
    expect(listeners()).toBe(before);
    client.disconnect();
  });

  it('rejects token counts that Lua cannot hold exactly', async () => {
    const ledger = newLedger();
    const err = await rejectionOf(ledger.reserve('big', Number.MAX_SAFE_INTEGER + 1));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('tokens');
  });

  it('fails closed, promptly and without crashing, when Redis is unreachable', async () => {
    const port = await freePort(); // bound then closed: nothing listens there
    const errors: Array<[RedisLedgerOperation, Error]> = [];
    const ledger = newLedger({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 500, onError: (e, op) => errors.push([op, e]) });
    const hold: Reservation = { id: 'x', threadId: 't', tokens: 1, expiresAt: undefined };
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['reserve', () => ledger.reserve('t', 10)],
      ['settle', () => ledger.settle(hold, { promptTokens: 1 })],
      ['release', () => ledger.release(hold)],
      ['usage', () => ledger.usage('t')],
      ['setBudget', () => ledger.setBudget('t', 10)],
      ['endThread', () => ledger.endThread('t')],
    ];
    for (const [name, call] of calls) {
      const started = Date.now();
      const err = await rejectionOf(call());
      expect(err, name).toBeInstanceOf(LedgerUnavailableError);
      expect((err as LedgerUnavailableError).code).toBe('LEDGER_UNAVAILABLE');
      expect((err as Error).message).toContain(name);
      // Bounded by the command timeout, not by ioredis's default 20 retries.
      expect(Date.now() - started, name).toBeLessThan(5_000);
    }
    await waitFor(async () => errors.some(([op]) => op === 'connection'), 5_000, 'a connection error report');
    expect(errors.every(([op]) => op === 'connection')).toBe(true);
  });

  it('fails open when asked: synthetic reservations, no-op settle and release, errors reported', async () => {
    const port = await freePort();
    const errors: Array<[RedisLedgerOperation, Error]> = [];
    const ledger = newLedger({
      url: `redis://127.0.0.1:${port}`,
      commandTimeoutMs: 300,
      failOpen: true,
      onError: (e, op) => errors.push([op, e]),
    });
    const hold = await ledger.reserve('t-open', 500);
    expect(isFailOpenReservation(hold)).toBe(true);
    expect(hold).toMatchObject({ threadId: 't-open', tokens: 500, expiresAt: undefined });
    expect(hold.id.startsWith('failopen:')).toBe(true);
    expect(await ledger.settle(hold, { promptTokens: 400 })).toEqual({ charged: false, usage: undefined, crossed: [] });
    await ledger.release(hold);
    // A real reservation made elsewhere: settling it while Redis is away is swallowed too.
    const real: Reservation = { id: randomUUID(), threadId: 't-open', tokens: 5, expiresAt: Date.now() + 1000 };
    expect((await ledger.settle(real, { promptTokens: 5 })).charged).toBe(false);
    await ledger.release(real);
    expect(await ledger.usage('t-open')).toBeUndefined();
    // Admin operations still refuse, and validation still applies.
    expect(await rejectionOf(ledger.setBudget('t-open', 10))).toBeInstanceOf(LedgerUnavailableError);
    expect(await rejectionOf(ledger.endThread('t-open'))).toBeInstanceOf(LedgerUnavailableError);
    expect(await rejectionOf(ledger.reserve('t-open', -1))).toBeInstanceOf(ValidationError);
    const ops = errors.filter(([op]) => op !== 'connection');
    expect(ops.map(([op]) => op)).toEqual(['reserve', 'settle', 'release', 'usage']);
    expect(ops.every(([, e]) => e instanceof LedgerUnavailableError)).toBe(true);
    expect(isFailOpenReservation({ id: 'abc', threadId: 't', tokens: 1, expiresAt: undefined })).toBe(false);
  });

  it('fail-open still enforces budgets while Redis is up', async () => {
    const ledger = newLedger({ failOpen: true, maxTokensPerThread: 100 });
    const id = `open-up-${randomUUID()}`;
    const hold = await ledger.reserve(id, 100);
    expect(isFailOpenReservation(hold)).toBe(false);
    expect(await rejectionOf(ledger.reserve(id, 1))).toBeInstanceOf(BudgetExhaustedError);
  });

  it('times out on a Redis that accepts connections but never answers, with a client of the caller', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const client = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, maxRetriesPerRequest: null });
    client.on('error', () => undefined);
    try {
      const ledger = newLedger({ client, commandTimeoutMs: 300 });
      const started = Date.now();
      const err = await rejectionOf(ledger.reserve('t', 1));
      expect(err).toBeInstanceOf(LedgerUnavailableError);
      expect((err as Error).message).toContain('no reply from Redis within 300 ms');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      client.disconnect();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  describeRedis('with a throwaway redis-server', () => {
    let server: ThrowawayRedis;
    beforeAll(async () => {
      server = await startThrowawayRedis();
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('reloads its scripts after SCRIPT FLUSH (NOSCRIPT fallback)', async () => {
      const ledger = newLedger({ url: server.url, maxTokensPerThread: 100 });
      await ledger.reserve('flush', 10);
      const direct = new Redis(server.url);
      try {
        await direct.script('FLUSH');
        expect(await direct.script('EXISTS', '0'.repeat(40))).toEqual([0]);
      } finally {
        await direct.quit();
      }
      await ledger.reserve('flush', 10);
      expect(await ledger.usage('flush')).toMatchObject({ reservedTokens: 20 });
    });

    it('survives Redis being killed under load, reports clear errors, and recovers when it returns', async () => {
      const errors: Array<[RedisLedgerOperation, Error]> = [];
      const ledger = newLedger({
        url: server.url,
        maxTokensPerThread: 1_000_000,
        commandTimeoutMs: 500,
        onError: (e, op) => errors.push([op, e]),
      });
      const id = 'restart';
      await ledger.settle(await ledger.reserve(id, 10), { promptTokens: 10 });

      // Load: 16 workers doing reserve+settle in a loop until told to stop.
      let stop = false;
      const outcomes = { ok: 0, unavailable: 0, other: [] as unknown[] };
      const worker = async () => {
        while (!stop) {
          try {
            const hold = await ledger.reserve(id, 5);
            await ledger.settle(hold, { promptTokens: 3 });
            outcomes.ok++;
          } catch (err) {
            if (err instanceof LedgerUnavailableError) outcomes.unavailable++;
            else outcomes.other.push(err);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
      };
      const workers = Array.from({ length: 16 }, worker);
      await waitFor(async () => outcomes.ok >= 50, 10_000, 'load to get going');

      await server.kill();
      const okAtKill = outcomes.ok;
      await waitFor(async () => outcomes.unavailable >= 20, 10_000, 'calls to fail while Redis is down');
      const started = Date.now();
      const down = await rejectionOf(ledger.reserve(id, 1));
      expect(down).toBeInstanceOf(LedgerUnavailableError);
      expect((down as Error).message).toMatch(/reserve/);
      expect(Date.now() - started).toBeLessThan(2_000);

      await server.start();
      await waitFor(async () => outcomes.ok >= okAtKill + 50, 15_000, 'calls to succeed again after Redis returned');
      stop = true;
      await Promise.all(workers);
      expect(outcomes.other).toEqual([]);
      expect(errors.some(([op]) => op === 'connection')).toBe(true);

      // The restarted server is empty (no persistence): accounting starts afresh and is exact.
      const fresh = `fresh-${randomUUID()}`;
      await ledger.settle(await ledger.reserve(fresh, 50), { promptTokens: 20, completionTokens: 5 });
      expect(await ledger.usage(fresh)).toMatchObject({ totalTokens: 25, requestCount: 1, reservedTokens: 0 });
    });
  });
});
