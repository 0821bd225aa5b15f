import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresUsageStore } from '../../../src/stores/usage/postgres/postgres-usage-store.js';
import { POSTGRES_MIGRATIONS, POSTGRES_UNPRICED_ROLLUP_VERSION } from '../../../src/stores/usage/postgres/postgres-migrations.js';
import { eventToRow, USAGE_COLUMNS } from '../../../src/stores/usage/shared/usage-row.js';
import { SqliteUsageStore } from '../../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { SQLITE_MIGRATIONS, SQLITE_UNPRICED_ROLLUP_VERSION } from '../../../src/stores/usage/sqlite/sqlite-migrations.js';
import type { UsageEvent } from '../../../src/usage/types.js';
import type { UsageStore } from '../../../src/usage/usage-store.js';
import { DATABASE_URL, describePostgres } from '../../support/services.js';
import { makeEvent } from './usage-store-contract.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);

/** Two days of a priced model (`gpt-4o`) and an unpriced one (`my-local-model`), in the same rollup keys. */
function mixedEvents(): UsageEvent[] {
  return Array.from({ length: 12 }, (_, i) =>
    makeEvent({
      model: i % 3 === 0 ? 'my-local-model' : 'gpt-4o',
      agentId: 'agent',
      timestamp: T0 + Math.floor(i / 6) * DAY + i * 60_000,
      costNanos: i % 3 === 0 ? undefined : 1_000 + i,
    }),
  );
}

const priced = (list: UsageEvent[]): number => list.reduce((a, e) => a + (e.costNanos ?? 0), 0);

/** What a summary of `events` must say for the two models, and the daily unpriced counts. */
async function expectUnpricedReported(store: UsageStore, events: UsageEvent[]): Promise<void> {
  const s = await store.summary();
  const local = events.filter((e) => e.model === 'my-local-model');
  const gpt = events.filter((e) => e.model === 'gpt-4o');
  expect(s.byModel.find((m) => m.model === 'my-local-model')).toMatchObject({ requestCount: local.length, costNanos: null, cost: null, unpricedCount: local.length });
  expect(s.byModel.find((m) => m.model === 'gpt-4o')).toMatchObject({ requestCount: gpt.length, costNanos: priced(gpt), unpricedCount: 0 });
  expect(s.totals).toMatchObject({ requestCount: events.length, costNanos: priced(events), unpricedCount: local.length });
  const days = new Map<string, number>();
  for (const e of local) days.set(new Date(e.timestamp).toISOString().slice(0, 10), (days.get(new Date(e.timestamp).toISOString().slice(0, 10)) ?? 0) + 1);
  expect((await store.daily()).map((d) => [d.date, d.unpricedCount])).toEqual([...days].sort());
}

describe('SQLite: the unpriced_count rollup migration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-unpriced-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('backfills the count on upgrade, keeps it exact under direct DELETE/UPDATE, and old files are read from the events', async () => {
    const path = join(dir, 'v4.db');
    const db = new Database(path);
    db.exec('CREATE TABLE tokenwarden_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of SQLITE_MIGRATIONS.filter((x) => x.version < SQLITE_UNPRICED_ROLLUP_VERSION)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO tokenwarden_migrations VALUES (?, ?, 0)').run(m.version, m.name);
    }
    const events = mixedEvents();
    const insert = db.prepare(`INSERT INTO usage_events (${USAGE_COLUMNS.join(', ')}) VALUES (${USAGE_COLUMNS.map(() => '?').join(', ')})`);
    for (const e of events) insert.run(...eventToRow(e));
    db.close();

    // A read-only reader of the old schema cannot trust its rollup for unpriced events: it scans them.
    const reader = new SqliteUsageStore({ path, readonly: true });
    await expectUnpricedReported(reader, events);
    await reader.close();

    const store = new SqliteUsageStore({ path });
    await expectUnpricedReported(store, events);
    const unpriced = store.db.prepare('SELECT SUM(unpriced_count) AS n FROM usage_daily').get() as { n: number };
    expect(unpriced.n).toBe(4);
    // Triggers: a deleted unpriced event, an unpriced one priced, a priced one unpriced.
    store.db.prepare('DELETE FROM usage_events WHERE id = ?').run(events[0]!.id);
    store.db.prepare('UPDATE usage_events SET cost_nanos = 5, model = ? WHERE id = ?').run('gpt-4o', events[3]!.id);
    store.db.prepare('UPDATE usage_events SET cost_nanos = NULL, model = ? WHERE id = ?').run('my-local-model', events[1]!.id);
    const after = events
      .filter((_, i) => i !== 0)
      .map((e) => (e.id === events[3]!.id ? { ...e, costNanos: 5, model: 'gpt-4o' } : e.id === events[1]!.id ? { ...e, costNanos: undefined, model: 'my-local-model' } : e));
    await expectUnpricedReported(store, after);
    await store.close();
  });
});

describePostgres('PostgreSQL: the unpriced_count rollup migration', () => {
  const schema = `tw_unpriced_${process.pid}_${Date.now().toString(36)}`;
  const table = 'usage_events';
  const q = `"${schema}"."${table}"`;
  let pool: pg.Pool;
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  it('backfills the count on upgrade, keeps it exact under direct DELETE/UPDATE, and old tables are read from the events', async () => {
    const t = { schema, table };
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await pool.query(`CREATE TABLE "${schema}"."${table}_migrations" (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    for (const m of POSTGRES_MIGRATIONS.filter((x) => x.version < POSTGRES_UNPRICED_ROLLUP_VERSION)) {
      for (const sql of m.statements(t)) await pool.query(sql);
      await pool.query(`INSERT INTO "${schema}"."${table}_migrations" (version, name) VALUES ($1, $2)`, [m.version, m.name]);
    }
    const events = mixedEvents();
    for (const e of events) {
      await pool.query(`INSERT INTO ${q} (${USAGE_COLUMNS.join(', ')}) VALUES (${USAGE_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, eventToRow(e));
    }

    const reader = new PostgresUsageStore({ pool, schema, table, spoolPath: false, migrate: false });
    await expectUnpricedReported(reader, events);
    await reader.close();

    const store = new PostgresUsageStore({ pool, schema, table, spoolPath: false });
    await expectUnpricedReported(store, events);
    const { rows } = await pool.query<{ n: string }>(`SELECT SUM(unpriced_count) AS n FROM "${schema}"."${table}_daily"`);
    expect(Number(rows[0]!.n)).toBe(4);
    await pool.query(`DELETE FROM ${q} WHERE id = $1`, [events[0]!.id]);
    await pool.query(`UPDATE ${q} SET cost_nanos = 5, model = 'gpt-4o' WHERE id = $1`, [events[3]!.id]);
    await pool.query(`UPDATE ${q} SET cost_nanos = NULL, model = 'my-local-model' WHERE id = $1`, [events[1]!.id]);
    const after = events
      .filter((_, i) => i !== 0)
      .map((e) => (e.id === events[3]!.id ? { ...e, costNanos: 5, model: 'gpt-4o' } : e.id === events[1]!.id ? { ...e, costNanos: undefined, model: 'my-local-model' } : e));
    await expectUnpricedReported(store, after);
    await store.close();
  });
});
