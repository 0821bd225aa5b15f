import type { Pool, PoolClient } from 'pg';
import { UsageStoreError } from '../../../usage/store-error.js';

/** Where the usage table lives: validated, unquoted identifiers. */
export interface PostgresTarget {
  schema: string;
  table: string;
}

/** One forward schema change, as SQL statements built for a given schema and table. */
export interface PostgresMigration {
  version: number;
  name: string;
  statements(t: PostgresTarget): string[];
}

/** `"schema"."name"`. Identifiers are validated to `[A-Za-z_][A-Za-z0-9_]*` before reaching here. */
export function qualified(t: PostgresTarget, name: string = t.table): string {
  return `"${t.schema}"."${name}"`;
}

/** The PostgreSQL schema, version by version. Append new versions; never edit an applied one. */
const DAILY_COLUMNS = 'day, org_key, agent_key, model, provider, prompt_tokens, completion_tokens, total_tokens, request_count, cost_nanos';

/** Whole-day sums of `rows` (a table or a trigger's transition table), keyed as in the daily rollup. */
function groupedByDay(rows: string): string {
  return `SELECT ts / 86400000 AS day, COALESCE('=' || org_id, '') AS org_key, COALESCE('=' || agent_id, '') AS agent_key, model, provider,
                SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, SUM(total_tokens) AS total_tokens,
                COUNT(*) AS request_count, COALESCE(SUM(cost_nanos), 0) AS cost_nanos
         FROM ${rows} GROUP BY 1, 2, 3, 4, 5`;
}

/** The trigger function folding each INSERT/UPDATE/DELETE into the daily rollup `r`. */
function dailyApplyFunction(fn: string, r: string): string {
  return `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $body$
  BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
      UPDATE ${r} AS d SET
        prompt_tokens = d.prompt_tokens - o.prompt_tokens,
        completion_tokens = d.completion_tokens - o.completion_tokens,
        total_tokens = d.total_tokens - o.total_tokens,
        request_count = d.request_count - o.request_count,
        cost_nanos = d.cost_nanos - o.cost_nanos
      FROM (${groupedByDay('old_rows')}) AS o
      WHERE d.day = o.day AND d.org_key = o.org_key AND d.agent_key = o.agent_key AND d.model = o.model AND d.provider = o.provider;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      INSERT INTO ${r} AS d (${DAILY_COLUMNS})
      SELECT * FROM (${groupedByDay('new_rows')}) AS n ORDER BY day, org_key, agent_key, model, provider
      ON CONFLICT (day, org_key, agent_key, model, provider) DO UPDATE SET
        prompt_tokens = d.prompt_tokens + EXCLUDED.prompt_tokens,
        completion_tokens = d.completion_tokens + EXCLUDED.completion_tokens,
        total_tokens = d.total_tokens + EXCLUDED.total_tokens,
        request_count = d.request_count + EXCLUDED.request_count,
        cost_nanos = d.cost_nanos + EXCLUDED.cost_nanos;
    END IF;
    RETURN NULL;
  END
  $body$`;
}

/** Version 4's rollup columns: {@link DAILY_COLUMNS} and the count of unpriced events. */
const COUNTED_DAILY_COLUMNS = `${DAILY_COLUMNS}, unpriced_count`;

/** {@link groupedByDay} plus `unpriced_count`, the events without a cost (their model had no known price). */
function countedByDay(rows: string): string {
  return `SELECT ts / 86400000 AS day, COALESCE('=' || org_id, '') AS org_key, COALESCE('=' || agent_id, '') AS agent_key, model, provider,
                SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, SUM(total_tokens) AS total_tokens,
                COUNT(*) AS request_count, COALESCE(SUM(cost_nanos), 0) AS cost_nanos, COUNT(*) - COUNT(cost_nanos) AS unpriced_count
         FROM ${rows} GROUP BY 1, 2, 3, 4, 5`;
}

