import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/core/errors.js';
import { PostgresUsageStore, type PostgresStoreWarning } from '../../../src/stores/usage/postgres/postgres-usage-store.js';
import { POSTGRES_MIGRATIONS } from '../../../src/stores/usage/postgres/postgres-migrations.js';
import { resolveDefaultSpoolPath } from '../../../src/stores/usage/postgres/default-spool-path.js';
import { UsageStoreError } from '../../../src/usage/store-error.js';
import { UsageTracker } from '../../../src/usage/tracker.js';
import { DATABASE_URL, describePostgres } from '../../support/services.js';
import { eventToRow, USAGE_COLUMNS } from '../../../src/stores/usage/shared/usage-row.js';
import { makeEvent, runUsageStoreContract } from './usage-store-contract.js';

const schema = `tw_stores_${process.pid}_${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'tw-pg-'));
let n = 0;
const next = (): { table: string; spoolPath: string } => {
  n++;
  return { table: `t${n}`, spoolPath: join(dir, `t${n}.jsonl`) };
};

describePostgres('PostgresUsageStore', () => {
  let pool: pg.Pool;
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 6 });
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  });

  runUsageStoreContract('postgres', async () => new PostgresUsageStore({ pool, schema, flushIntervalMs: 5, ...next() }));

  it('migrates once with versioned, advisory-locked migrations, even when several processes start together', async () => {
    const { table } = next();
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: DATABASE_URL, max: 1 }));
    const stores = pools.map((p, i) => new PostgresUsageStore({ pool: p, schema, table, spoolPath: join(dir, `${table}-${i}.jsonl`) }));
    await Promise.all(stores.map((s) => s.open()));
    const { rows } = await pool.query(`SELECT version FROM "${schema}"."${table}_migrations" ORDER BY version`);
    expect(rows).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version })));
    const idx = await pool.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2', [schema, table]);
    for (const s of ['ts_id', 'org_ts', 'user_ts', 'agent_ts', 'model_ts', 'provider_ts', 'thread_ts']) {
      expect(idx.rows.map((r) => r.indexname)).toContain(`${table}_${s}`);
    }
    const cols = await pool.query<{ column_name: string; data_type: string }>(
      'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
      [schema, table],
    );
    const types = Object.fromEntries(cols.rows.map((r) => [r.column_name, r.data_type]));
    expect(types.cost_nanos).toBe('bigint');
    expect(types.ts).toBe('bigint');
    await Promise.all(stores.map((s) => s.close()));
    await Promise.all(pools.map((p) => p.end()));
  });

  it('refuses a table with a newer schema version, and a missing table when migrate is false', async () => {
    const { table, spoolPath } = next();
    const s = new PostgresUsageStore({ pool, schema, table, spoolPath });
    await s.open();
    await s.close();
    await pool.query(`INSERT INTO "${schema}"."${table}_migrations" (version, name) VALUES (999, 'future')`);
    const newer = new PostgresUsageStore({ pool, schema, table, spoolPath });
    await expect(newer.open()).rejects.toMatchObject({ code: 'STORE_SCHEMA' });
    await newer.close();
    const missing = new PostgresUsageStore({ pool, schema, table: 'nope', spoolPath: false, migrate: false });
    const err = await missing.count().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageStoreError);
    expect((err as UsageStoreError).code).toBe('STORE_SCHEMA');
    expect((err as Error).message).toContain(`${schema}.nope`);
    await missing.close();
  });

  it('replays what a crash left in the spool at open, tolerating and reporting a torn last line', async () => {
    const { table, spoolPath } = next();
    const events = Array.from({ length: 7 }, () => makeEvent());
    writeFileSync(spoolPath, events.slice(0, 6).map((e) => JSON.stringify(e) + '\n').join(''));
    appendFileSync(spoolPath, JSON.stringify(events[6]).slice(0, 33));
    writeFileSync(`${spoolPath}.lock`, '999999999'); // left by a process that is gone
    const warnings: PostgresStoreWarning[] = [];
    const store = new PostgresUsageStore({ pool, schema, table, spoolPath, onWarning: (w) => warnings.push(w) });
    expect(await store.replaySpool()).toBe(6);
    expect(store.spoolRecovery).toEqual({ lines: 6, tornBytes: 33 });
    expect(warnings.map((w) => w.code)).toEqual(['SPOOL_TORN_LINE']);
    expect(store.pending).toBe(0);
    expect(statSync(spoolPath).size).toBe(0);
    expect((await store.query()).events).toEqual(events.slice(0, 6));
    await store.close();
    // Replaying the same lines again (a crash after the insert, before the spool was cut) stores nothing twice.
    writeFileSync(spoolPath, events.slice(0, 6).map((e) => JSON.stringify(e) + '\n').join(''));
    const again = new PostgresUsageStore({ pool, schema, table, spoolPath });
    expect(await again.replaySpool()).toBe(6);
    expect(await again.count()).toBe(6);
    await again.close();
  });

  it('applies backpressure when the queue is full and never drops: append waits, tracker events overflow to the spool', async () => {
    const { table, spoolPath } = next();
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const slowPool = {
      query: async (...args: Parameters<pg.Pool['query']>) => {
        await gate;
        return (pool.query as (...a: unknown[]) => unknown)(...args);
      },
      connect: () => pool.connect(),
      on: () => slowPool,
    } as unknown as pg.Pool;
    await new PostgresUsageStore({ pool, schema, table, spoolPath: false }).open(); // migrate up front
    const store = new PostgresUsageStore({ pool: slowPool, schema, table, spoolPath, maxQueue: 10, batchSize: 4, flushIntervalMs: 1 });
    const firstTen = Array.from({ length: 10 }, () => makeEvent());
    await store.append(firstTen);
    let waitingDone = false;
    const waiting = store.append(makeEvent()).then(() => {
      waitingDone = true;
    });
    const tracker = new UsageTracker({ estimateCostNanos: () => 1, onError: (e) => { throw e; } });
    store.attach(tracker);
    for (let i = 0; i < 50; i++) tracker.record({ model: 'm', provider: 'p', promptTokens: 1, completionTokens: 1, latencyMs: 1 });
    await new Promise((r) => setTimeout(r, 30));
    expect(waitingDone).toBe(false);
    expect(store.pending).toBe(60);
    expect(readFileSync(spoolPath, 'utf8').trim().split('\n')).toHaveLength(60);
    release();
    await waiting;
    await store.flush();
    expect(store.pending).toBe(0);
    expect(await store.count()).toBe(61);
    gate = Promise.resolve();
    await store.close();
  });

  it('keeps events in the spool while the database is down and delivers them from the next store', async () => {
    const { table, spoolPath } = next();
    await new PostgresUsageStore({ pool, schema, table, spoolPath: false }).open();
    const warnings: PostgresStoreWarning[] = [];
    const down = new PostgresUsageStore({
      connectionString: 'postgres://postgres:secret@127.0.0.1:1/test',
      schema,
      table,
      spoolPath,
      onWarning: (w) => warnings.push(w),
    });
    const events = Array.from({ length: 5 }, () => makeEvent());
    await down.append(events); // spooled: acknowledged
    const err = await down.flush().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageStoreError);
    expect((err as UsageStoreError).code).toBe('STORE_UNAVAILABLE');
    expect((err as Error).message).not.toContain('secret');
    expect(down.pending).toBe(5);
    await down.close();
    expect(warnings.map((w) => w.code)).toContain('STORE_CLOSED_WITH_PENDING');
    const up = new PostgresUsageStore({ pool, schema, table, spoolPath });
    expect(await up.replaySpool()).toBe(5);
    expect((await up.query()).events.map((e) => e.id)).toEqual(events.map((e) => e.id));
    await up.close();
  });

  it('sets aside an event the database refuses (data error) without holding up the others', async () => {
    const { table, spoolPath } = next();
    const warnings: PostgresStoreWarning[] = [];
    const store = new PostgresUsageStore({ pool, schema, table, spoolPath, batchSize: 8, onWarning: (w) => warnings.push(w) });
    await store.open();
    await pool.query(`ALTER TABLE "${schema}"."${table}" ADD CONSTRAINT no_poison CHECK (model <> 'poison')`);
    const events = Array.from({ length: 20 }, (_, i) => makeEvent({ model: i === 13 ? 'poison' : 'ok' }));
    await store.append(events);
    await store.flush();
    expect(store.pending).toBe(0);
    expect(await store.count()).toBe(19);
    const rejected = readFileSync(`${spoolPath}.rejected`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rejected).toHaveLength(1);
    expect(rejected[0].event.id).toBe(events[13]!.id);
    expect(rejected[0].error).toContain('no_poison');
    expect(warnings.map((w) => w.code)).toEqual(['STORE_EVENT_REJECTED']);
    expect(statSync(spoolPath).size).toBe(0);
    await store.close();
  });

  it('without a spool, append resolves only after the commit, and attach is refused', async () => {
    const { table } = next();
    const store = new PostgresUsageStore({ pool, schema, table, spoolPath: false, batchSize: 3 });
    const events = Array.from({ length: 8 }, () => makeEvent());
    await store.append(events);
    const { rows } = await pool.query(`SELECT COUNT(*)::int AS n FROM "${schema}"."${table}"`);
    expect(rows[0].n).toBe(8);
    expect(() => store.attach(new UsageTracker())).toThrow(ValidationError);
    await store.close();
    const after = await pool.query('SELECT 1 AS one'); // the caller's pool is still usable
    expect(after.rows[0].one).toBe(1);
  });

  it('upgrades a version-1 table in place, backfilling the daily rollup, and keeps it exact under direct DELETE/UPDATE', async () => {
    const { table, spoolPath } = next();
    const t = { schema, table };
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    for (const sql of POSTGRES_MIGRATIONS[0]!.statements(t)) await pool.query(sql);
    await pool.query(`CREATE TABLE "${schema}"."${table}_migrations" (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    await pool.query(`INSERT INTO "${schema}"."${table}_migrations" (version, name) VALUES (1, 'v1')`);
    const events = Array.from({ length: 40 }, (_, i) => makeEvent({ model: i % 2 ? 'a' : 'b', timestamp: Date.UTC(2025, 0, 1) + i * 3_600_000 }));
    const v1 = USAGE_COLUMNS.filter((c) => c !== 'overspend_tokens');
    for (const e of events) {
      await pool.query(`INSERT INTO "${schema}"."${table}" (${v1.join(', ')}) VALUES (${v1.map((_, i) => `$${i + 1}`).join(', ')})`, eventToRow(e).slice(0, v1.length));
    }
    const sum = (list: typeof events) => list.reduce((a, e) => a + e.costNanos!, 0);
    // A read-only reader of the old schema scans events instead of the (missing) rollup.
    const reader = new PostgresUsageStore({ pool, schema, table, spoolPath: false, migrate: false });
    expect((await reader.summary()).totals.costNanos).toBe(sum(events));
    expect((await reader.daily()).map((d) => d.requestCount)).toEqual([24, 16]);
    expect((await reader.query({ limit: 1 })).events[0]).toEqual(events[0]); // no overspend_tokens column yet
    await reader.close();
    const store = new PostgresUsageStore({ pool, schema, table, spoolPath });
    const s = await store.summary();
    expect(s.byModel.map((m) => [m.model, m.requestCount, m.costNanos]).sort()).toEqual([
      ['a', 20, sum(events.filter((e) => e.model === 'a'))],
      ['b', 20, sum(events.filter((e) => e.model === 'b'))],
    ].sort());
    expect((await store.daily()).map((d) => d.requestCount)).toEqual([24, 16]);
    const over = makeEvent({ overspendTokens: 42, timestamp: Date.UTC(2024, 0, 1) });
    await store.append(over);
    await store.flush();
    expect((await store.query({ limit: 1 })).events[0]).toEqual(over);
    await pool.query(`DELETE FROM "${schema}"."${table}" WHERE id = $1`, [over.id]);

    await pool.query(`DELETE FROM "${schema}"."${table}" WHERE id = ANY($1)`, [[events[0]!.id, events[2]!.id]]);
    await pool.query(`UPDATE "${schema}"."${table}" SET model = 'moved', cost_nanos = 5 WHERE id = $1`, [events[1]!.id]);
    const after = await store.summary();
    expect(after.byModel.map((m) => [m.model, m.requestCount, m.costNanos]).sort()).toEqual([
      ['a', 19, sum(events.filter((e, i) => e.model === 'a' && i !== 1))],
      ['b', 18, sum(events.filter((e, i) => e.model === 'b' && i !== 0 && i !== 2))],
      ['moved', 1, 5],
    ].sort());
    expect(await store.count()).toBe(38);
    await pool.query(`TRUNCATE "${schema}"."${table}"`);
    expect(await store.count()).toBe(0);
    expect((await store.summary()).byModel).toEqual([]);
    await store.close();
  });

  it('validates its options, naming the option', () => {
    const field = (opts: unknown): string | undefined => {
      try {
        new PostgresUsageStore(opts as never);
      } catch (err) {
        return err instanceof ValidationError ? err.field : 'other';
      }
      return undefined;
    };
    expect(field({})).toBe('connectionString');
    expect(field({ pool, connectionString: 'postgres://x' })).toBe('connectionString');
    expect(field({ pool: {} })).toBe('pool');
    expect(field({ pool, schema: 'bad-name' })).toBe('schema');
    expect(field({ pool, table: '1abc' })).toBe('table');
    expect(field({ pool, batchSize: 0 })).toBe('batchSize');
    expect(field({ pool, batchSize: 20_000 })).toBe('batchSize');
    expect(field({ pool, flushIntervalMs: -1 })).toBe('flushIntervalMs');
    expect(field({ pool, maxQueue: 0 })).toBe('maxQueue');
    expect(field({ pool, spoolPath: '' })).toBe('spoolPath');
  });
});

describe('resolveDefaultSpoolPath', () => {
  it('uses TOKENWARDEN_SPOOL_DIR, else ./.tokenwarden/spool', () => {
    expect(resolveDefaultSpoolPath('public', 'usage_events', {}, '/srv')).toBe('/srv/.tokenwarden/spool/public.usage_events.jsonl');
    expect(resolveDefaultSpoolPath('s', 't', { TOKENWARDEN_SPOOL_DIR: '/var/spool/tw' }, '/srv')).toBe('/var/spool/tw/s.t.jsonl');
  });
});
