import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../../../src/core/errors.js';
import { SqliteUsageStore } from '../../../src/stores/usage/sqlite/sqlite-usage-store.js';
import { resolveDefaultDbPath } from '../../../src/stores/usage/sqlite/default-db-path.js';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from '../../../src/stores/usage/sqlite/sqlite-migrations.js';
import { UsageStoreError } from '../../../src/usage/store-error.js';
import { eventToRow, USAGE_COLUMNS } from '../../../src/stores/usage/shared/usage-row.js';
import type { UsageEvent } from '../../../src/usage/types.js';
import { makeEvent, runUsageStoreContract } from './usage-store-contract.js';

function expectedByModel(events: UsageEvent[]): Record<string, { requestCount: number; costNanos: number }> {
  const out: Record<string, { requestCount: number; costNanos: number }> = {};
  for (const e of events) {
    const g = (out[e.model] ??= { requestCount: 0, costNanos: 0 });
    g.requestCount++;
    g.costNanos += e.costNanos ?? 0;
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'tw-sqlite-'));
let n = 0;
const dbPath = (): string => join(dir, `store-${++n}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runUsageStoreContract('sqlite', async () => new SqliteUsageStore({ path: dbPath() }));
runUsageStoreContract('sqlite, writer thread', async () => new SqliteUsageStore({ path: dbPath(), writer: 'thread' }));

describe('SqliteUsageStore', () => {
  it('opens in WAL mode with the chosen synchronous level, busy timeout and a recorded schema version', async () => {
    const path = dbPath();
    const store = new SqliteUsageStore({ path, synchronous: 'FULL', busyTimeoutMs: 1234 });
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(store.db.pragma('busy_timeout', { simple: true })).toBe(1234);
    const versions = store.db.prepare('SELECT version FROM tokenwarden_migrations ORDER BY version').all();
    expect(versions).toEqual(SQLITE_MIGRATIONS.map((m) => ({ version: m.version })));
    expect(SQLITE_SCHEMA_VERSION).toBe(SQLITE_MIGRATIONS.length);
    const indexes = (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_events'").all() as Array<{ name: string }>).map((r) => r.name);
    for (const col of ['ts_id', 'org_ts', 'thread_ts']) expect(indexes).toContain(`usage_events_${col}`);
    // Dropped by migration 3: the daily rollup answers summaries by agent, model and provider.
    for (const col of ['user_ts', 'agent_ts', 'model_ts', 'provider_ts']) expect(indexes).not.toContain(`usage_events_${col}`);
    await store.close();
    const again = new SqliteUsageStore({ path });
    expect(again.db.prepare('SELECT COUNT(*) AS n FROM tokenwarden_migrations').get()).toEqual({ n: SQLITE_MIGRATIONS.length });
    expect(again.db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL by default
    await again.close();
  });

  it('uses the query planner indexes for filtered and paged queries', () => {
    const store = new SqliteUsageStore({ path: dbPath() });
    const plan = (sql: string): string =>
      (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
    expect(plan("SELECT * FROM usage_events WHERE org_id = 'a' AND ts >= 1 ORDER BY ts, id LIMIT 10")).toMatch(/INDEX/);
    expect(plan('SELECT * FROM usage_events WHERE (ts, id) > (1, \'x\') ORDER BY ts, id LIMIT 10')).toMatch(/usage_events_ts_id/);
    expect(plan("SELECT * FROM usage_events WHERE thread_id = 't' ORDER BY ts, id")).toMatch(/usage_events_thread_ts/);
    void store.close();
  });

  it('appendSync commits before returning and reports how many events were new', async () => {
    const path = dbPath();
    const store = new SqliteUsageStore({ path });
    const a = makeEvent();
    const b = makeEvent();
    expect(store.appendSync([a, b])).toBe(2);
    expect(store.appendSync(a)).toBe(0);
    expect(store.appendSync([])).toBe(0);
    // A second connection sees the rows at once: they are committed, not buffered.
    const other = new Database(path, { readonly: true });
    expect(other.prepare('SELECT COUNT(*) AS n FROM usage_events').get()).toEqual({ n: 2 });
    other.close();
    expect(store.pending).toBe(0);
    await store.close();
    await store.close();
    await expect(store.count()).rejects.toMatchObject({ code: 'STORE_CLOSED' });
  });

  it('accepts a Database the caller opened and leaves it open on close', async () => {
    const db = new Database(dbPath());
    const store = new SqliteUsageStore({ db });
    await store.append(makeEvent());
    await store.close();
    expect(db.open).toBe(true);
    expect(db.prepare('SELECT COUNT(*) AS n FROM usage_events').get()).toEqual({ n: 1 });
    db.close();
  });

  it('resolves the default path from TOKENWARDEN_DB, else ./.tokenwarden/usage.db', () => {
    expect(resolveDefaultDbPath({}, '/srv/app')).toBe('/srv/app/.tokenwarden/usage.db');
    expect(resolveDefaultDbPath({ TOKENWARDEN_DB: 'data/u.db' }, '/srv/app')).toBe('/srv/app/data/u.db');
    expect(resolveDefaultDbPath({ TOKENWARDEN_DB: '/var/lib/tw.db' }, '/srv/app')).toBe('/var/lib/tw.db');
  });

  it('validates its options, naming the option', () => {
    const field = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return err instanceof ValidationError ? err.field : 'not a ValidationError';
      }
      return undefined;
    };
    expect(field(() => new SqliteUsageStore({ path: '' }))).toBe('path');
    expect(field(() => new SqliteUsageStore({ path: dbPath(), synchronous: 'OFF' as 'FULL' }))).toBe('synchronous');
    expect(field(() => new SqliteUsageStore({ path: dbPath(), busyTimeoutMs: -1 }))).toBe('busyTimeoutMs');
    expect(field(() => new SqliteUsageStore({ db: {} as Database.Database }))).toBe('db');
    expect(field(() => new SqliteUsageStore({ path: dbPath(), writer: 'worker' as 'thread' }))).toBe('writer');
    expect(field(() => new SqliteUsageStore({ path: ':memory:', writer: 'thread' }))).toBe('writer');
    const path = dbPath();
    void new SqliteUsageStore({ path }).close();
    expect(field(() => new SqliteUsageStore({ path, readonly: true, writer: 'thread' }))).toBe('writer');
  });

  it('reports missing, foreign, non-database and newer-schema files clearly when opened read-only', () => {
    const code = (fn: () => unknown): string => {
      try {
        fn();
        return 'no error';
      } catch (err) {
        expect(err).toBeInstanceOf(UsageStoreError);
        return (err as UsageStoreError).code;
      }
    };
    expect(code(() => new SqliteUsageStore({ path: join(dir, 'missing.db'), readonly: true }))).toBe('STORE_NOT_FOUND');
    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, 'this is not a database, just some text that is long enough to look like a header...');
    expect(code(() => new SqliteUsageStore({ path: garbage, readonly: true }))).toBe('STORE_UNREADABLE');
    expect(code(() => new SqliteUsageStore({ path: garbage }))).toBe('STORE_UNREADABLE');
    const foreign = join(dir, 'foreign.db');
    const f = new Database(foreign);
    f.exec('CREATE TABLE t (x)');
    f.close();
    expect(code(() => new SqliteUsageStore({ path: foreign, readonly: true }))).toBe('STORE_SCHEMA');
    const newer = dbPath();
    const s = new SqliteUsageStore({ path: newer });
    s.db.prepare("INSERT INTO tokenwarden_migrations VALUES (999, 'future', 0)").run();
    void s.close();
    expect(code(() => new SqliteUsageStore({ path: newer }))).toBe('STORE_SCHEMA');
    expect(code(() => new SqliteUsageStore({ path: newer, readonly: true }))).toBe('STORE_SCHEMA');
  });

  it('a read-only store reads but refuses writes', async () => {
    const path = dbPath();
    const w = new SqliteUsageStore({ path });
    w.appendSync([makeEvent(), makeEvent()]);
    const r = new SqliteUsageStore({ path, readonly: true });
    expect(await r.count()).toBe(2);
    expect(() => r.appendSync(makeEvent())).toThrow(/read-only/);
    await r.close();
    await w.close();
  });

  it('fails with STORE_LOCKED after the busy timeout when another connection holds the write lock', async () => {
    const path = dbPath();
    const holder = new SqliteUsageStore({ path });
    holder.db.exec('BEGIN IMMEDIATE');
    const store = new SqliteUsageStore({ path, busyTimeoutMs: 50 });
    let thrown: unknown;
    try {
      store.appendSync(makeEvent());
    } catch (err) {
      thrown = err;
    }
    // Asserted outside the catch, so the test fails when nothing is thrown.
    expect(thrown).toBeInstanceOf(UsageStoreError);
    expect((thrown as UsageStoreError).code).toBe('STORE_LOCKED');
    expect((thrown as Error).message).toContain(path);
    holder.db.exec('ROLLBACK');
    expect(store.appendSync(makeEvent())).toBe(1);
    await store.close();
    await holder.close();
  });

  it('a second connection on an already-migrated file neither re-migrates nor loses rows', async () => {
    const path = dbPath();
    const a = new Database(path);
    const b = new Database(path);
    const sa = new SqliteUsageStore({ db: a });
    const sb = new SqliteUsageStore({ db: b });
    sa.appendSync(makeEvent());
    sb.appendSync(makeEvent());
    expect(a.prepare('SELECT COUNT(*) AS n FROM tokenwarden_migrations').get()).toEqual({ n: SQLITE_MIGRATIONS.length });
    expect(await sb.count()).toBe(2);
    a.close();
    b.close();
  });

  it('upgrades a version-1 database in place, backfilling the daily rollup from its events', async () => {
    const path = dbPath();
    const db = new Database(path);
    db.exec(SQLITE_MIGRATIONS[0]!.sql);
    db.exec('CREATE TABLE tokenwarden_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    db.prepare("INSERT INTO tokenwarden_migrations VALUES (1, 'v1', 0)").run();
    const events = Array.from({ length: 40 }, (_, i) => makeEvent({ model: i % 2 ? 'a' : 'b', timestamp: Date.UTC(2025, 0, 1) + i * 3_600_000 }));
    const v1 = USAGE_COLUMNS.filter((c) => c !== 'overspend_tokens');
    const insert = db.prepare(`INSERT INTO usage_events (${v1.join(', ')}) VALUES (${v1.map(() => '?').join(', ')})`);
    for (const e of events) insert.run(...eventToRow(e).slice(0, v1.length));
    db.close();

    // A read-only reader of the old schema scans events instead of the (missing) rollup.
    const reader = new SqliteUsageStore({ path, readonly: true });
    expect((await reader.summary()).totals.costNanos).toBe(events.reduce((a, e) => a + e.costNanos!, 0));
    expect((await reader.daily()).map((d) => d.requestCount)).toEqual([24, 16]);
    expect(await reader.count({ model: 'a' })).toBe(20);
    expect((await reader.query({ limit: 1 })).events[0]).toEqual(events[0]); // no overspend_tokens column yet
    await reader.close();

    const store = new SqliteUsageStore({ path });
    expect(store.db.prepare('SELECT version FROM tokenwarden_migrations ORDER BY version').all()).toEqual(
      SQLITE_MIGRATIONS.map((m) => ({ version: m.version })),
    );
    const s = await store.summary();
    const want = expectedByModel(events);
    expect(Object.fromEntries(s.byModel.map((m) => [m.model, { requestCount: m.requestCount, costNanos: m.costNanos }]))).toEqual(want);
    expect((await store.daily()).map((d) => d.requestCount)).toEqual([24, 16]);
    const indexes = (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_events'").all() as Array<{ name: string }>).map((r) => r.name);
    expect(indexes.filter((name) => name.startsWith('usage_events_')).sort()).toEqual(['usage_events_org_ts', 'usage_events_thread_ts', 'usage_events_ts_id']);
    expect(await store.count({ model: 'a' })).toBe(20);
    expect((await store.query({ userId: 'nobody' })).events).toEqual([]);
    const over = makeEvent({ overspendTokens: 42 });
    store.appendSync(over);
    expect((await store.query({ limit: 1000 })).events.find((e) => e.id === over.id)).toEqual(over);
    await store.close();
  });

  it('checkpoints the WAL into the database file on a timer rather than inside commits', async () => {
    const path = dbPath();
    const store = new SqliteUsageStore({ path });
    // SQLite's own checkpoint (run by whichever commit crosses it) is only a backstop on the WAL's size.
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(8000);
    const before = statSync(path).size;
    const events = Array.from({ length: 50 }, () => makeEvent({ metadata: { org_id: 'acme' } }));
    expect(store.appendSync(events)).toBe(50);
    await vi.waitFor(() => expect(statSync(path).size).toBeGreaterThan(before), { timeout: 5000, interval: 25 });
    // A second connection sees every event whether it reads them from the WAL or the file.
    const other = new Database(path, { readonly: true });
    expect(other.prepare('SELECT COUNT(*) AS n FROM usage_events').get()).toEqual({ n: 50 });
    other.close();
    await store.close();
  });

  it('keeps the daily rollup exact when events are deleted or updated directly in SQL', async () => {
    const store = new SqliteUsageStore({ path: dbPath() });
    const events = Array.from({ length: 10 }, (_, i) => makeEvent({ model: i < 2 ? 'gone' : 'kept', metadata: { org_id: 'acme' } }));
    store.appendSync(events);
    store.db.prepare("DELETE FROM usage_events WHERE model = 'gone'").run();
    store.db.prepare("UPDATE usage_events SET model = 'moved', cost_nanos = 5, org_id = NULL WHERE id = ?").run(events[2]!.id);
    const remaining = events.slice(3);
    const s = await store.summary();
    expect(s.byModel.map((m) => [m.model, m.requestCount, m.costNanos])).toEqual([
      ['kept', 7, remaining.reduce((a, e) => a + e.costNanos!, 0)],
      ['moved', 1, 5],
    ]);
    expect(await store.count({ orgId: 'acme' })).toBe(7);
    expect(await store.count()).toBe(8);
    await store.close();
  });
});

describe('SqliteUsageStore attached to a tracker', () => {
  it('fails record() when the write fails, so an unstored event is never acknowledged', async () => {
    const { UsageTracker } = await import('../../../src/usage/tracker.js');
    const dir = mkdtempSync(join(tmpdir(), 'tw-sqlite-required-'));
    const db = new Database(join(dir, 'usage.db'));
    const store = new SqliteUsageStore({ db });
    const tracker = new UsageTracker();
    store.attach(tracker);
    const input = { threadId: 't', agentId: 'a', model: 'gpt-4o', provider: 'openai', promptTokens: 3, completionTokens: 2, latencyMs: 1 };
    const stored = tracker.record(input);
    expect(await store.count()).toBe(1);
    db.close(); // the store can no longer write
    expect(() => tracker.record(input)).toThrow(/USAGE_NOT_PERSISTED|was not stored/);
    expect(tracker.getTotals().requestCount).toBe(1);
    const reopened = new SqliteUsageStore({ path: join(dir, 'usage.db') });
    const page = await reopened.query();
    expect(page.events.map((e) => e.id)).toEqual([stored.id]);
    await reopened.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('SqliteUsageStore with a writer thread', () => {
  /** The store's writer thread (private), to stop it as a crash would. */
  const workerOf = (store: SqliteUsageStore): Worker =>
    (store as unknown as { writerSide: { thread: { thread: { worker: Worker } } } }).writerSide.thread.thread.worker;

  it('append resolves once a second connection can read the events; batches queued together commit together', async () => {
    const path = dbPath();
    const store = new SqliteUsageStore({ path, writer: 'thread' });
    expect(store.writer).toBe('thread');
    const events = Array.from({ length: 200 }, () => makeEvent());
    const appends = [];
    for (let i = 0; i < events.length; i += 10) appends.push(store.append(events.slice(i, i + 10)));
    expect(store.pending).toBe(200);
    await Promise.all(appends);
    expect(store.pending).toBe(0);
    const other = new Database(path, { readonly: true });
    expect(other.prepare('SELECT COUNT(*) AS n FROM usage_events').get()).toEqual({ n: 200 });
    other.close();
    await store.append(events.slice(0, 5)); // already stored: skipped, not doubled
    expect(await store.count()).toBe(200);
    expect((await store.summary()).totals.requestCount).toBe(200);
    await store.close();
  });

  it('a failed commit in the thread rejects append with a store error naming the file', async () => {
    const path = dbPath();
    const store = new SqliteUsageStore({ path, writer: 'thread', busyTimeoutMs: 50 });
    const holder = new Database(path);
    holder.exec('BEGIN IMMEDIATE');
    const err = await store.append(makeEvent()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageStoreError);
    expect((err as UsageStoreError).code).toBe('STORE_LOCKED');
    expect((err as Error).message).toContain(path);
    holder.exec('ROLLBACK');
    holder.close();
    await store.append(makeEvent());
    expect(await store.count()).toBe(1);
    await store.close();
  });

  it('if the thread dies, the batches it had not answered and later ones are written on the caller thread', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }): void => void warnings.push(`${w.code}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const path = dbPath();
      const store = new SqliteUsageStore({ path, writer: 'thread' });
      const events = Array.from({ length: 300 }, () => makeEvent());
      const early = [0, 100].map((i) => store.append(events.slice(i, i + 100)));
      await workerOf(store).terminate();
      await Promise.all(early);
      await store.append(events.slice(200));
      expect(await store.count()).toBe(300);
      await store.close();
      await vi.waitFor(() => expect(warnings).toHaveLength(1));
      expect(warnings[0]).toContain('TOKENWARDEN_SQLITE_WRITER');
      expect(warnings[0]).toContain(path);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('close commits what was handed over, then ends the thread; the file holds every event', async () => {
    const path = dbPath();
    const store = new SqliteUsageStore({ path, writer: 'thread' });
    const events = Array.from({ length: 50 }, () => makeEvent());
    const appended = store.append(events);
    const exited = new Promise<number>((resolve) => workerOf(store).once('exit', resolve));
    await store.close();
    await appended;
    await exited;
    await expect(store.append(makeEvent())).rejects.toMatchObject({ code: 'STORE_CLOSED' });
    const reopened = new SqliteUsageStore({ path, readonly: true });
    expect(await reopened.count()).toBe(50);
    await reopened.close();
  });
});
