import type Database from 'better-sqlite3';
import type { Readiness } from '../../../core/types.js';
import type { UsageEvent } from '../../../usage/types.js';
import { buildDaily, buildHourly, buildSummary, sumsOf } from '../shared/aggregate.js';
import { countSql, dailySql, hourlySql, summarySql, type AggregateSqlContext } from '../shared/aggregate-sql.js';
import { UsageStoreError } from '../../../usage/store-error.js';
import { attachInline } from '../../../usage/usage-committer.js';
import { TrackerAttachments, type UsageEventSource } from '../../../usage/tracker-attachment.js';
import { encodeCursor, filterConditions, normalizeFilter, normalizeQuery, sqliteMetadataText, whereClause } from '../shared/usage-filter.js';
import { assertUsageEvents, rowToEvent, selectColumns } from '../shared/usage-row.js';
import type { BillingSummary, DailyPoint, HourlyPoint, UsageFilter, UsagePage, UsageQuery, UsageStore } from '../../../usage/usage-store.js';
import { SqliteHealth } from './sqlite-health.js';
import { resolveOptions, type ResolvedSqliteOptions, type SqliteUsageStoreOptions } from './sqlite-options.js';
import { translateSqliteError } from './sqlite-errors.js';
import { openDatabase, retryWhileBusy } from './sqlite-open.js';
import { SqliteReaderThread, type ReadRequest } from './sqlite-reader-thread.js';
import { SqliteWriter, WAL_AUTOCHECKPOINT_PAGES } from './sqlite-writer.js';
import { assertKnownVersion, migrateSqlite, SQLITE_SCHEMA_VERSION, SQLITE_UNPRICED_ROLLUP_VERSION, sqliteSchemaVersion } from './sqlite-migrations.js';

export type { SqliteUsageStoreOptions } from './sqlite-options.js';

type Statement = Database.Statement<unknown[], unknown>;

/** What the schema version of the file offers to reads. */
interface SchemaFeatures {
  /** A daily rollup that counts unpriced events (an older rollup cannot tell unpriced from free: events are scanned). */
  hasRollup: boolean;
  hasOverspend: boolean;
}

/**
 * The embedded usage store: one SQLite file in WAL mode through better-sqlite3.
 *
 * - Durable before acknowledging: {@link appendSync} commits before it returns, and {@link attach}
 *   persists every event a `UsageTracker` records before `record()` returns.
 * - Idempotent: `INSERT ... ON CONFLICT(id) DO NOTHING`, so replays and retries never store twice.
 * - Exact money: costs are INTEGER nano-USD (`cost_nanos`) summed as 64-bit integers.
 * - Versioned schema: forward migrations recorded in `tokenwarden_migrations`, applied in one
 *   transaction when the store opens.
 *
 * @example
 * ```ts
 * import { SqliteUsageStore } from 'tokenwarden/sqlite';
 * const store = new SqliteUsageStore({ path: './usage.db' });
 * store.attach(tracker);                        // every tracker.record() is now on disk
 * const june = await store.summary({ since: Date.UTC(2025, 5, 1), until: Date.UTC(2025, 6, 1), orgId: 'acme' });
 * console.log(june.totals.cost, june.byModel);
 * await store.close();
 * ```
 */
export class SqliteUsageStore implements UsageStore {
  /** The database file (or `:memory:`). */
  readonly path: string;
  /** The underlying better-sqlite3 connection. */
  readonly db: Database.Database;
  /** Whether this store opened the database read-only. */
  readonly readonly: boolean;
  /** Where {@link append} commits (see {@link SqliteUsageStoreOptions.writer}). */
  readonly writer: 'inline' | 'thread';
  private readonly ownsDb: boolean;
  private readonly features: SchemaFeatures;
  private readonly statements = new Map<string, Statement>();
  /** The write side; undefined for a read-only store. */
  private readonly writerSide: SqliteWriter | undefined;
  private readonly readerThread: SqliteReaderThread | undefined;
  private readonly health: SqliteHealth | undefined;
  /** Trackers attached through {@link attach}, detached on close. */
  private readonly attachments = new TrackerAttachments();
  private closed = false;

