import { appendFileSync } from 'node:fs';
import pg from 'pg';
import { ValidationError } from '../../../core/errors.js';
import type { Readiness } from '../../../core/types.js';
import type { UsageEvent } from '../../../usage/types.js';
import { buildDaily, buildSummary, sumsOf } from '../shared/aggregate.js';
import { countSql, dailySql, summarySql, type AggregateSqlContext } from '../shared/aggregate-sql.js';
import { UsageStoreError } from '../../../usage/store-error.js';
import { TrackerAttachments, type UsageEventSource } from '../../../usage/tracker-attachment.js';
import { encodeCursor, filterConditions, normalizeFilter, normalizeQuery, type NormalizedFilter } from '../shared/usage-filter.js';
import { assertUsageEvents, eventToRow, rowToEvent, selectColumns, USAGE_COLUMNS } from '../shared/usage-row.js';
import { EventSpool, type SpoolEntry, type SpoolRecovery, type SpoolWarning } from '../spool/event-spool.js';
import { SpoolHealth } from '../spool/spool-health.js';
import type { BillingSummary, DailyPoint, UsageFilter, UsagePage, UsageQuery, UsageStore } from '../../../usage/usage-store.js';
import { resolveDefaultSpoolPath } from './default-spool-path.js';
import { migratePostgres, qualified, verifyPostgresSchema, type PostgresTarget } from './postgres-migrations.js';

/** A condition the store reports without failing: spool recovery, a failed write being retried. */
export interface PostgresStoreWarning {
  code: SpoolWarning['code'] | 'STORE_WRITE_FAILED' | 'STORE_CLOSED_WITH_PENDING' | 'STORE_EVENT_REJECTED';
  message: string;
}

/** Options of {@link PostgresUsageStore}. Pass `pool` or `connectionString`. */
export interface PostgresUsageStoreOptions {
  /** A `pg.Pool` you already have. The store borrows it and never ends it. */
  pool?: pg.Pool;
  /** Connection string for a pool the store creates (and ends on `close()`). */
  connectionString?: string;
  /** Schema of the usage table; created if missing. Default `public`. */
  schema?: string;
  /** Usage table name (its migrations table is `<table>_migrations`). Default `usage_events`. */
  table?: string;
  /** Most events per INSERT. Default 500, at most 10 000. */
  batchSize?: number;
  /** How long a partly filled batch waits for more events before it is written. Default 50 ms. */
  flushIntervalMs?: number;
  /**
   * Most events held in memory waiting for the database. Default 10 000. When full, `append()` waits
   * for room, and events from an attached tracker are kept in the spool only and read back from it:
   * nothing is ever dropped.
   */
  maxQueue?: number;
  /**
   * Local spool file making appends crash-safe (see {@link EventSpool}); unconfirmed lines are replayed
   * when the store opens. Default {@link resolveDefaultSpoolPath}. `false` disables it: `append()` then
   * resolves only after the database committed, and `attach()` is unavailable.
   */
  spoolPath?: string | false;
  /** fsync the spool after every append (survives power loss, not only `kill -9`). Default false. */
  fsyncSpool?: boolean;
  /** Create or upgrade the table on open (default true). `false` only checks it exists (read-only use). */
  migrate?: boolean;
  /** Receives warnings. Default: `process.emitWarning`. */
  onWarning?: (warning: PostgresStoreWarning) => void;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;
const PG_TYPES = [
  'text', 'bigint', 'text', 'text', 'text', 'text', 'text', 'text',
  'bigint', 'bigint', 'bigint', 'bigint', 'bigint', 'bigint', 'float8', 'bigint', 'jsonb', 'bigint',
] as const;

interface FlushWaiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

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
  private readonly ownsPool: boolean;
  private readonly migrate: boolean;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueue: number;
  private readonly warn: (warning: PostgresStoreWarning) => void;
  private readonly table: string;
  private readonly insertSql: string;
  private readonly spool: EventSpool | undefined;
  private readonly spoolHealth: SpoolHealth | undefined;
  private readonly attachments = new TrackerAttachments((event) => this.enqueueSync([event]));
  private opening: Promise<void> | undefined;
  private hasRollup = true;
  private hasOverspend = true;
  private recovery: SpoolRecovery | undefined;
  private queue: SpoolEntry[] = [];
  private overflowFrom: number | undefined;
  private pendingCount = 0;
  private confirmedTo = 0;
  private running: Promise<void> | undefined;
  private rerun = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Smaller batch size while isolating an event the database refuses (data error); undefined = batchSize. */
  private probe: number | undefined;
  private backoff: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private flushWaiters: FlushWaiter[] = [];
  private directPending = 0;
  private capacityWaiters: Array<() => void> = [];
  private readonly direct = new Set<Promise<unknown>>();
  private closing = false;
  private closed = false;
  private lastError: unknown;

