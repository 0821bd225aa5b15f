import type Database from 'better-sqlite3';
import { eventToRow, USAGE_COLUMNS, type UsageRowValues } from '../shared/usage-row.js';
import type { UsageEvent } from '../../../usage/types.js';
import type { SqliteHealth } from './sqlite-health.js';
import { translateSqliteError } from './sqlite-errors.js';
import { SqliteWriterThread } from './sqlite-writer-thread.js';

/** WAL pages (4 KiB each) after which a commit checkpoints by itself; the timer normally gets there first. */
export const WAL_AUTOCHECKPOINT_PAGES = 8000;
/** How often a store that owns its file checkpoints the WAL (PASSIVE: never waits for readers or writers). */
const CHECKPOINT_INTERVAL_MS = 1000;

/** What {@link SqliteWriter} writes with. */
export interface SqliteWriterOptions {
  db: Database.Database;
  path: string;
  /** Whether the store opened `db` itself (then it checkpoints the WAL on a timer). */
  ownsDb: boolean;
  writer: 'inline' | 'thread';
  synchronous: 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
  health: SqliteHealth;
}

/**
 * The write side of {@link SqliteUsageStore}: `INSERT ... ON CONFLICT(id) DO NOTHING` on the caller's
 * thread (one transaction for several events, `BEGIN IMMEDIATE`), or on a writer thread with its own
 * connection, plus the WAL checkpoints of a store that owns its file. A write that fails for lack of
 * space or an I/O error is reported to the store's health.
 */
export class SqliteWriter {
  private readonly insert: Database.Statement<unknown[], unknown>;
  private readonly insertMany: (rows: readonly UsageRowValues[]) => number;
  private readonly thread: SqliteWriterThread | undefined;
  private readonly o: SqliteWriterOptions;
  private checkpointTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(options: SqliteWriterOptions) {
    this.o = options;
    const { db, path } = options;
    const placeholders = USAGE_COLUMNS.map(() => '?').join(', ');
    const insert = db.prepare(
      `INSERT INTO usage_events (${USAGE_COLUMNS.join(', ')}) VALUES (${placeholders}) ON CONFLICT(id) DO NOTHING`,
    );
    this.insert = insert;
    const many = db.transaction((rows: readonly UsageRowValues[]) => {
      let stored = 0;
      for (const row of rows) stored += insert.run(...row).changes;
      return stored;
    });
    // BEGIN IMMEDIATE takes the write lock up front (waiting up to busy_timeout) instead of upgrading a read lock later.
    this.insertMany = (rows) => many.immediate(rows);
    if (options.writer === 'thread') {
      this.thread = new SqliteWriterThread(
        {
          path,
          insertSql: insert.source,
          synchronous: options.synchronous,
          busyTimeoutMs: options.busyTimeoutMs,
          walAutocheckpointPages: WAL_AUTOCHECKPOINT_PAGES,
          checkpointIntervalMs: CHECKPOINT_INTERVAL_MS,
        },
        // The thread died: its unanswered batches are committed here instead.
        (rows) => this.guardWrite(() => this.insertMany(rows)),
      );
    } else if (options.ownsDb && path !== ':memory:' && path !== '') this.startCheckpoints();
  }

  /** Whether commits happen on the writer thread. */
  get onThread(): boolean {
    return this.thread !== undefined;
  }

  /** Events handed to the writer thread and not yet committed (always 0 inline). */
  get pending(): number {
    return this.thread?.pending ?? 0;
  }

  /** Commits events here before returning; returns how many were newly stored. */
  writeSync(list: readonly UsageEvent[]): number {
    return this.guardWrite(() =>
      list.length === 1 ? this.insert.run(...eventToRow(list[0]!)).changes : this.insertMany(list.map(eventToRow)),
    );
  }

  /** Commits events on the writer thread (here without one); resolves once they are committed. */
  async write(list: readonly UsageEvent[]): Promise<void> {
    if (!this.thread) {
      this.writeSync(list);
      return;
    }
    try {
      await this.thread.write(list.map(eventToRow));
    } catch (err) {
      this.o.health.noteWriteError(err);
      throw translateSqliteError(err, this.o.path);
    }
  }

  /** Waits for the writer thread's commits in progress. */
  async flush(): Promise<void> {
    await this.thread?.flush();
  }

  /** Lets the writer thread commit what it was given and stop; stops checkpointing. */
  async close(): Promise<void> {
    this.closed = true;
    await this.thread?.close();
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
  }

  /**
   * Copies committed WAL pages back into the database file between appends rather than inside one:
   * SQLite's own auto-checkpoint runs in the commit that crosses its threshold (a latency spike for
   * whichever call made it), and checkpointing every 1000 pages rewrites hot pages (index tails, the
   * rollup) far more often than needed. Commits are in the WAL before they return either way, so
   * durability is unchanged; the raised auto-checkpoint remains as a bound on the WAL's size.
   */
  private startCheckpoints(): void {
    const { db, health } = this.o;
    this.checkpointTimer = setInterval(() => {
      if (this.closed || !db.open) return;
      // A checkpoint writes to the WAL index: make sure it still can be written first.
      health.check();
      if (health.untouchable) return;
      try {
        db.pragma('wal_checkpoint(PASSIVE)');
      } catch {
        // Busy or locked by another connection: the next tick (or SQLite's auto-checkpoint) catches up.
      }
    }, CHECKPOINT_INTERVAL_MS);
    this.checkpointTimer.unref();
  }

  /** Runs a write, turning SQLite errors into store errors; a storage failure also makes the store not ready. */
  private guardWrite<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      this.o.health.noteWriteError(err);
      throw translateSqliteError(err, this.o.path);
    }
  }
}
