import pg from 'pg';
import type { Readiness } from '../../../core/types.js';
import type { UsageEvent } from '../../../usage/types.js';
import { buildDaily, buildHourly, buildSummary, sumsOf } from '../shared/aggregate.js';
import { countSql, dailySql, hourlySql, summarySql, type AggregateSqlContext } from '../shared/aggregate-sql.js';
import { UsageStoreError } from '../../../usage/store-error.js';
import { attachInline } from '../../../usage/usage-committer.js';
import { TrackerAttachments, type UsageEventSource } from '../../../usage/tracker-attachment.js';
import { encodeCursor, filterConditions, normalizeFilter, normalizeQuery, postgresMetadataText, whereClause, type NormalizedFilter } from '../shared/usage-filter.js';
import { assertUsageEvents, eventToRow, rowToEvent, selectColumns, USAGE_COLUMNS } from '../shared/usage-row.js';
import { EventSpool, type SpoolRecovery } from '../spool/event-spool.js';
import { ValidationError } from '../../../core/errors.js';
import type { BillingSummary, DailyPoint, HourlyPoint, UsageFilter, UsagePage, UsageQuery, UsageStore } from '../../../usage/usage-store.js';
import { migratePostgres, POSTGRES_UNPRICED_ROLLUP_VERSION, qualified, verifyPostgresSchema, type PostgresTarget } from './postgres-migrations.js';
import { translatePgError } from './postgres-errors.js';
import { backlogProblem } from './postgres-health.js';
import { resolvePostgresOptions, type PostgresStoreWarning, type PostgresUsageStoreOptions } from './postgres-options.js';
import { PostgresWriter } from './postgres-writer.js';

export type { PostgresStoreWarning, PostgresUsageStoreOptions } from './postgres-options.js';

const PG_TYPES = [
  'text', 'bigint', 'text', 'text', 'text', 'text', 'text', 'text',
  'bigint', 'bigint', 'bigint', 'bigint', 'bigint', 'bigint', 'float8', 'bigint', 'jsonb', 'bigint',
] as const;

/**
 * Usage store for shared deployments: one PostgreSQL table through `pg`, written in batches.
 *
 * How nothing is lost and nothing is stored twice:
 * - Every event is first appended synchronously to a local spool file ({@link EventSpool}); once that
 *   returns (inside `tracker.record()` when {@link attach}ed, or before `append()` resolves) it survives
 *   `kill -9`. A background flusher then writes batches with
 *   `INSERT ... SELECT FROM unnest(...) ON CONFLICT (id) DO NOTHING` and drops confirmed lines from the
 *   spool. At start-up (`open()`, or any first call) unconfirmed lines are replayed; replays are
 *   idempotent by event id.
 * - A full in-memory queue applies backpressure: `append()` waits for room; tracker events overflow to
 *   the spool and are read back from it. A failed write is retried with backoff, never dropped.
 *
 * Money is exact: `cost_nanos BIGINT` summed as NUMERIC and parsed with BigInt; the result is a JS
 * number, exact up to 2^53 nano-USD (about 9 million USD) per group. Timestamps are BIGINT epoch ms.
 * Migrations are versioned (`<table>_migrations`) and guarded by an advisory lock.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { PostgresUsageStore } from 'tokenwarden/postgres';
 * const store = new PostgresUsageStore({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) });
 * await store.open();          // migrate, replay anything a crash left in the spool
 * store.attach(tracker);       // every tracker.record() is spooled before it returns
 * const daily = await store.daily({ since: Date.UTC(2025, 0, 1), orgId: 'acme' });
 * await store.close();         // writes what is pending, releases the spool
 * ```
 */