  constructor(options: SqliteUsageStoreOptions = {}) {
    const o = resolveOptions(options);
    this.readonly = o.readonly;
    this.path = o.path;
    this.writer = o.writer;
    this.ownsDb = o.db === undefined;
    this.db = o.db ?? openDatabase(this.path, this.readonly);
    try {
      this.db.pragma(`busy_timeout = ${o.busyTimeoutMs}`);
      if (this.readonly) this.features = this.readSchema(o.busyTimeoutMs);
      else {
        this.features = this.migrateSchema(o);
        this.health = new SqliteHealth(this.path, () => this.probeWrite());
        this.writerSide = new SqliteWriter({ ...o, db: this.db, ownsDb: this.ownsDb, health: this.health });
        this.health.start();
      }
      if (o.reader === 'thread') {
        this.readerThread = new SqliteReaderThread({ path: this.path, busyTimeoutMs: o.busyTimeoutMs }, (r) => this.readInline(r));
      }
    } catch (err) {
      if (this.ownsDb) this.db.close();
      throw err;
    }
  }

  /** A read-only store: the file must hold a usage schema of a version this build knows. */
  private readSchema(busyTimeoutMs: number): SchemaFeatures {
    const version = this.guard(() => retryWhileBusy(() => sqliteSchemaVersion(this.db), busyTimeoutMs));
    if (version === 0) {
      throw new UsageStoreError('STORE_SCHEMA', this.path, `${this.path} is not a tokenwarden usage database (no usage schema found)`);
    }
    assertKnownVersion(version, this.path);
    return { hasRollup: version >= SQLITE_UNPRICED_ROLLUP_VERSION, hasOverspend: version >= 4 };
  }

  /** A writable store: WAL mode, the durability asked for, and the schema migrated to this build's version. */
  private migrateSchema(o: ResolvedSqliteOptions): SchemaFeatures {
    this.guard(() =>
      retryWhileBusy(() => {
        if (this.path !== ':memory:' && this.path !== '') this.db.pragma('journal_mode = WAL');
        this.db.pragma(`synchronous = ${o.synchronous}`);
        if (this.ownsDb) this.db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
        migrateSqlite(this.db, this.path);
      }, o.busyTimeoutMs),
    );
    return { hasRollup: true, hasOverspend: true };
  }

  /** The schema version this build writes. */
  static readonly schemaVersion = SQLITE_SCHEMA_VERSION;

  /**
   * Stores events and commits before returning; events whose id is already stored are skipped.
   * Returns how many were newly stored. Several events are written in one transaction.
   *
   * @example
   * ```ts
   * store.appendSync([event]); // 1
   * store.appendSync([event]); // 0 (already stored)
   * ```
   */
  appendSync(events: UsageEvent | readonly UsageEvent[]): number {
    const list = assertUsageEvents(events);
    this.assertWritable();
    if (list.length === 0) return 0;
    const stored = this.writerSide!.writeSync(list);
    this.assertKept();
    return stored;
  }

  /**
   * True with the inline writer: {@link append} is {@link appendSync} on the caller's thread (see
   * {@link UsageStore.appendsInline}); false with `writer: 'thread'`.
   */
  get appendsInline(): boolean {
    return this.writer === 'inline';
  }

  /**
   * Stores events (see {@link appendSync}); resolves once they are committed. With `writer: 'thread'`
   * the commit happens on the writer thread.
   */
  async append(events: UsageEvent | readonly UsageEvent[]): Promise<void> {
    if (!this.writerSide?.onThread) {
      this.appendSync(events);
      return;
    }
    const list = assertUsageEvents(events);
    this.assertWritable();
    if (list.length === 0) return;
    await this.writerSide.write(list);
    this.assertKept();
  }

