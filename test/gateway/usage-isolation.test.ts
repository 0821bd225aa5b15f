/**
 * Finding 1 of issue 11: one caller's event that the store refuses must fail that caller's call alone,
 * never the other events of its group-commit batch. Real stores (SQLite inline and with its writer
 * thread, PostgreSQL with and without its spool) and a real gateway with two orgs.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageCommitter } from '../../src/usage/usage-committer.js';
import { PostgresUsageStore } from '../../src/stores/usage/postgres/postgres-usage-store.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import type { UsageStore } from '../../src/usage/usage-store.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { makeEvent } from '../stores/usage/usage-store-contract.js';
import { DATABASE_URL, describePostgres } from '../support/services.js';
import { call, errorOf, HELLO, startTestGateway } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tw-isolation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Ten events of one turn: two the store's own checks refuse (a NUL, a lone surrogate: built by hand, as
 * the tracker would refuse them), one the database itself refuses (`model = 'poison'`, see each test's
 * constraint), seven good ones.
 */
function mixedBatch(): { good: UsageEvent[]; bad: UsageEvent[]; all: UsageEvent[] } {
  const all = Array.from({ length: 10 }, (_, i) => {
    if (i === 2) return makeEvent({ model: 'gpt\u0000-4o' });
    if (i === 5) return makeEvent({ metadata: { user_id: 'u\ud800' } });
    if (i === 8) return makeEvent({ model: 'poison' });
    return makeEvent({ metadata: { org_id: 'orgB' } });
  });
  const bad = [all[2]!, all[5]!, all[8]!];
  return { all, bad, good: all.filter((e) => !bad.includes(e)) };
}

interface Outcome {
  good: UsageEvent[];
  /** How each good event's durable() settled, then each bad one's. */
  goodStatus: string[];
  badStatus: string[];
  reported: number;
}

/** Hands a mixed batch to a committer in one turn and reports how each event's durable() settled. */
async function commitMixed(store: UsageStore): Promise<Outcome> {
  let reported = 0;
  const committer = new UsageCommitter(store, (_err, events) => {
    reported += events.length;
  });
  const { all, good, bad } = mixedBatch();
  for (const e of all) committer.add(e);
  const status = async (e: UsageEvent): Promise<string> => (await Promise.allSettled([committer.durable(e)]))[0]!.status;
  const goodStatus = await Promise.all(good.map(status));
  const badStatus = await Promise.all(bad.map(status));
  await committer.close();
  return { good, goodStatus, badStatus, reported };
}

function expectIsolated(r: Outcome, refusedByDatabaseLater = false): void {
  expect(r.goodStatus).toEqual(r.good.map(() => 'fulfilled'));
  // With a spool, the database's own refusal comes after the acknowledgement (set aside, reported).
  const expectedBad = refusedByDatabaseLater ? ['rejected', 'rejected', 'fulfilled'] : ['rejected', 'rejected', 'rejected'];
  expect(r.badStatus).toEqual(expectedBad);
  expect(r.reported).toBe(expectedBad.filter((s) => s === 'rejected').length);
}

describe('UsageCommitter isolates the events a store refuses', () => {
  it('SQLite, inline writer: the neighbours of refused events are stored and acknowledged', async () => {
    const store = new SqliteUsageStore({ path: join(dir, 'inline.db') });
    store.db.exec("CREATE TRIGGER no_poison BEFORE INSERT ON usage_events WHEN NEW.model = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END");
    const r = await commitMixed(store);
    expectIsolated(r);
    expect((await store.query({ limit: 100 })).events.map((e) => e.id).sort()).toEqual(r.good.map((e) => e.id).sort());
    await store.close();
  });

  it('SQLite, writer thread: the neighbours of refused events are stored and acknowledged', async () => {
    const path = join(dir, 'thread.db');
    const setup = new SqliteUsageStore({ path });
    setup.db.exec("CREATE TRIGGER no_poison BEFORE INSERT ON usage_events WHEN NEW.model = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END");
    await setup.close();
    const store = new SqliteUsageStore({ path, writer: 'thread' });
    const r = await commitMixed(store);
    expectIsolated(r);
    expect(await store.count()).toBe(r.good.length);
    await store.close();
  });
});

