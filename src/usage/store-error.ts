import { TokenwardenError } from '../core/errors.js';

/** Why a usage store could not do what was asked. */
export type UsageStoreErrorCode =
  | 'STORE_NOT_FOUND'
  | 'STORE_UNREADABLE'
  | 'STORE_LOCKED'
  | 'STORE_SCHEMA'
  | 'STORE_UNAVAILABLE'
  | 'STORE_CLOSED'
  | 'STORE_NOT_READY'
  | 'SPOOL_LOCKED'
  | 'SPOOL_IO';

/**
 * A usage store (SQLite file, PostgreSQL table or local spool) is missing, unreadable, locked, of an
 * unknown schema version or unreachable. `target` names the file path or `schema.table` involved.
 *
 * @example
 * ```ts
 * try { new SqliteUsageStore({ path: 'missing.db', readonly: true }); }
 * catch (err) { if (err instanceof UsageStoreError && err.code === 'STORE_NOT_FOUND') console.error(err.message); }
 * ```
 */
export class UsageStoreError extends TokenwardenError {
  override readonly code: UsageStoreErrorCode;
  /** The database file, `schema.table` or spool file concerned. */
  readonly target: string;

  constructor(code: UsageStoreErrorCode, target: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.code = code;
    this.target = target;
  }
}