  /**
   * Whether the store can keep new events now. Not ready (and every append refused, so a gateway
   * answers 503 rather than 200 for a call it cannot keep) when the database file was deleted or
   * replaced, its WAL index cannot be written, or a write failed for lack of space or an I/O error and
   * no probe write has succeeded since. Checked on a 100 ms timer, after a failed write and on each call.
   *
   * @example
   * ```ts
   * const { ready, reason } = await store.readiness(); // { ready: false, reason: 'database file ... was deleted ...' }
   * ```
   */
  async readiness(): Promise<Readiness> {
    if (this.closed) return { ready: false, reason: `usage store ${this.path} is closed` };
    if (this.readonly) return { ready: false, reason: `usage store ${this.path} was opened read-only` };
    return this.health!.readiness();
  }

  /**
   * Persists every event `tracker` records, synchronously inside `record()`, so an event is on disk
   * before the caller moves on. Returns a function that detaches. A failed write goes to the
   * tracker's `onError` hook.
   *
   * @example
   * ```ts
   * const detach = store.attach(getUsageTracker());
   * ```
   */
  attach(tracker: UsageEventSource): () => void {
    this.assertWritable();
    return attachInline(this, tracker, this.attachments);
  }

  /** Events handed to the writer thread and not yet committed (always 0 with the inline writer). */
  get pending(): number {
    return this.writerSide?.pending ?? 0;
  }

  /** One page of events, oldest first (by timestamp, then id). Pass `nextCursor` back for the next page. */
  async query(query: UsageQuery = {}): Promise<UsagePage> {
    const q = normalizeQuery(query);
    const params: unknown[] = [];
    const where = filterConditions(q, (v) => (params.push(v), '?'), sqliteMetadataText);
    if (q.after) {
      where.push('(ts, id) > (?, ?)');
      params.push(q.after[0], q.after[1]);
    }
    params.push(q.limit + 1);
    const sql =
      `SELECT ${selectColumns(this.features.hasOverspend)} FROM usage_events ${whereClause(where)} ` + 'ORDER BY ts, id LIMIT ?';
    const rows = (await this.read({ sql, params, safeIntegers: false })) as Array<Record<string, unknown>>;
    const events = rows.slice(0, q.limit).map(rowToEvent);
    const last = events[events.length - 1];
    return { events, nextCursor: rows.length > q.limit && last ? encodeCursor(last.timestamp, last.id) : undefined };
  }

  /** Number of stored events matching `filter`. */
  async count(filter: UsageFilter = {}): Promise<number> {
    const { sql, params } = this.aggregate(countSql, normalizeFilter(filter));
    const rows = (await this.read({ sql, params, safeIntegers: true })) as Array<{ n: bigint }>;
    return Number(rows.reduce((a, r) => a + r.n, 0n));
  }

  /**
   * Billing summary: exact totals plus breakdowns by model and by agent (largest cost first). Whole
   * UTC days are read from the daily rollup, partial days at the ends of the range from the events.
   */
  async summary(filter: UsageFilter = {}): Promise<BillingSummary> {
    const f = normalizeFilter(filter);
    const { sql, params } = this.aggregate(summarySql, f);
    const rows = (await this.read({ sql, params, safeIntegers: true })) as Array<Record<string, unknown>>;
    return buildSummary(
      f,
      rows.map((r) => ({ model: r.model, agentId: r.agent_id, ...sumsOf(r) })),
    );
  }

  /** Daily series in UTC dates (`YYYY-MM-DD`), oldest first; only days with events appear. */
  async daily(filter: UsageFilter = {}): Promise<DailyPoint[]> {
    const { sql, params } = this.aggregate(dailySql, normalizeFilter(filter));
    const rows = (await this.read({ sql, params, safeIntegers: true })) as Array<Record<string, unknown>>;
    return buildDaily(rows.map((r) => ({ day: r.day, ...sumsOf(r) })));
  }

  /**
   * Hourly series (`hour`: start of the UTC hour, ISO 8601), oldest first; only hours with events
   * appear. Read from the events in the range (by the `ts` index): pass a bounded `since`/`until`.
   */
  async hourly(filter: UsageFilter = {}): Promise<HourlyPoint[]> {
    const { sql, params } = this.aggregate(hourlySql, normalizeFilter(filter));
    const rows = (await this.read({ sql, params, safeIntegers: true })) as Array<Record<string, unknown>>;
    return buildHourly(rows.map((r) => ({ hour: r.hour, ...sumsOf(r) })));
  }

