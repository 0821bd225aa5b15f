import type Database from 'better-sqlite3';
import { UsageStoreError } from '../../../usage/store-error.js';

/** One forward schema change. Migrations are applied in order, each recorded in `tokenwarden_migrations`. */
export interface SqliteMigration {
  version: number;
  name: string;
  sql: string;
}

/** The SQLite schema, version by version. Append new versions; never edit an applied one. */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'create usage_events',
    sql: `
      CREATE TABLE usage_events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        ts INTEGER NOT NULL,
        org_id TEXT,
        user_id TEXT,
        thread_id TEXT,
        agent_id TEXT,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        total_tokens INTEGER NOT NULL,
        cached_prompt_tokens INTEGER,
        cache_write_tokens INTEGER,
        reasoning_tokens INTEGER,
        latency_ms REAL NOT NULL,
        cost_nanos INTEGER,
        metadata TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX usage_events_ts_id ON usage_events (ts, id);
      CREATE INDEX usage_events_org_ts ON usage_events (org_id, ts);
      CREATE INDEX usage_events_user_ts ON usage_events (user_id, ts);
      CREATE INDEX usage_events_agent_ts ON usage_events (agent_id, ts);
      CREATE INDEX usage_events_model_ts ON usage_events (model, ts);
      CREATE INDEX usage_events_provider_ts ON usage_events (provider, ts);
      CREATE INDEX usage_events_thread_ts ON usage_events (thread_id, ts);
    `,
  },
  {
    version: 2,
    name: 'daily rollup maintained by triggers',
    // Whole-day sums per (org, agent, model, provider) so summaries and daily series read a few rows per
    // day instead of every event. Nullable keys are encoded ('' = null, '=' || value otherwise) because
    // NULLs never conflict in a UNIQUE key. Triggers keep it exact on insert, update and delete; an
    // ON CONFLICT DO NOTHING replay inserts nothing, so it is counted once.
    sql: `
      CREATE TABLE usage_daily (
        day INTEGER NOT NULL,
        org_key TEXT NOT NULL,
        agent_key TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        total_tokens INTEGER NOT NULL,
        request_count INTEGER NOT NULL,
        cost_nanos INTEGER NOT NULL,
        PRIMARY KEY (day, org_key, agent_key, model, provider)
      ) WITHOUT ROWID;
      CREATE INDEX usage_daily_org_day ON usage_daily (org_key, day);
      INSERT INTO usage_daily
        SELECT ts / 86400000, ${key('org_id')}, ${key('agent_id')}, model, provider, SUM(prompt_tokens),
               SUM(completion_tokens), SUM(total_tokens), COUNT(*), COALESCE(SUM(cost_nanos), 0)
        FROM usage_events GROUP BY 1, 2, 3, 4, 5;
      CREATE TRIGGER usage_events_daily_insert AFTER INSERT ON usage_events BEGIN
        ${addRow('NEW')}
      END;
      CREATE TRIGGER usage_events_daily_delete AFTER DELETE ON usage_events BEGIN
        ${subtractRow('OLD')}
      END;
      CREATE TRIGGER usage_events_daily_update
      AFTER UPDATE OF ts, org_id, agent_id, model, provider, prompt_tokens, completion_tokens, total_tokens, cost_nanos
      ON usage_events BEGIN
        ${subtractRow('OLD')}
        ${addRow('NEW')}
      END;
    `,
  },
  {
    version: 3,
    name: 'drop secondary indexes the rollup made redundant',
    // Summaries and daily series by agent, model or provider read the rollup, and event pages filtered by
    // them (or by user) are bounded by time through usage_events_ts_id. Each index cost every insert a
    // b-tree write; the ones kept serve pagination (ts, id), tenants (org_id, ts) and threads (thread_id, ts).
    sql: `
      DROP INDEX IF EXISTS usage_events_user_ts;
      DROP INDEX IF EXISTS usage_events_agent_ts;
      DROP INDEX IF EXISTS usage_events_model_ts;
      DROP INDEX IF EXISTS usage_events_provider_ts;
    `,
  },
  {
    version: 4,
    name: 'overspend_tokens column',
    // Tokens a provider reported beyond the call's reservation. Nullable without a default: SQLite only
    // edits the schema (no table rewrite) and inserts stay as fast as before.
    sql: 'ALTER TABLE usage_events ADD COLUMN overspend_tokens INTEGER;',
  },
  {
    version: 5,
    name: 'unpriced_count in the daily rollup',
    // Events whose model has no known price have no cost; the rollup summed them as 0, so a summary could
    // not tell "free" from "unpriced". Each rollup row now counts its unpriced events (backfilled from the
    // events in one grouped scan), and the triggers are replaced by ones that keep the count exact.
    sql: `
      ALTER TABLE usage_daily ADD COLUMN unpriced_count INTEGER NOT NULL DEFAULT 0;
      UPDATE usage_daily SET unpriced_count = u.n
        FROM (SELECT ts / 86400000 AS day, ${key('org_id')} AS org_key, ${key('agent_id')} AS agent_key, model, provider, COUNT(*) AS n
              FROM usage_events WHERE cost_nanos IS NULL GROUP BY 1, 2, 3, 4, 5) AS u
        WHERE usage_daily.day = u.day AND usage_daily.org_key = u.org_key AND usage_daily.agent_key = u.agent_key
          AND usage_daily.model = u.model AND usage_daily.provider = u.provider;
      DROP TRIGGER usage_events_daily_insert;
      DROP TRIGGER usage_events_daily_delete;
      DROP TRIGGER usage_events_daily_update;
      CREATE TRIGGER usage_events_daily_insert AFTER INSERT ON usage_events BEGIN
        ${addCountedRow('NEW')}
      END;
      CREATE TRIGGER usage_events_daily_delete AFTER DELETE ON usage_events BEGIN
        ${subtractCountedRow('OLD')}
      END;
      CREATE TRIGGER usage_events_daily_update
      AFTER UPDATE OF ts, org_id, agent_id, model, provider, prompt_tokens, completion_tokens, total_tokens, cost_nanos
      ON usage_events BEGIN
        ${subtractCountedRow('OLD')}
        ${addCountedRow('NEW')}
      END;
    `,
  },
];