/** Version 4's trigger function: {@link dailyApplyFunction} keeping `unpriced_count` exact too. */
function countedApplyFunction(fn: string, r: string): string {
  return `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $body$
  BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
      UPDATE ${r} AS d SET
        prompt_tokens = d.prompt_tokens - o.prompt_tokens,
        completion_tokens = d.completion_tokens - o.completion_tokens,
        total_tokens = d.total_tokens - o.total_tokens,
        request_count = d.request_count - o.request_count,
        cost_nanos = d.cost_nanos - o.cost_nanos,
        unpriced_count = d.unpriced_count - o.unpriced_count
      FROM (${countedByDay('old_rows')}) AS o
      WHERE d.day = o.day AND d.org_key = o.org_key AND d.agent_key = o.agent_key AND d.model = o.model AND d.provider = o.provider;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      INSERT INTO ${r} AS d (${COUNTED_DAILY_COLUMNS})
      SELECT * FROM (${countedByDay('new_rows')}) AS n ORDER BY day, org_key, agent_key, model, provider
      ON CONFLICT (day, org_key, agent_key, model, provider) DO UPDATE SET
        prompt_tokens = d.prompt_tokens + EXCLUDED.prompt_tokens,
        completion_tokens = d.completion_tokens + EXCLUDED.completion_tokens,
        total_tokens = d.total_tokens + EXCLUDED.total_tokens,
        request_count = d.request_count + EXCLUDED.request_count,
        cost_nanos = d.cost_nanos + EXCLUDED.cost_nanos,
        unpriced_count = d.unpriced_count + EXCLUDED.unpriced_count;
    END IF;
    RETURN NULL;
  END
  $body$`;
}

