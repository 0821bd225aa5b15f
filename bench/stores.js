// Usage stores: append throughput (single and batched) for SQLite and PostgreSQL beside raw driver
// INSERT loops measured in the same run, and summary() time over 1 million stored events.
// Run: npm run build && node bench/run.js stores
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import { SqliteUsageStore } from '../dist/stores/usage/sqlite/index.js';
import { PostgresUsageStore } from '../dist/stores/usage/postgres/index.js';
import { benchEvent, EVENT_T0, fmt, heading, row } from './lib.js';

const COLUMNS = [
  'id', 'ts', 'org_id', 'user_id', 'thread_id', 'agent_id', 'model', 'provider', 'prompt_tokens', 'completion_tokens',
  'total_tokens', 'cached_prompt_tokens', 'cache_write_tokens', 'reasoning_tokens', 'latency_ms', 'cost_nanos', 'metadata',
];
const T0 = EVENT_T0;
const MILLION = 1_000_000;

let seq = 0;
function event() {
  return benchEvent(seq++, { idPrefix: `b${process.pid}-` });
}

function rowOf(e) {
  return [
    e.id, e.timestamp, e.metadata.org_id, e.metadata.user_id, e.threadId, e.agentId, e.model, e.provider,
    e.promptTokens, e.completionTokens, e.totalTokens, null, null, null, e.latencyMs, e.costNanos, JSON.stringify(e.metadata),
  ];
}

/** Events per second of `fn(batch)` called with fresh event batches for about `ms` (after a short warm-up). */
async function eventsPerSecond(batchSize, fn, { ms = 1000, warmup = 2 } = {}) {
  for (let i = 0; i < warmup; i++) await fn(Array.from({ length: batchSize }, event));
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    const batch = Array.from({ length: batchSize }, event);
    await fn(batch);
    n += batchSize;
  }
  return n / ((performance.now() - start) / 1000);
}