describePostgres('UsageCommitter isolates the events PostgreSQL refuses', () => {
  const schema = `tw_isolation_${process.pid}_${Date.now().toString(36)}`;
  let pool: pg.Pool;
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  async function openStore(table: string, spoolPath: string | false): Promise<PostgresUsageStore> {
    const store = new PostgresUsageStore({ pool, schema, table, spoolPath, flushIntervalMs: 5, onWarning: () => undefined });
    await store.open();
    await pool.query(`ALTER TABLE "${schema}"."${table}" ADD CONSTRAINT no_poison CHECK (model <> 'poison')`);
    return store;
  }

  it('with its spool: refused events fail alone; the database refusal is set aside after the others are written', async () => {
    const store = await openStore('spooled', join(dir, 'spooled.jsonl'));
    const r = await commitMixed(store);
    expectIsolated(r, true);
    await store.flush();
    expect(await store.count()).toBe(r.good.length);
    await store.close();
  });

  it('without a spool: every refused event fails alone, the others are committed', async () => {
    const store = await openStore('direct', false);
    const r = await commitMixed(store);
    expectIsolated(r);
    expect(await store.count()).toBe(r.good.length);
    await store.close();
  });
});

const sha = (secret: string): string => `sha256:${createHash('sha256').update(secret).digest('hex')}`;

describe('gateway: org A sending events the store refuses never fails org B', () => {
  it('org B gets 200 for every call and every call is stored; org A gets clear errors', async () => {
    const tg = await startTestGateway({
      keys: [
        { name: 'a', sha256: sha('key-a'), org: 'orgA' },
        { name: 'b', sha256: sha('key-b'), org: 'orgB' },
      ],
    });
    // The database refuses org A's events (a real SQLite refusal, after the tracker accepted them).
    tg.store.db.exec("CREATE TRIGGER refuse_a BEFORE INSERT ON usage_events WHEN NEW.org_id = 'orgA' BEGIN SELECT RAISE(ABORT, 'refused'); END");
    try {
      const url = `${tg.url}/v1/chat/completions`;
      const asA = { authorization: 'Bearer key-a' };
      const asB = { authorization: 'Bearer key-b' };
      const rounds = 8;
      const perRound = 12;
      const statusesA: number[] = [];
      const statusesB: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const calls: Array<Promise<void>> = [];
        for (let i = 0; i < perRound; i++) {
          calls.push(call(url, { headers: asA, body: { model: 'm', messages: HELLO } }).then((r) => void statusesA.push(r.status)));
          calls.push(call(url, { headers: { ...asB, 'x-thread-id': `b-${round}-${i}` }, body: { model: 'm', messages: HELLO } })
            .then((r) => void statusesB.push(r.status)));
        }
        await Promise.all(calls);
      }
      expect(statusesB).toEqual(Array.from({ length: rounds * perRound }, () => 200));
      expect(new Set(statusesA)).toEqual(new Set([503]));
      expect(await tg.store.count({ orgId: 'orgB' })).toBe(rounds * perRound);
      expect(await tg.store.count({ orgId: 'orgA' })).toBe(0);

      // What a client can send that a store would refuse is a 400 naming the field, before any provider call.
      const upstreamCalls = tg.upstream!.requests.length;
      for (const [body, param] of [
        [{ model: 'm', messages: HELLO, user: '\u0000' }, 'user'],
        [{ model: 'm', messages: HELLO, user: 'x\u0085y' }, 'user'],
        [{ model: 'm', messages: HELLO, user: 'a\ud800' }, 'user'],
        [{ model: 'm\u0000', messages: HELLO }, 'model'],
        [{ model: 'm\u007f', messages: HELLO }, 'model'],
        [{ model: '\udc00m', messages: HELLO }, 'model'],
      ] as const) {
        const r = await call(url, { headers: asA, body });
        expect(r.status).toBe(400);
        expect(errorOf(r.body).param).toBe(param);
      }
      expect(tg.upstream!.requests.length).toBe(upstreamCalls);
    } finally {
      await tg.close();
    }
  });
});