/** The first schema version whose daily rollup counts unpriced events (older rollups cannot answer summaries). */
export const POSTGRES_UNPRICED_ROLLUP_VERSION = 4;

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'create usage events',
    statements: (t) => {
      const q = qualified(t);
      const ix = (suffix: string, cols: string): string => `CREATE INDEX "${t.table}_${suffix}" ON ${q} (${cols})`;
      return [
        `CREATE TABLE ${q} (
          id TEXT COLLATE "C" PRIMARY KEY,
          ts BIGINT NOT NULL,
          org_id TEXT,
          user_id TEXT,
          thread_id TEXT,
          agent_id TEXT,
          model TEXT NOT NULL,
          provider TEXT NOT NULL,
          prompt_tokens BIGINT NOT NULL,
          completion_tokens BIGINT NOT NULL,
          total_tokens BIGINT NOT NULL,
          cached_prompt_tokens BIGINT,
          cache_write_tokens BIGINT,
          reasoning_tokens BIGINT,
          latency_ms DOUBLE PRECISION NOT NULL,
          cost_nanos BIGINT,
          metadata JSONB NOT NULL DEFAULT '{}'::jsonb
        )`,
        ix('ts_id', 'ts, id'),
        ix('org_ts', 'org_id, ts'),
        ix('user_ts', 'user_id, ts'),
        ix('agent_ts', 'agent_id, ts'),
        ix('model_ts', 'model, ts'),
        ix('provider_ts', 'provider, ts'),
        ix('thread_ts', 'thread_id, ts'),
      ];
    },
  },
  {
    version: 2,
    name: 'daily rollup maintained by triggers',
    // Whole-day sums per (org, agent, model, provider) so summaries and daily series read a few rows per
    // day. Nullable keys are encoded ('' = null, '=' || value otherwise) since NULLs never conflict in a
    // key. Statement-level triggers with transition tables fold each INSERT/UPDATE/DELETE in with one
    // grouped statement; rows skipped by ON CONFLICT DO NOTHING are not in the transition table, so
    // replays are counted once. Keys are upserted in sorted order so concurrent writers cannot deadlock.
    statements: (t) => {
      const q = qualified(t);
      const r = qualified(t, `${t.table}_daily`);
      const fn = qualified(t, `${t.table}_daily_apply`);
      return [
        `CREATE TABLE ${r} (
          day BIGINT NOT NULL,
          org_key TEXT NOT NULL,
          agent_key TEXT NOT NULL,
          model TEXT NOT NULL,
          provider TEXT NOT NULL,
          prompt_tokens BIGINT NOT NULL,
          completion_tokens BIGINT NOT NULL,
          total_tokens BIGINT NOT NULL,
          request_count BIGINT NOT NULL,
          cost_nanos BIGINT NOT NULL,
          PRIMARY KEY (day, org_key, agent_key, model, provider)
        )`,
        `CREATE INDEX "${t.table}_daily_org_day" ON ${r} (org_key, day)`,
        `INSERT INTO ${r} (${DAILY_COLUMNS}) ${groupedByDay(q)}`,
        dailyApplyFunction(fn, r),
        `CREATE TRIGGER "${t.table}_daily_insert" AFTER INSERT ON ${q} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
        `CREATE TRIGGER "${t.table}_daily_delete" AFTER DELETE ON ${q} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
        `CREATE TRIGGER "${t.table}_daily_update" AFTER UPDATE ON ${q} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
        `CREATE FUNCTION ${qualified(t, `${t.table}_daily_truncate`)}() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
          DELETE FROM ${r};
          RETURN NULL;
        END
        $body$`,
        `CREATE TRIGGER "${t.table}_daily_truncate" AFTER TRUNCATE ON ${q} FOR EACH STATEMENT EXECUTE FUNCTION ${qualified(t, `${t.table}_daily_truncate`)}()`,
      ];
    },
  },
  {
    version: 3,
    name: 'overspend_tokens column',
    // Nullable without a default: a catalog-only change (no table rewrite), and inserts stay as fast.
    statements: (t) => [`ALTER TABLE ${qualified(t)} ADD COLUMN overspend_tokens BIGINT`],
  },
  {
    version: 4,
    name: 'unpriced_count in the daily rollup',
    // Events whose model has no known price have no cost; the rollup summed them as 0, so a summary could
    // not tell "free" from "unpriced". Each rollup row now counts its unpriced events (backfilled from the
    // events in one grouped scan) and the trigger function, replaced in place, keeps the count exact.
    statements: (t) => {
      const q = qualified(t);
      const r = qualified(t, `${t.table}_daily`);
      return [
        `ALTER TABLE ${r} ADD COLUMN unpriced_count BIGINT NOT NULL DEFAULT 0`,
        `UPDATE ${r} AS d SET unpriced_count = u.n
         FROM (SELECT ts / 86400000 AS day, COALESCE('=' || org_id, '') AS org_key, COALESCE('=' || agent_id, '') AS agent_key, model, provider,
                      COUNT(*) AS n
               FROM ${q} WHERE cost_nanos IS NULL GROUP BY 1, 2, 3, 4, 5) AS u
         WHERE d.day = u.day AND d.org_key = u.org_key AND d.agent_key = u.agent_key AND d.model = u.model AND d.provider = u.provider`,
        countedApplyFunction(qualified(t, `${t.table}_daily_apply`), r),
      ];
    },
  },
];

/** The schema version this build writes. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]!.version;

/** Advisory-lock class id shared by every tokenwarden migration ("tw" in ASCII, arbitrary but fixed). */
const LOCK_CLASS = 0x7477;

/**
 * Brings the usage table to {@link POSTGRES_SCHEMA_VERSION} in one transaction. A transaction-level
 * advisory lock keyed on `schema.table` makes concurrent migrators (several processes starting at once)
 * take turns; the later ones find the work done. Returns the versions applied.
 */
export async function migratePostgres(pool: Pool, t: PostgresTarget): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, `${t.schema}.${t.table}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${t.schema}"`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${qualified(t, `${t.table}_migrations`)} ` +
          '(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
      );
      const current = await readVersion(client, t);
      assertKnownVersion(current, t);
      const applied: number[] = [];
      for (const m of POSTGRES_MIGRATIONS) {
        if (m.version <= current) continue;
        for (const sql of m.statements(t)) await client.query(sql);
        await client.query(`INSERT INTO ${qualified(t, `${t.table}_migrations`)} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
        applied.push(m.version);
      }
      await client.query('COMMIT');
      return applied;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  } finally {
    client.release();
  }
}

/**
 * Checks, without writing, that the usage table exists at a version this build understands (for
 * read-only use such as reports). Returns the version.
 */
export async function verifyPostgresSchema(pool: Pool, t: PostgresTarget): Promise<number> {
  const { rows } = await pool.query<{ table_ok: string | null; migrations_ok: string | null }>(
    'SELECT to_regclass($1) AS table_ok, to_regclass($2) AS migrations_ok',
    [qualified(t), qualified(t, `${t.table}_migrations`)],
  );
  if (!rows[0]?.table_ok || !rows[0]?.migrations_ok) {
    throw new UsageStoreError(
      'STORE_SCHEMA',
      `${t.schema}.${t.table}`,
      `no tokenwarden usage table ${t.schema}.${t.table} in this database (a store opened with migrate: true creates it)`,
    );
  }
  const version = await readVersion(pool, t);
  assertKnownVersion(version, t);
  return version;
}

async function readVersion(client: Pool | PoolClient, t: PostgresTarget): Promise<number> {
  const { rows } = await client.query<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${qualified(t, `${t.table}_migrations`)}`);
  return rows[0]?.v ?? 0;
}

function assertKnownVersion(version: number, t: PostgresTarget): void {
  if (version > POSTGRES_SCHEMA_VERSION) {
    throw new UsageStoreError(
      'STORE_SCHEMA',
      `${t.schema}.${t.table}`,
      `${t.schema}.${t.table} has usage schema version ${version}, newer than this tokenwarden understands ` +
        `(${POSTGRES_SCHEMA_VERSION}); upgrade tokenwarden`,
    );
  }
}
