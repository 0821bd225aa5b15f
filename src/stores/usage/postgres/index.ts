/**
 * `tokenwarden/postgres`: the PostgreSQL usage store. Importing it loads `pg` only.
 *
 * @example
 * ```ts
 * import { PostgresUsageStore } from 'tokenwarden/postgres';
 * const store = new PostgresUsageStore({ connectionString: process.env.DATABASE_URL });
 * ```
 */
export {
  PostgresUsageStore,
  redact,
  type PostgresStoreWarning,
  type PostgresUsageStoreOptions,
} from './postgres-usage-store.js';
export { resolveDefaultSpoolPath } from './default-spool-path.js';
export { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION, type PostgresMigration, type PostgresTarget } from './postgres-migrations.js';
export { EventSpool, type EventSpoolOptions, type SpoolEntry, type SpoolRecovery, type SpoolWarning } from '../spool/event-spool.js';
export { UsageStoreError, type UsageStoreErrorCode } from '../../../usage/store-error.js';
export type { UsageEventSource } from '../../../usage/tracker-attachment.js';
export type {
  BillingSummary,
  DailyPoint,
  UsageAggregate,
  UsageFilter,
  UsagePage,
  UsageQuery,
  UsageStore,
} from '../../../usage/usage-store.js';