  /** Waits for the writer thread's commits in progress (inline appends are committed when they return). */
  async flush(): Promise<void> {
    await this.writerSide?.flush();
  }

  /**
   * Detaches from trackers, lets the writer thread commit what it was given and stop, and closes the
   * database (unless it was passed in as `db`). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.attachments.detachAll();
    this.health?.stop();
    await this.writerSide?.close();
    await this.readerThread?.close();
    this.statements.clear();
    // Closing checkpoints through the WAL index: with an unwritable one, leave the handle to the OS.
    if (this.ownsDb && this.db.open && !this.health?.untouchable) this.db.close();
  }

  /** Runs a read on the reader thread (or here, with `reader: 'inline'`). */
  private async read(request: ReadRequest): Promise<unknown[]> {
    this.assertOpen();
    this.assertTouchable();
    if (!this.readerThread) return this.readInline(request);
    try {
      return await this.readerThread.read(request);
    } catch (err) {
      throw translateSqliteError(err, this.path);
    }
  }

  private readInline(request: ReadRequest): unknown[] {
    return this.guard(() => this.statement(request.sql, request.safeIntegers).all(...request.params));
  }

  /**
   * One small real write for {@link SqliteHealth}: 64 KiB through the WAL in one transaction (inserted,
   * then removed), so a disk that is still full fails it.
   */
  private probeWrite(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS tokenwarden_probe (id INTEGER PRIMARY KEY, pad BLOB)');
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO tokenwarden_probe (pad) VALUES (zeroblob(65536))').run();
      this.db.prepare('DELETE FROM tokenwarden_probe').run();
    }).immediate();
  }

  private aggregate(
    build: (f: ReturnType<typeof normalizeFilter>, c: AggregateSqlContext) => string,
    f: ReturnType<typeof normalizeFilter>,
  ): { sql: string; params: unknown[] } {
    const params: unknown[] = [];
    const rollup = this.features.hasRollup ? 'usage_daily' : undefined;
    const sql = build(f, { events: 'usage_events', rollup, param: (v) => (params.push(v), '?'), metadataText: sqliteMetadataText });
    return { sql, params };
  }

  private statement(sql: string, safeIntegers = false): Statement {
    this.assertOpen();
    const key = safeIntegers ? `B:${sql}` : sql;
    let stmt = this.statements.get(key);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      if (safeIntegers) stmt.safeIntegers(true);
      if (this.statements.size >= 256) this.statements.clear();
      this.statements.set(key, stmt);
    }
    return stmt;
  }

  private assertOpen(): void {
    if (this.closed) throw new UsageStoreError('STORE_CLOSED', this.path, `usage store ${this.path} is closed`);
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.readonly) throw new UsageStoreError('STORE_UNREADABLE', this.path, `usage store ${this.path} was opened read-only`);
    const problem = this.health?.notReady;
    if (problem) throw new UsageStoreError('STORE_NOT_READY', this.path, `usage store cannot keep events: ${problem}`);
  }

  /** After a commit: refuses to acknowledge events that went to a deleted or replaced database file. */
  private assertKept(): void {
    const problem = this.health?.afterCommit();
    if (problem) throw new UsageStoreError('STORE_NOT_READY', this.path, `usage store cannot keep events: ${problem}`);
  }

  /** Refuses any use of a connection whose WAL index cannot be written (see {@link SqliteHealth.untouchable}). */
  private assertTouchable(): void {
    if (this.health?.untouchable) {
      throw new UsageStoreError('STORE_NOT_READY', this.path, `usage store cannot be used: ${this.health.notReady ?? 'its WAL index cannot be written'}`);
    }
  }

  /** Runs `fn`, turning SQLite's lock, corruption and I/O errors into {@link UsageStoreError}s naming the file. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw translateSqliteError(err, this.path);
    }
  }
}

