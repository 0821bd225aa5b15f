import type { UsageStore } from '../../usage/usage-store.js';
import type { ReportArgs } from './types.js';

/** A store opened for the report, and how to close it (and its pool). */
export interface OpenedStore {
  store: UsageStore;
  dispose: () => Promise<void>;
}

/**
 * Opens the usage store the arguments name, read-only: PostgreSQL when a URL is given (no migration, no
 * spool), else the SQLite file. Drivers are loaded on demand, so a SQLite report never loads `pg`.
 */
export async function openReportStore(args: ReportArgs): Promise<OpenedStore> {
  if (args.databaseUrl !== undefined) return openPostgres(args, args.databaseUrl);
  const { SqliteUsageStore, resolveDefaultDbPath } = await import('../../stores/usage/sqlite/index.js');
  const path = args.db ?? resolveDefaultDbPath(args.env);
  const store = new SqliteUsageStore({ path, readonly: true, busyTimeoutMs: args.lockTimeoutMs });
  return { store, dispose: () => store.close() };
}

async function openPostgres(args: ReportArgs, databaseUrl: string): Promise<OpenedStore> {
  const [{ default: pg }, { PostgresUsageStore }] = await Promise.all([import('pg'), import('../../stores/usage/postgres/index.js')]);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => {});
  const store = new PostgresUsageStore({
    pool,
    schema: args.schema,
    table: args.table,
    spoolPath: false,
    migrate: false,
    onWarning: () => {},
  });
  const dispose = async (): Promise<void> => {
    await store.close();
    await pool.end();
  };
  try {
    await store.open();
  } catch (err) {
    await dispose().catch(() => {});
    throw err;
  }
  return { store, dispose };
}