/** The first schema version whose daily rollup counts unpriced events (older rollups cannot answer summaries). */
export const SQLITE_UNPRICED_ROLLUP_VERSION = 5;

function key(column: string): string {
  return `COALESCE('=' || ${column}, '')`;
}

function addRow(row: 'NEW'): string {
  return `INSERT INTO usage_daily VALUES (${row}.ts / 86400000, ${key(`${row}.org_id`)}, ${key(`${row}.agent_id`)},
          ${row}.model, ${row}.provider, ${row}.prompt_tokens, ${row}.completion_tokens, ${row}.total_tokens, 1,
          COALESCE(${row}.cost_nanos, 0))
        ON CONFLICT (day, org_key, agent_key, model, provider) DO UPDATE SET
          prompt_tokens = prompt_tokens + excluded.prompt_tokens,
          completion_tokens = completion_tokens + excluded.completion_tokens,
          total_tokens = total_tokens + excluded.total_tokens,
          request_count = request_count + 1,
          cost_nanos = cost_nanos + excluded.cost_nanos;`;
}

function subtractRow(row: 'OLD'): string {
  return `UPDATE usage_daily SET
          prompt_tokens = prompt_tokens - ${row}.prompt_tokens,
          completion_tokens = completion_tokens - ${row}.completion_tokens,
          total_tokens = total_tokens - ${row}.total_tokens,
          request_count = request_count - 1,
          cost_nanos = cost_nanos - COALESCE(${row}.cost_nanos, 0)
        WHERE day = ${row}.ts / 86400000 AND org_key = ${key(`${row}.org_id`)} AND agent_key = ${key(`${row}.agent_id`)}
          AND model = ${row}.model AND provider = ${row}.provider;`;
}

