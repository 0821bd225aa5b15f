/**
 * `tokenwarden/sqlite`: the embedded SQLite usage store. Importing it loads better-sqlite3 only.
 *
 * @example
 * ```ts
 * import { SqliteUsageStore } from 'tokenwarden/sqlite';
 * const store = new SqliteUsageStore(); // $TOKENWARDEN_DB or ./.tokenwarden/usage.db
 * ```
 */
export { SqliteUsageStore } from './sqlite-usage-store.js';
export type { SqliteUsageStoreOptions } from './sqlite-options.js';
export { resolveDefaultDbPath } from './default-db-path.js';
export { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION, type SqliteMigration } from './sqlite-migrations.js';
export { UsageStoreError, type UsageStoreErrorCode } from '../../../usage/store-error.js';
export type { UsageEventSource } from '../../../usage/tracker-attachment.js';
export type {
  BillingSummary,
  DailyPoint,
  HourlyPoint,
  UsageAggregate,
  UsageFilter,
  UsagePage,
  UsageQuery,
  UsageStore,
} from '../../../usage/usage-store.js';