  constructor(options: PostgresUsageStoreOptions) {
    if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
    const {
      pool,
      connectionString,
      schema = 'public',
      table = 'usage_events',
      batchSize = 500,
      flushIntervalMs = 50,
      maxQueue = 10_000,
      spoolPath,
      fsyncSpool = false,
      migrate = true,
      onWarning,
    } = options;
    if (pool !== undefined && (pool === null || typeof pool !== 'object' || typeof pool.query !== 'function' || typeof pool.connect !== 'function')) {
      throw new ValidationError('pool', pool, 'must be a pg.Pool');
    }
    if (pool !== undefined && connectionString !== undefined) {
      throw new ValidationError('connectionString', redact(String(connectionString)), 'pass either pool or connectionString, not both');
    }
    if (pool === undefined && (typeof connectionString !== 'string' || connectionString.length === 0)) {
      throw new ValidationError('connectionString', connectionString, 'must be a postgres:// URL when no pool is given');
    }
    for (const [field, v] of [['schema', schema], ['table', table]] as const) {
      if (typeof v !== 'string' || !IDENT.test(v)) {
        throw new ValidationError(field, v, 'must be an identifier of letters, digits and _ (at most 40, not starting with a digit)');
      }
    }
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw new ValidationError('batchSize', batchSize, 'must be an integer from 1 to 10000');
    }
    if (!Number.isInteger(flushIntervalMs) || flushIntervalMs < 0) {
      throw new ValidationError('flushIntervalMs', flushIntervalMs, 'must be an integer >= 0');
    }
    if (!Number.isInteger(maxQueue) || maxQueue < 1) throw new ValidationError('maxQueue', maxQueue, 'must be an integer >= 1');
    if (spoolPath !== undefined && spoolPath !== false && (typeof spoolPath !== 'string' || spoolPath.length === 0)) {
      throw new ValidationError('spoolPath', spoolPath, 'must be a file path or false');
    }
    if (onWarning !== undefined && typeof onWarning !== 'function') throw new ValidationError('onWarning', onWarning, 'must be a function');