export class PostgresUsageStore implements UsageStore {
  /** Where the table lives. */
  readonly target: PostgresTarget;
  /** The pool used for every query. */
  readonly pool: pg.Pool;
  /** The spool file, or undefined when disabled. */
  readonly spoolPath: string | undefined;
  /**
   * False: `append` may wait for room in the in-memory queue, so a caller writing batches goes through
   * `append` (see {@link UsageStore.appendsInline}); {@link appendSync} never waits.
   */
  readonly appendsInline = false;
  private readonly ownsPool: boolean;
  private readonly migrate: boolean;
  private readonly batchSize: number;
  private readonly maxQueue: number;
  private readonly table: string;
  private readonly insertSql: string;
  /** The spool-backed write-behind queue; undefined without a spool (appends then write directly). */
  private readonly writeQueue: PostgresWriter | undefined;
  /** Trackers attached through {@link attach}, detached on close. */
  private readonly attachments = new TrackerAttachments();
  private opening: Promise<void> | undefined;
  /** A daily rollup that counts unpriced events (an older rollup cannot tell unpriced from free: events are scanned). */
  private hasRollup = true;
  private hasOverspend = true;
  private directPending = 0;
  private readonly direct = new Set<Promise<unknown>>();
  private closing = false;

  constructor(options: PostgresUsageStoreOptions) {
    const o = resolvePostgresOptions(options);
    this.target = { schema: o.schema, table: o.table };
    this.table = qualified(this.target);
    this.ownsPool = o.pool === undefined;
    this.pool = o.pool ?? new pg.Pool({ connectionString: o.connectionString, max: 4 });
    if (this.ownsPool) {
      this.pool.on('error', (err) => o.warn({ code: 'STORE_WRITE_FAILED', message: `idle PostgreSQL connection failed: ${err.message}` }));
    }
    this.migrate = o.migrate;
    this.batchSize = o.batchSize;
    this.maxQueue = o.maxQueue;
    const casts = PG_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
    this.insertSql =
      `INSERT INTO ${this.table} (${USAGE_COLUMNS.join(', ')}) SELECT * FROM unnest(${casts}) ON CONFLICT (id) DO NOTHING`;
    this.spoolPath = o.spoolPath;
    this.writeQueue = o.spoolPath === undefined ? undefined : new PostgresWriter({
      spool: new EventSpool({ path: o.spoolPath, fsync: o.fsyncSpool, onWarning: (w: PostgresStoreWarning) => o.warn(w) }),
      spoolPath: o.spoolPath,
      writeBatch: async (events) => {
        await this.ensureOpen();
        await this.insert(events);
      },
      describe: this.describe(),
      batchSize: o.batchSize,
      flushIntervalMs: o.flushIntervalMs,
      maxQueue: o.maxQueue,
      warn: o.warn,
    });
  }

  /**
   * Whether the store can durably keep new events now. Not ready when its spool cannot be opened or
   * written (its file deleted or replaced while open, which also makes appends fail; a failed write
   * until a probe write succeeds), or when more events wait for PostgreSQL than `maxQueue` (the
   * database is down or not keeping up: events are safe in the spool, but new calls should go
   * elsewhere). Without a spool: when more than `maxQueue` events are being written.
   *
   * @example
   * ```ts
   * await store.readiness(); // { ready: false, reason: '12000 usage events wait for PostgreSQL table public.usage_events ...' }
   * ```
   */
  async readiness(): Promise<Readiness> {
    if (this.closing) return { ready: false, reason: `usage store ${this.describe()} is closed` };
    if (this.writeQueue) {
      const problem = this.writeQueue.readinessProblem();
      return problem ? { ready: false, reason: problem } : { ready: true };
    }
    const backlog = backlogProblem(this.directPending, this.maxQueue, this.describe(), undefined);
    return backlog ? { ready: false, reason: backlog } : { ready: true };
  }

  /**
   * Migrates (or, with `migrate: false`, checks) the table, takes the spool and starts replaying what
   * a previous run left in it. Called automatically by every other method; call it at start-up to fail
   * fast. Safe to call repeatedly; a failed open is retried by the next call.
   */
  async open(): Promise<void> {
    this.assertOpen();
    this.writeQueue?.open();
    await this.ensureOpen();
  }

  private async ensureOpen(): Promise<void> {
    this.opening ??= this.openTable().catch((err: unknown) => {
      this.opening = undefined;
      throw translatePgError(err, this.describe());
    });
    await this.opening;
  }

  private async openTable(): Promise<void> {
    if (this.migrate) {
      await migratePostgres(this.pool, this.target);
      return;
    }
    const version = await verifyPostgresSchema(this.pool, this.target);
    this.hasRollup = version >= POSTGRES_UNPRICED_ROLLUP_VERSION;
    this.hasOverspend = version >= 3;
  }

