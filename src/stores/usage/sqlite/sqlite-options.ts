import type Database from 'better-sqlite3';
import { z } from 'zod';
import { ValidationError } from '../../../core/errors.js';
import { parseOptions } from '../../../core/options.js';
import { resolveDefaultDbPath } from './default-db-path.js';

/** Options of {@link SqliteUsageStore}. */
export interface SqliteUsageStoreOptions {
  /**
   * Database file. Default: {@link resolveDefaultDbPath} (`$TOKENWARDEN_DB`, else
   * `./.tokenwarden/usage.db`). Its directory is created when missing (unless `readonly`).
   */
  path?: string;
  /** A better-sqlite3 connection you already have. The store uses it and never closes it. */
  db?: Database.Database;
  /**
   * `PRAGMA synchronous` in WAL mode.
   * - `'NORMAL'` (default): each commit is written to the WAL file before `appendSync` returns, so it
   *   survives `kill -9` or a crash of this process; a power loss or OS crash may lose the last
   *   commits (never corrupts the file).
   * - `'FULL'`: every commit is also fsynced, so it survives power loss too; appends become as slow as
   *   the disk's fsync (often 1-10 ms each).
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** How long to wait for another connection's lock before failing with `STORE_LOCKED`. Default 5000 ms. */
  busyTimeoutMs?: number;
  /** Open an existing database for reading only (no migrations, no writes), e.g. for reports. */
  readonly?: boolean;
  /**
   * Where {@link SqliteUsageStore.append} commits:
   * - `'inline'` (default): on the caller's thread, like {@link SqliteUsageStore.appendSync}.
   * - `'thread'`: on a worker thread with its own connection to the same file, so commits (and WAL
   *   checkpoints) cost the caller's event loop almost nothing. `append` still resolves only once the
   *   events are committed; batches queued while one commits are committed together. `appendSync` and
   *   `attach` keep writing on the caller's thread. Needs a database file (not `:memory:`).
   */
  writer?: 'inline' | 'thread';
  /**
   * Where queries, counts, summaries and daily series run:
   * - `'thread'` (default for a database file the store opens itself): on a worker thread with its own
   *   read-only connection, started on the first read, so a summary over millions of events never
   *   stalls the caller's event loop.
   * - `'inline'` (default for `:memory:` and a passed-in `db`): on the caller's thread, e.g. for a
   *   one-shot report that has no event loop to protect.
   */
  reader?: 'inline' | 'thread';
}

/** Options with defaults applied, checked up front (each problem names its option). */
export interface ResolvedSqliteOptions {
  db: Database.Database | undefined;
  path: string;
  synchronous: 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
  readonly: boolean;
  writer: 'inline' | 'thread';
  reader: 'inline' | 'thread';
}

const SqliteOptionsSchema = z.object({
  db: z
    .custom<Database.Database>((v) => typeof v === 'object' && v !== null && typeof (v as { prepare?: unknown }).prepare === 'function', {
      error: 'must be a better-sqlite3 Database',
    })
    .optional(),
  path: z.string({ error: 'must be a non-empty file path' }).min(1, { error: 'must be a non-empty file path' }).optional(),
  synchronous: z.enum(['NORMAL', 'FULL'], { error: "must be 'NORMAL' or 'FULL'" }).default('NORMAL'),
  busyTimeoutMs: z
    .number({ error: 'must be an integer >= 0' })
    .int({ error: 'must be an integer >= 0' })
    .min(0, { error: 'must be an integer >= 0' })
    .default(5000),
  readonly: z.boolean({ error: 'must be true or false' }).default(false),
  writer: z.enum(['inline', 'thread'], { error: "must be 'inline' or 'thread'" }).default('inline'),
  reader: z.enum(['inline', 'thread'], { error: "must be 'inline' or 'thread'" }).optional(),
});

/** Validates {@link SqliteUsageStoreOptions} (each problem names its option) and applies the defaults. */
export function resolveOptions(options: SqliteUsageStoreOptions): ResolvedSqliteOptions {
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
  const { db, synchronous, busyTimeoutMs, readonly, writer, ...o } = parseOptions(SqliteOptionsSchema, options);
  if (db !== undefined && o.path !== undefined) throw new ValidationError('path', o.path, 'pass either path or db, not both');
  const fileBacked = db === undefined && o.path !== ':memory:' && o.path !== '';
  const reader = o.reader ?? (fileBacked ? 'thread' : 'inline');
  const isReadonly = readonly || (db?.readonly ?? false);
  const path = db ? db.name : (o.path ?? resolveDefaultDbPath());
  if (writer === 'thread' && isReadonly) throw new ValidationError('writer', writer, 'a read-only store has no writer thread');
  if (writer === 'thread' && (path === ':memory:' || path === '')) {
    throw new ValidationError('writer', writer, 'needs a database file: an in-memory database cannot be shared with a thread');
  }
  if (reader === 'thread' && (path === ':memory:' || path === '')) {
    throw new ValidationError('reader', reader, 'needs a database file: an in-memory database cannot be shared with a thread');
  }
  return { db, path, synchronous, busyTimeoutMs, readonly: isReadonly, writer, reader };
}