    this.target = { schema, table };
    this.table = qualified(this.target);
    this.ownsPool = pool === undefined;
    this.pool = pool ?? new pg.Pool({ connectionString, max: 4 });
    if (this.ownsPool) this.pool.on('error', (err) => this.warn({ code: 'STORE_WRITE_FAILED', message: `idle PostgreSQL connection failed: ${err.message}` }));
    this.migrate = migrate;
    this.batchSize = batchSize;
    this.flushIntervalMs = flushIntervalMs;
    this.maxQueue = maxQueue;
    this.warn = onWarning ?? ((w) => process.emitWarning(w.message, { code: w.code }));
    const casts = PG_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
    this.insertSql =
      `INSERT INTO ${this.table} (${USAGE_COLUMNS.join(', ')}) SELECT * FROM unnest(${casts}) ON CONFLICT (id) DO NOTHING`;
    this.spoolPath = spoolPath === false ? undefined : (spoolPath ?? resolveDefaultSpoolPath(schema, table));
    this.spool = this.spoolPath === undefined
      ? undefined
      : new EventSpool({ path: this.spoolPath, fsync: fsyncSpool, onWarning: (w) => this.warn(w) });
    this.spoolHealth = this.spool && new SpoolHealth(this.spool);
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
    if (this.spool) {
      try {
        this.openSpool();
      } catch (err) {
        return { ready: false, reason: (err as Error).message };
      }
      const problem = this.spoolHealth!.check();
      if (problem) return { ready: false, reason: problem };
    }
    if (this.pending > this.maxQueue) {
      const why = this.lastError === undefined ? 'not keeping up' : `failing: ${(this.lastError as Error).message ?? String(this.lastError)}`;
      return { ready: false, reason: `${this.pending} usage events wait for ${this.describe()} (more than maxQueue ${this.maxQueue}); the database is ${why}` };
    }
    return { ready: true };
  }

  /**
   * Migrates (or, with `migrate: false`, checks) the table, takes the spool and starts replaying what
   * a previous run left in it. Called automatically by every other method; call it at start-up to fail
   * fast. Safe to call repeatedly; a failed open is retried by the next call.
   */
  async open(): Promise<void> {
    this.assertOpen();
    this.openSpool();
    await this.ensureOpen();
  }

  private async ensureOpen(): Promise<void> {
    if (!this.opening) {
      this.opening = (async () => {
        try {
          if (this.migrate) await migratePostgres(this.pool, this.target);
          else {
            const version = await verifyPostgresSchema(this.pool, this.target);
            this.hasRollup = version >= 2;
            this.hasOverspend = version >= 3;
          }
        } catch (err) {
          this.opening = undefined;
          throw translatePgError(err, this.describe());
        }
      })();
    }
    await this.opening;
  }

  /**
   * Replays what a previous run left unconfirmed in the spool and waits until it is in the database.
   * Returns how many spool lines were found (a torn last line is removed and reported, not counted).
   */
  async replaySpool(): Promise<number> {
    await this.open();
    await this.flush();
    return this.recovery?.lines ?? 0;
  }

  /** What `open()` found in the spool: unconfirmed lines and torn bytes. Undefined until it ran. */
  get spoolRecovery(): SpoolRecovery | undefined {
    return this.recovery;
  }

  /** Events accepted (spooled or being written) but not yet confirmed by the database. */
  get pending(): number {
    return this.pendingCount + this.directPending;
  }

  /** The last error a background write hit (cleared when a write succeeds). */
  get lastWriteError(): unknown {
    return this.lastError;
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
    if (!this.spool) {
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
      return;
    }
    this.openSpool();
    for (let i = 0; i < list.length; i += this.maxQueue) {
      const chunk = list.slice(i, i + this.maxQueue);
      while (this.overflowFrom !== undefined || this.queue.length + chunk.length > this.maxQueue) {
        await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
        this.assertOpen();
      }
      this.enqueueSync(chunk);
    }
  }

  /**
   * Persists every event `tracker` records: each is appended to the spool synchronously inside
   * `record()` (so it survives `kill -9` from then on) and written to PostgreSQL in the next batch.
   * Never blocks or drops: beyond `maxQueue` events wait in the spool. Returns a detach function.
   * Requires a spool.
   *
   * @example
   * ```ts
   * const detach = store.attach(tracker);
   * ```
   */
  attach(tracker: UsageEventSource): () => void {
    this.assertOpen();
    if (!this.spool) {
      throw new ValidationError('spoolPath', false, 'attach() needs a spool to make tracker events durable; do not set spoolPath: false');
    }
    this.openSpool();
    return this.attachments.attach(tracker);
  }

  /** One page of events, oldest first (by timestamp, then id). Pass `nextCursor` back for the next page. */
  async query(query: UsageQuery = {}): Promise<UsagePage> {
    const q = normalizeQuery(query);
    await this.ensureOpen();
    const params: unknown[] = [];
    const param = (v: unknown): string => (params.push(v), `$${params.length}`);
    const where = filterConditions(q, param);
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
   * Waits until every event handed to the store so far (and any replayed from the spool) is committed
   * in PostgreSQL. Rejects with `STORE_UNAVAILABLE` if a write fails meanwhile; the events stay in the
   * spool and the background writer keeps retrying.
   */
  async flush(): Promise<void> {
    if (!this.spool) {
      await Promise.allSettled([...this.direct]);
      return;
    }
    if (this.closed) return;
    this.openSpool();
    const target = this.spool.end;
    if (this.pendingCount === 0 || this.confirmedTo >= target) return;
    await new Promise<void>((resolve, reject) => {
      this.flushWaiters.push({ target, resolve, reject });
      this.kick(true);
    });
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
    this.cancelBackoff();
    try {
      await this.flush();
    } catch {
      // Reported below as pending events.
    }
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.cancelBackoff();
    await this.running;
    for (const wake of this.capacityWaiters.splice(0)) wake();
    if (this.spool?.isOpen) {
      if (this.pendingCount > 0) {
        this.warn({
          code: 'STORE_CLOSED_WITH_PENDING',
          message: `${this.pendingCount} usage events were not yet written to ${this.describe()}; they stay in ${this.spoolPath} and are replayed on next open`,
        });
      }
      this.spool.close();
    }
    this.spoolHealth?.stop();
    if (this.ownsPool) await this.pool.end();
  }

  /** Spools events synchronously and queues them (or leaves them to be read back from the spool). */
  private enqueueSync(events: readonly UsageEvent[]): void {
    const list = assertUsageEvents(events);
    if (this.closing && this.closed) throw new UsageStoreError('STORE_CLOSED', this.describe(), `usage store ${this.describe()} is closed`);
    const spool = this.spool!;
    this.openSpool();
    const refusal = this.spoolHealth!.refusal;
    if (refusal) throw new UsageStoreError('STORE_NOT_READY', spool.path, `usage store cannot keep events: ${refusal}`);
    let written: { start: number; ends: number[] };
    try {
      written = spool.append(list);
      this.spoolHealth!.noteWrite();
    } catch (err) {
      this.spoolHealth!.noteWrite(err);
      throw err;
    }
    const { start, ends } = written;
    this.pendingCount += list.length;
    if (this.overflowFrom === undefined && this.queue.length + list.length <= this.maxQueue) {
      for (let i = 0; i < list.length; i++) this.queue.push({ event: list[i]!, end: ends[i]! });
    } else if (this.overflowFrom === undefined) {
      this.overflowFrom = start;
    }
    this.kick(false);
  }

  private openSpool(): void {
    if (!this.spool || this.spool.isOpen || this.closed) return;
    const recovery = this.spool.open();
    this.spoolHealth!.start();
    this.recovery = recovery;
    this.confirmedTo = this.spool.start;
    if (recovery.lines > 0) {
      this.pendingCount += recovery.lines;
      this.overflowFrom = this.spool.start;
      this.kick(true);
    }
  }

  /** Starts the writer now (full batch, overflow, flush requested) or after `flushIntervalMs`. */
  private kick(now: boolean): void {
    if (this.closed || !this.spool) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    const urgent = now || this.queue.length >= this.batchSize || this.overflowFrom !== undefined || this.flushWaiters.length > 0;
    if (urgent) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.running = this.writeLoop()
        .catch((err: unknown) => this.noteFailure(err))
        .finally(() => {
        this.running = undefined;
        if (this.rerun) {
          this.rerun = false;
          this.kick(false);
        }
      });
    } else if (!this.timer && this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick(true);
      }, this.flushIntervalMs);
    }
  }

  private async writeLoop(): Promise<void> {
    const spool = this.spool!;
    let first = true;
    while (!this.closed) {
      if (this.queue.length === 0 && this.overflowFrom !== undefined) this.refill(spool);
      if (this.queue.length === 0) break;
      const urgent = first || this.queue.length >= this.batchSize || this.overflowFrom !== undefined || this.flushWaiters.length > 0 || this.closing;
      if (!urgent) {
        this.rerun = false;
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.kick(true);
        }, this.flushIntervalMs);
        break;
      }
      first = false;
      const batch = this.queue.slice(0, this.probe ?? this.batchSize);
      try {
        await this.ensureOpen();
        await this.insert(batch.map((e) => e.event));
      } catch (err) {
        if (isDataError(err)) {
          // The database refuses something in this batch: halve until the culprit is alone, then set
          // it aside in the rejected file (kept, reported) so the events behind it are not held up.
          if (batch.length > 1) {
            this.probe = Math.ceil(batch.length / 2);
            continue;
          }
          this.reject(spool, batch[0]!, err);
          continue;
        }
        this.noteFailure(err);
        if (this.closing) break;
        await this.sleepBackoff();
        continue;
      }
      if (this.probe !== undefined && batch.length >= this.probe) this.probe = undefined;
      this.failures = 0;
      this.lastError = undefined;
      this.queue.splice(0, batch.length);
      this.pendingCount -= batch.length;
      this.confirm(spool, batch[batch.length - 1]!.end);
    }
  }

  /** Moves one event the database refuses to `<spool>.rejected` (JSON lines) and reports it. */
  private reject(spool: EventSpool, entry: SpoolEntry, err: unknown): void {
    const file = `${spool.path}.rejected`;
    appendFileSync(file, JSON.stringify({ event: entry.event, error: (err as Error).message ?? String(err) }) + '\n');
    this.warn({
      code: 'STORE_EVENT_REJECTED',
      message: `${this.describe()} refused usage event ${entry.event.id} (${(err as Error).message ?? String(err)}); kept in ${file}`,
    });
    this.queue.shift();
    this.pendingCount -= 1;
    this.probe = undefined;
    this.confirm(spool, entry.end);
  }

  /** Loads events that overflowed the queue (or were left by a crash) back from the spool. */
  private refill(spool: EventSpool): void {
    const from = this.overflowFrom!;
    const { entries, next, skipped } = spool.read(from, this.maxQueue);
    this.pendingCount -= skipped;
    this.overflowFrom = next >= spool.end ? undefined : next;
    if (entries.length > 0) {
      entries[entries.length - 1]!.end = next;
      this.queue.push(...entries);
    } else {
      this.confirm(spool, next);
    }
    if (this.overflowFrom === undefined) this.wakeCapacity();
  }

  private confirm(spool: EventSpool, upTo: number): void {
    if (upTo > this.confirmedTo) {
      this.confirmedTo = upTo;
      spool.confirm(upTo);
    }
    if (this.pendingCount < 0) this.pendingCount = 0;
    const waiting = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiting) {
      if (w.target <= this.confirmedTo || this.pendingCount === 0) w.resolve();
      else this.flushWaiters.push(w);
    }
    this.wakeCapacity();
  }

  private wakeCapacity(): void {
    if (this.overflowFrom !== undefined || this.queue.length >= this.maxQueue) return;
    for (const wake of this.capacityWaiters.splice(0)) wake();
  }

  private noteFailure(err: unknown): void {
    const error = translatePgError(err, this.describe());
    this.lastError = error;
    this.failures++;
    if (this.failures === 1) {
      this.warn({
        code: 'STORE_WRITE_FAILED',
        message: `writing usage events to ${this.describe()} failed (${(error as Error).message ?? String(error)}); ` +
          `${this.pendingCount} events kept in ${this.spoolPath ?? 'memory'}, retrying`,
      });
    }
    const failure = new UsageStoreError(
      'STORE_UNAVAILABLE',
      this.describe(),
      `usage store ${this.describe()} is unavailable (${(error as Error).message ?? String(error)}); ` +
        `${this.pendingCount} events are kept in ${this.spoolPath} and retried`,
      { cause: error },
    );
    for (const w of this.flushWaiters.splice(0)) w.reject(failure);
  }

  private async sleepBackoff(): Promise<void> {
    const ms = Math.min(5000, 100 * 2 ** Math.min(this.failures - 1, 6));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      // Spooled events are safe on disk: a process with nothing else to do may exit while the database is down.
      if (this.flushWaiters.length === 0 && !this.closing) timer.unref();
      this.backoff = { timer, resolve };
    });
    this.backoff = undefined;
  }

  private cancelBackoff(): void {
    if (!this.backoff) return;
    clearTimeout(this.backoff.timer);
    this.backoff.resolve();
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

function whereClause(where: string[]): string {
  return where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
}

/** A connection string with its password replaced by `***`, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:***@');
  }
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity): retrying the same rows cannot succeed. */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'EAI_AGAIN']);

/** Maps connection, authentication and missing-database errors to `STORE_UNAVAILABLE`. */
function translatePgError(err: unknown, target: string): unknown {
  if (err instanceof UsageStoreError || err instanceof ValidationError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08') || code === '28P01' || code === '28000' || code === '3D000')) {
    return new UsageStoreError('STORE_UNAVAILABLE', target, `cannot reach ${target}: ${message || code}`, { cause: err });
  }
  if (err instanceof AggregateError && err.errors.length > 0) {
    return translatePgError(err.errors[0], target);
  }
  return err;
}