/** 1 when the event `row` has no cost (its model had no known price), else 0. */
function unpriced(row: 'NEW' | 'OLD'): string {
  return `(CASE WHEN ${row}.cost_nanos IS NULL THEN 1 ELSE 0 END)`;
}

/** Version 5's insert trigger body: {@link addRow} plus the unpriced count. */
function addCountedRow(row: 'NEW'): string {
  return `INSERT INTO usage_daily (day, org_key, agent_key, model, provider, prompt_tokens, completion_tokens, total_tokens,
          request_count, cost_nanos, unpriced_count)
        VALUES (${row}.ts / 86400000, ${key(`${row}.org_id`)}, ${key(`${row}.agent_id`)},
          ${row}.model, ${row}.provider, ${row}.prompt_tokens, ${row}.completion_tokens, ${row}.total_tokens, 1,
          COALESCE(${row}.cost_nanos, 0), ${unpriced(row)})
        ON CONFLICT (day, org_key, agent_key, model, provider) DO UPDATE SET
          prompt_tokens = prompt_tokens + excluded.prompt_tokens,
          completion_tokens = completion_tokens + excluded.completion_tokens,
          total_tokens = total_tokens + excluded.total_tokens,
          request_count = request_count + 1,
          cost_nanos = cost_nanos + excluded.cost_nanos,
          unpriced_count = unpriced_count + excluded.unpriced_count;`;
}

/** Version 5's delete trigger body: {@link subtractRow} plus the unpriced count. */
function subtractCountedRow(row: 'OLD'): string {
  return `UPDATE usage_daily SET
          prompt_tokens = prompt_tokens - ${row}.prompt_tokens,
          completion_tokens = completion_tokens - ${row}.completion_tokens,
          total_tokens = total_tokens - ${row}.total_tokens,
          request_count = request_count - 1,
          cost_nanos = cost_nanos - COALESCE(${row}.cost_nanos, 0),
          unpriced_count = unpriced_count - ${unpriced(row)}
        WHERE day = ${row}.ts / 86400000 AND org_key = ${key(`${row}.org_id`)} AND agent_key = ${key(`${row}.agent_id`)}
          AND model = ${row}.model AND provider = ${row}.provider;`;
}

/** The schema version this build writes. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]!.version;

/** The applied schema version (0 for a database tokenwarden never touched). */
export function sqliteSchemaVersion(db: Database.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tokenwarden_migrations'").get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM tokenwarden_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Brings the database to {@link SQLITE_SCHEMA_VERSION}. Pending migrations run in one IMMEDIATE
 * transaction (it takes the write lock first, so two processes opening a new file at once serialise
 * and the second sees the first's work). Returns the versions applied.
 */
export function migrateSqlite(db: Database.Database, target: string): number[] {
  const current = sqliteSchemaVersion(db);
  assertKnownVersion(current, target);
  if (current === SQLITE_SCHEMA_VERSION) return [];
  const applied: number[] = [];
  db.transaction(() => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS tokenwarden_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const now = sqliteSchemaVersion(db);
    assertKnownVersion(now, target);
    const record = db.prepare('INSERT INTO tokenwarden_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const m of SQLITE_MIGRATIONS) {
      if (m.version <= now) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
      applied.push(m.version);
    }
  }).immediate();
  return applied;
}

/** Throws unless `version` is one this build understands. */
export function assertKnownVersion(version: number, target: string): void {
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new UsageStoreError(
      'STORE_SCHEMA',
      target,
      `${target} has usage schema version ${version}, newer than this tokenwarden understands (${SQLITE_SCHEMA_VERSION}); upgrade tokenwarden`,
    );
  }
}