  /**
   * Replays what a previous run left unconfirmed in the spool and waits until it is in the database.
   * Returns how many spool lines were found (a torn last line is removed and reported, not counted).
   */
  async replaySpool(): Promise<number> {
    await this.open();
    await this.flush();
    return this.writeQueue?.recovery?.lines ?? 0;
  }

  /** What `open()` found in the spool: unconfirmed lines and torn bytes. Undefined until it ran. */
  get spoolRecovery(): SpoolRecovery | undefined {
    return this.writeQueue?.recovery;
  }

  /** Events accepted (spooled or being written) but not yet confirmed by the database. */
  get pending(): number {
    return (this.writeQueue?.pending ?? 0) + this.directPending;
  }

  /** The last error a background write hit (cleared when a write succeeds). */
  get lastWriteError(): unknown {
    return this.writeQueue?.lastWriteError;
  }

  /**
   * Stores events. With a spool, resolves once they are spooled (crash-safe) and waits first while the
   * in-memory queue is full; the database write follows in the background (`flush()` awaits it).
   * Without a spool, resolves once the database committed them. Duplicates by id are ignored.
   */
  async append(events: UsageEvent | readonly UsageEvent[]): Promise<void> {
    const list = assertUsageEvents(events);
    this.assertOpen();
    if (list.length === 0) return;
    if (this.writeQueue) await this.writeQueue.append(list);
    else await this.appendDirect(list);
  }

  /**
   * Spools events before it returns (crash-safe from then on) and never waits: beyond `maxQueue` they
   * wait in the spool and are read back from it. The database write follows in the background. Needs
   * a spool. This is how {@link attach} keeps each event inside `tracker.record()`.
   */
  appendSync(events: UsageEvent | readonly UsageEvent[]): void {
    const list = assertUsageEvents(events);
    if (!this.writeQueue) {
      throw new ValidationError('spoolPath', false, 'appendSync() needs a spool to keep events before it returns; do not set spoolPath: false');
    }
    this.writeQueue.appendSync(list);
  }

  /** Without a spool: writes in batches of `batchSize`, resolving once PostgreSQL committed them all. */
  private async appendDirect(list: readonly UsageEvent[]): Promise<void> {
    await this.ensureOpen();
    this.directPending += list.length;
    const write = (async () => {
      try {
        for (let i = 0; i < list.length; i += this.batchSize) await this.insert(list.slice(i, i + this.batchSize));
      } finally {
        this.directPending -= list.length;
      }
    })();
    this.direct.add(write);
    try {
      await write;
    } finally {
      this.direct.delete(write);
    }
  }

  /**
   * Persists every event `tracker` records: each is appended to the spool synchronously inside
   * `record()` ({@link appendSync}, so it survives `kill -9` from then on) and written to PostgreSQL in
   * the next batch. Never blocks or drops: beyond `maxQueue` events wait in the spool. Returns a detach
   * function. Requires a spool.
   *
   * @example
   * ```ts
   * const detach = store.attach(tracker);
   * ```
   */
  attach(tracker: UsageEventSource): () => void {
    this.assertOpen();
    if (!this.writeQueue) {
      throw new ValidationError('spoolPath', false, 'attach() needs a spool to make tracker events durable; do not set spoolPath: false');
    }
    this.writeQueue.open();
    return attachInline(this, tracker, this.attachments);
  }

  /** One page of events, oldest first (by timestamp, then id). Pass `nextCursor` back for the next page. */
  async query(query: UsageQuery = {}): Promise<UsagePage> {
    const q = normalizeQuery(query);
    await this.ensureOpen();
    const params: unknown[] = [];
    const param = (v: unknown): string => (params.push(v), `$${params.length}`);
    const where = filterConditions(q, param, postgresMetadataText);
    if (q.after) where.push(`(ts, id) > (${param(q.after[0])}::bigint, ${param(q.after[1])}::text)`);
    const sql = `SELECT ${selectColumns(this.hasOverspend)} FROM ${this.table} ${whereClause(where)} ORDER BY ts, id LIMIT ${param(q.limit + 1)}`;
    const { rows } = await this.run(sql, params);
    const events = rows.slice(0, q.limit).map(rowToEvent);
    const last = events[events.length - 1];
    return { events, nextCursor: rows.length > q.limit && last ? encodeCursor(last.timestamp, last.id) : undefined };
  }

