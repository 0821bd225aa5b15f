/**
 * `tokenwarden/postgres`: the PostgreSQL usage store. Importing it loads `pg` only.
 *
 * @example
 * ```ts
 * import { PostgresUsageStore } from 'tokenwarden/postgres';
 * const store = new PostgresUsageStore({ connectionString: process.env.DATABASE_URL });
 * ```
 */
export { PostgresUsageStore } from './postgres-usage-store.js';
export type { PostgresStoreWarning, PostgresUsageStoreOptions } from './postgres-options.js';
/** A connection string with its password replaced by `***`, for messages (the shared `redactUrl`). */
export { redactUrl as redact } from '../../../core/redact-url.js';
export { resolveDefaultSpoolPath } from './default-spool-path.js';
export { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION, type PostgresMigration, type PostgresTarget } from './postgres-migrations.js';
export { EventSpool, type EventSpoolOptions, type SpoolEntry, type SpoolRecovery, type SpoolWarning } from '../spool/event-spool.js';
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