async function time(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function median(runs, fn) {
  const times = [];
  for (let i = 0; i < runs; i++) times.push(await time(fn));
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function sqliteBench(dir) {
  heading('stores: SQLite appends (events/s; WAL, synchronous=NORMAL)');
  const store = new SqliteUsageStore({ path: join(dir, 'store.db') });
  const raw = new Database(join(dir, 'raw.db'));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  // Same table, indexes and row shape as the store: a migrated copy.
  new SqliteUsageStore({ db: raw });
  const insert = raw.prepare(
    `INSERT INTO usage_events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')}) ON CONFLICT(id) DO NOTHING`,
  );
  const insertMany = raw.transaction((rows) => {
    for (const r of rows) insert.run(...r);
  });

  const rawSingle = await eventsPerSecond(1, (b) => insert.run(...rowOf(b[0])));
  const storeSingle = await eventsPerSecond(1, (b) => store.appendSync(b[0]));
  row('raw better-sqlite3 INSERT, one commit per event', rawSingle);
  row('SqliteUsageStore.appendSync(event)', storeSingle, rawSingle);
  const rawBatch = await eventsPerSecond(1000, (b) => insertMany(b.map(rowOf)));
  const storeBatch = await eventsPerSecond(1000, (b) => store.appendSync(b));
  row('raw better-sqlite3 INSERT x1000 in a transaction', rawBatch);
  row('SqliteUsageStore.appendSync(1000 events)', storeBatch, rawBatch);
  await store.close();
  raw.close();

  heading('stores: SQLite summary() over 1,000,000 events');
  const big = new SqliteUsageStore({ path: join(dir, 'million.db') });
  // Bulk load: secondary indexes are dropped and rebuilt afterwards (one sort each instead of 1M
  // incremental updates); the rollup triggers stay, so the rollup is maintained as in production.
  const indexes = big.db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_events' AND sql IS NOT NULL").all();
  const gen = await time(() => {
    big.db.exec('BEGIN');
    for (const ix of indexes) big.db.exec(`DROP INDEX ${ix.name}`);
    big.db.exec(`
      WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ${MILLION - 1})
      INSERT INTO usage_events (${COLUMNS.join(', ')})
      SELECT printf('m%09d', i), ${T0} + i * 2500, 'org-' || (i % 10), 'user-' || (i % 500), 'thread-' || (i % 5000),
             'agent-' || (i % 20), CASE i % 5 WHEN 0 THEN 'gpt-4o' WHEN 1 THEN 'gpt-4o-mini' WHEN 2 THEN 'claude-3-5-sonnet'
             WHEN 3 THEN 'gemini-2.0-flash' ELSE 'llama-3.1-70b' END, 'openai', 500 + i % 300, 100 + i % 50,
             600 + i % 300 + i % 50, NULL, NULL, NULL, 420, 3250000 + i % 1000, '{}'
      FROM c;`);
    for (const ix of indexes) big.db.exec(ix.sql);
    big.db.exec('COMMIT; ANALYZE');
  });
  console.log(`  (generated ${fmt(MILLION)} rows in ${fmt(gen / 1000, 1)} s)`);
  const groupSql = 'SELECT model, agent_id, SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), COUNT(*), SUM(cost_nanos) FROM usage_events GROUP BY model, agent_id';
  const baseline = await median(3, () => big.db.prepare(groupSql).all());
  const scan = await median(3, () => big.db.prepare('SELECT COUNT(*), SUM(total_tokens), SUM(cost_nanos) FROM usage_events').get());
  report(baseline, scan, await storeTimings(big));
  const s = await big.summary();
  console.log(`  (check: ${fmt(s.totals.requestCount)} requests, $${s.totals.cost.toFixed(6)} = ${s.totals.costNanos} nano-USD exactly)`);
  await big.close();
}

async function postgresBench(dir) {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 3000 });
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    console.log(`\n## stores: PostgreSQL skipped (${err.message}; set DATABASE_URL)`);
    await pool.end();
    return;
  }
  const schema = `tw_bench_${process.pid}`;
  try {
    heading('stores: PostgreSQL appends (events/s, including the database commit)');
    const store = new PostgresUsageStore({ pool, schema, table: 'usage', spoolPath: join(dir, 'pg-spool.jsonl'), flushIntervalMs: 5 });
    await store.open();
    const direct = new PostgresUsageStore({ pool, schema, table: 'usage', spoolPath: false });
    const rawTable = `"${schema}"."raw"`;
    await pool.query(`CREATE TABLE ${rawTable} (LIKE "${schema}"."usage" INCLUDING ALL)`);
    const rawSql = `INSERT INTO ${rawTable} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT (id) DO NOTHING`;
    const multiSql = (n) =>
      `INSERT INTO ${rawTable} (${COLUMNS.join(', ')}) VALUES ` +
      Array.from({ length: n }, (_, r) => `(${COLUMNS.map((_, c) => `$${r * COLUMNS.length + c + 1}`).join(', ')})`).join(', ') +
      ' ON CONFLICT (id) DO NOTHING';
    const multi1000 = multiSql(1000);

    const rawSingle = await eventsPerSecond(1, (b) => pool.query(rawSql, rowOf(b[0])));
    row('raw pg INSERT, one round trip + commit per event', rawSingle);
    const directSingle = await eventsPerSecond(1, (b) => direct.append(b[0]));
    row('PostgresUsageStore (no spool) append(event)', directSingle, rawSingle);
    // Spooled: append resolves once spooled; the rate counts until flush() confirms the commit.
    const spooled = await eventsPerSecond(5000, async (b) => {
      for (const e of b) await store.append(e);
      await store.flush();
    });
    row('PostgresUsageStore append(event) x5000 + flush()', spooled, rawSingle);

    const rawTx = await eventsPerSecond(1000, async (b) => {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        for (const e of b) await c.query(rawSql, rowOf(e));
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    }, { ms: 2000, warmup: 1 });
    row('raw pg INSERT x1000 in a transaction', rawTx);
    const rawMulti = await eventsPerSecond(1000, (b) => pool.query(multi1000, b.flatMap(rowOf)));
    row('raw pg multi-row INSERT of 1000 rows', rawMulti);
    const directBatch = await eventsPerSecond(1000, (b) => direct.append(b));
    row('PostgresUsageStore (no spool) append(1000 events)', directBatch, rawMulti);
    const spooledBatch = await eventsPerSecond(1000, async (b) => {
      await store.append(b);
      await store.flush();
    });
    row('PostgresUsageStore append(1000 events) + flush()', spooledBatch, rawMulti);
    await store.close();
    await direct.close();

    heading('stores: PostgreSQL summary() over 1,000,000 events');
    const big = new PostgresUsageStore({ pool, schema, table: 'million', spoolPath: false });
    await big.open();
    const client = await pool.connect();
    let gen;
    try {
      await client.query("SET statement_timeout = '60s'");
      gen = await time(async () => {
        await client.query(`
          INSERT INTO "${schema}"."million" (${COLUMNS.join(', ')})
          SELECT 'm' || lpad(i::text, 9, '0'), ${T0}::bigint + i::bigint * 2500, 'org-' || (i % 10), 'user-' || (i % 500),
                 'thread-' || (i % 5000), 'agent-' || (i % 20), (ARRAY['gpt-4o','gpt-4o-mini','claude-3-5-sonnet','gemini-2.0-flash','llama-3.1-70b'])[i % 5 + 1],
                 'openai', 500 + i % 300, 100 + i % 50, 600 + i % 300 + i % 50, NULL, NULL, NULL, 420, 3250000 + i % 1000, '{}'::jsonb
          FROM generate_series(0, ${MILLION - 1}) AS i`);
        await client.query(`ANALYZE "${schema}"."million"`);
      });
    } catch (err) {
      console.log(`  skipped: generating 1M rows did not finish within 60 s (${err.message})`);
      return;
    } finally {
      client.release();
    }
    console.log(`  (generated ${fmt(MILLION)} rows in ${fmt(gen / 1000, 1)} s)`);
    const table = `"${schema}"."million"`;
    const baseline = await median(3, () => pool.query(`SELECT model, agent_id, SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), COUNT(*), SUM(cost_nanos) FROM ${table} GROUP BY model, agent_id`));
    const scan = await median(3, () => pool.query(`SELECT COUNT(*), SUM(total_tokens), SUM(cost_nanos) FROM ${table}`));
    report(baseline, scan, await storeTimings(big));
    await big.close();
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await pool.end();
  }
}