  /** Number of stored events matching `filter`. */
  async count(filter: UsageFilter = {}): Promise<number> {
    const f = normalizeFilter(filter);
    await this.ensureOpen();
    const { sql, params } = this.aggregate(countSql, f);
    const { rows } = await this.run(sql, params);
    return rows.reduce((a, r) => a + Number(r.n ?? 0), 0);
  }

  /**
   * Billing summary: exact totals plus breakdowns by model and by agent (largest cost first). Whole
   * UTC days are read from the daily rollup, partial days at the ends of the range from the events.
   */
  async summary(filter: UsageFilter = {}): Promise<BillingSummary> {
    const f = normalizeFilter(filter);
    await this.ensureOpen();
    const { sql, params } = this.aggregate(summarySql, f);
    const { rows } = await this.run(sql, params);
    return buildSummary(
      f,
      rows.map((r) => ({ model: r.model, agentId: r.agent_id, ...sumsOf(r) })),
    );
  }

  /** Daily series in UTC dates (`YYYY-MM-DD`), oldest first; only days with events appear. */
  async daily(filter: UsageFilter = {}): Promise<DailyPoint[]> {
    const f = normalizeFilter(filter);
    await this.ensureOpen();
    const { sql, params } = this.aggregate(dailySql, f);
    const { rows } = await this.run(sql, params);
    return buildDaily(rows.map((r) => ({ day: r.day, ...sumsOf(r) })));
  }

  /**
   * Hourly series (`hour`: start of the UTC hour, ISO 8601), oldest first; only hours with events
   * appear. Read from the events in the range (by the `ts` index): pass a bounded `since`/`until`.
   */
  async hourly(filter: UsageFilter = {}): Promise<HourlyPoint[]> {
    const f = normalizeFilter(filter);
    await this.ensureOpen();
    const { sql, params } = this.aggregate(hourlySql, f);
    const { rows } = await this.run(sql, params);
    return buildHourly(rows.map((r) => ({ hour: r.hour, ...sumsOf(r) })));
  }

  /**
   * Waits until every event handed to the store so far (and any replayed from the spool) is committed
   * in PostgreSQL. Rejects with `STORE_UNAVAILABLE` if a write fails meanwhile; the events stay in the
   * spool and the background writer keeps retrying.
   */
  async flush(): Promise<void> {
    if (this.writeQueue) await this.writeQueue.flush();
    else await Promise.allSettled([...this.direct]);
  }

  /**
   * Detaches from trackers, writes what is pending (if the database is reachable), releases the spool
   * and ends the pool if the store created it. Events that could not be written stay in the spool
   * and are replayed by the next store opened on it. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.attachments.detachAll();
    if (this.writeQueue) await this.writeQueue.close();
    else await Promise.allSettled([...this.direct]);
    if (this.ownsPool) await this.pool.end();
  }

  private async insert(events: readonly UsageEvent[]): Promise<number> {
    const columns: unknown[][] = USAGE_COLUMNS.map(() => []);
    for (const e of events) {
      const row = eventToRow(e);
      for (let i = 0; i < row.length; i++) columns[i]!.push(row[i]);
    }
    const result = await this.pool.query(this.insertSql, columns);
    return result.rowCount ?? 0;
  }

  private async run(sql: string, params: unknown[]): Promise<pg.QueryResult<Record<string, unknown>>> {
    try {
      return await this.pool.query<Record<string, unknown>>(sql, params);
    } catch (err) {
      throw translatePgError(err, this.describe());
    }
  }

  private aggregate(build: (f: NormalizedFilter, c: AggregateSqlContext) => string, f: NormalizedFilter): { sql: string; params: unknown[] } {
    const params: unknown[] = [];
    const sql = build(f, {
      events: this.table,
      rollup: this.hasRollup ? qualified(this.target, `${this.target.table}_daily`) : undefined,
      param: (v) => (params.push(v), `$${params.length}`),
      metadataText: postgresMetadataText,
    });
    return { sql, params };
  }

  private describe(): string {
    return `PostgreSQL table ${this.target.schema}.${this.target.table}`;
  }

  private assertOpen(): void {
    if (this.closing) throw new UsageStoreError('STORE_CLOSED', this.describe(), `usage store ${this.describe()} is closed`);
  }
}
