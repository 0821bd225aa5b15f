import pg from 'pg';
import { z } from 'zod';
import { ValidationError } from '../../../core/errors.js';
import { parseOptions } from '../../../core/options.js';
import { redactUrl } from '../../../core/redact-url.js';
import type { SpoolWarning } from '../spool/event-spool.js';
import { resolveDefaultSpoolPath } from './default-spool-path.js';

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

/** Options with defaults applied; `pool` is the one given, or undefined when the store creates its own. */
export interface ResolvedPostgresOptions {
  pool: pg.Pool | undefined;
  connectionString: string | undefined;
  schema: string;
  table: string;
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
  spoolPath: string | undefined;
  fsyncSpool: boolean;
  migrate: boolean;
  warn: (warning: PostgresStoreWarning) => void;
}

const IDENT_ERROR = 'must be an identifier of letters, digits and _ (at most 40, not starting with a digit)';
const identifier = z.string({ error: IDENT_ERROR }).regex(/^[A-Za-z_][A-Za-z0-9_]{0,39}$/, { error: IDENT_ERROR });
/** An integer from `min` to `max`, every failure with the same message. */
function integer(min: number, max: number, error: string): z.ZodNumber {
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}
const isPool = (v: unknown): boolean => {
  const p = v as { query?: unknown; connect?: unknown } | null;
  return typeof p === 'object' && p !== null && typeof p.query === 'function' && typeof p.connect === 'function';
};

const PostgresOptionsSchema = z.object({
  pool: z.custom<pg.Pool>(isPool, { error: 'must be a pg.Pool' }).optional(),
  // Checked by hand below: its value is redacted in messages.
  connectionString: z.unknown().optional(),
  schema: identifier.default('public'),
  table: identifier.default('usage_events'),
  batchSize: integer(1, 10_000, 'must be an integer from 1 to 10000').default(500),
  flushIntervalMs: integer(0, Number.MAX_SAFE_INTEGER, 'must be an integer >= 0').default(50),
  maxQueue: integer(1, Number.MAX_SAFE_INTEGER, 'must be an integer >= 1').default(10_000),
  spoolPath: z.union([z.literal(false), z.string().min(1)], { error: 'must be a file path or false' }).optional(),
  fsyncSpool: z.boolean({ error: 'must be true or false' }).default(false),
  migrate: z.boolean({ error: 'must be true or false' }).default(true),
  onWarning: z.custom<(warning: PostgresStoreWarning) => void>((v) => typeof v === 'function', { error: 'must be a function' }).optional(),
});

/** Validates {@link PostgresUsageStoreOptions} (each problem names its option) and applies the defaults. */
export function resolvePostgresOptions(options: PostgresUsageStoreOptions): ResolvedPostgresOptions {
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
  const o = parseOptions(PostgresOptionsSchema, options);
  const connectionString = o.connectionString;
  if (o.pool !== undefined && connectionString !== undefined) {
    throw new ValidationError('connectionString', redactUrl(String(connectionString)), 'pass either pool or connectionString, not both');
  }
  if (o.pool === undefined && (typeof connectionString !== 'string' || connectionString.length === 0)) {
    throw new ValidationError('connectionString', connectionString, 'must be a postgres:// URL when no pool is given');
  }
  return {
    pool: o.pool,
    connectionString: connectionString as string | undefined,
    schema: o.schema,
    table: o.table,
    batchSize: o.batchSize,
    flushIntervalMs: o.flushIntervalMs,
    maxQueue: o.maxQueue,
    spoolPath: o.spoolPath === false ? undefined : (o.spoolPath ?? resolveDefaultSpoolPath(o.schema, o.table)),
    fsyncSpool: o.fsyncSpool,
    migrate: o.migrate,
    warn: o.onWarning ?? ((w) => process.emitWarning(w.message, { code: w.code })),
  };
}