/** Median times of the store's summaries and daily series over the million generated events. */
async function storeTimings(big) {
  return {
    all: await median(5, () => big.summary()),
    org: await median(5, () => big.summary({ orgId: 'org-3' })),
    month: await median(5, () => big.summary({ since: T0, until: T0 + 30 * 86_400_000 })),
    ragged: await median(5, () => big.summary({ since: T0 + 43_200_000, until: T0 + 20 * 86_400_000 + 21_600_000 })),
    user: await median(5, () => big.summary({ userId: 'user-7' })),
    daily: await median(5, () => big.daily()),
  };
}

function report(baseline, scan, t) {
  const line = (label, ms, base) =>
    console.log(`  ${label.padEnd(58)} ${fmt(ms, 1).padStart(9)} ms${base ? ` | ${fmt(base / ms, 1)}x faster than the GROUP BY` : ''}`);
  line('raw SELECT ... GROUP BY model, agent_id over 1M (baseline)', baseline);
  line('raw SELECT COUNT/SUM full scan', scan);
  line('summary() all 1M events (daily rollup)', t.all, baseline);
  line('summary({ orgId }) (100k events)', t.org, baseline);
  line('summary({ since, until }) whole days (30 days)', t.month, baseline);
  line('summary({ since, until }) partial first and last day', t.ragged, baseline);
  line('summary({ userId }) (2k events, read from events)', t.user, baseline);
  line('daily() all 1M events', t.daily, baseline);
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-stores-'));
  try {
    await sqliteBench(dir);
    await postgresBench(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
