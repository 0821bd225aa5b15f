import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReportCommand } from '../../src/cli/report.js';
import { PostgresUsageStore } from '../../src/stores/usage/postgres/postgres-usage-store.js';
import { SqliteUsageStore } from '../../src/stores/usage/sqlite/sqlite-usage-store.js';
import type { UsageEvent } from '../../src/usage/types.js';
import { DATABASE_URL, describePostgres } from '../support/services.js';
import { makeEvent } from '../stores/usage/usage-store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'tw-report-'));
const dbPath = join(dir, 'usage.db');
const DAY = 86_400_000;
const D1 = Date.UTC(2025, 5, 1); // 2025-06-01
const events: UsageEvent[] = [];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function report(argv: string[], opts: { isTTY?: boolean; env?: NodeJS.ProcessEnv; pageSize?: number } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runReportCommand(
    argv,
    { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), isTTY: opts.isTTY },
    { env: opts.env ?? {}, pageSize: opts.pageSize },
  );
  return { code, stdout, stderr };
}

function parseCsv(text: string): Array<Record<string, string>> {
  const [head, ...lines] = text.trim().split('\n');
  const cols = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}

beforeAll(() => {
  const models = ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet'];
  for (let i = 0; i < 60; i++) {
    events.push(
      makeEvent({
        timestamp: D1 + Math.floor(i / 12) * DAY + i * 60_000, // five days, 12 a day
        model: models[i % 3]!,
        agentId: i % 4 === 0 ? null : `agent-${i % 2}`,
        threadId: `thread-${i % 5}`,
        costNanos: i % 10 === 9 ? undefined : 123_456_789 + i * 1_000_003,
        metadata: { org_id: i % 3 === 0 ? 'acme' : 'globex', user_id: `u${i % 2}` },
      }),
    );
  }
  const store = new SqliteUsageStore({ path: dbPath });
  store.appendSync(events);
  void store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sumNanos = (list: UsageEvent[]): number => list.reduce((a, e) => a + (e.costNanos ?? 0), 0);
const inRange = (since: number, until: number) => events.filter((e) => e.timestamp >= since && e.timestamp < until);

describe('tokenwarden report (SQLite)', () => {
  it('prints a table by model with exact totals by default', async () => {
    const r = await report(['--db', dbPath]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage all time, all orgs, by model/);
    expect(r.stdout).toMatch(/MODEL\s+REQUESTS\s+PROMPT\s+COMPLETION\s+TOTAL TOKENS\s+COST \(USD\)/);
    for (const m of ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet']) expect(r.stdout).toMatch(new RegExp(`^${m}\\s+20\\s`, 'm'));
    const micros = Math.round(sumNanos(events) / 1000);
    const total = `$${Math.floor(micros / 1e6).toLocaleString('en-US')}.${String(micros % 1e6).padStart(6, '0')}`;
    expect(r.stdout).toMatch(new RegExp(`^TOTAL\\s+60\\s+6,000\\s+3,000\\s+9,000\\s+${total.replace(/[$.]/g, '\\$&')}$`, 'm'));
  });

  it('--format json --by agent matches the events exactly, null agent included', async () => {
    const r = await report(['--db', dbPath, '--format', 'json', '--by', 'agent', '--org', 'globex']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { orgId: string; by: string; rows: Array<{ agentId: string | null; costNanos: number; requestCount: number }>; totals: { costNanos: number } };
    const globex = events.filter((e) => e.metadata.org_id === 'globex');
    expect(out.orgId).toBe('globex');
    expect(out.by).toBe('agent');
    expect(out.totals.costNanos).toBe(sumNanos(globex));
    for (const row of out.rows) {
      const subset = globex.filter((e) => e.agentId === row.agentId);
      expect(row.requestCount).toBe(subset.length);
      expect(row.costNanos).toBe(sumNanos(subset));
    }
    expect(out.rows.map((r) => r.agentId)).toContain(null);
  });

  it('--by day --format csv: UTC dates, --until YYYY-MM-DD includes that day, exact nano-USD decimals', async () => {
    const r = await report(['--db', dbPath, '--by', 'day', '--format', 'csv', '--since', '2025-06-02', '--until', '2025-06-03']);
    expect(r.code).toBe(0);
    const rows = parseCsv(r.stdout);
    expect(rows.map((x) => x.date)).toEqual(['2025-06-02', '2025-06-03']);
    const day2 = inRange(D1 + DAY, D1 + 2 * DAY);
    expect(rows[0]!.requests).toBe(String(day2.length));
    expect(rows[0]!.cost_nanos).toBe(String(sumNanos(day2)));
    const n = sumNanos(day2);
    expect(rows[0]!.cost_usd).toBe(`${Math.floor(n / 1e9)}.${String(n % 1e9).padStart(9, '0')}`);
  });

  it('accepts ISO instants (exclusive until, UTC offsets) and --key=value', async () => {
    const since = D1 + 12 * 60_000; // 00:12Z
    const until = D1 + DAY + 14 * 60_000;
    const r = await report([`--db=${dbPath}`, '--format=json', '--since', '2025-06-01T02:12+02:00', '--until', '2025-06-02T00:14:00Z']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { since: string; until: string; totals: { requestCount: number; costNanos: number } };
    expect(out.since).toBe(new Date(since).toISOString());
    expect(out.until).toBe(new Date(until).toISOString());
    expect(out.totals.requestCount).toBe(inRange(since, until).length);
    expect(out.totals.costNanos).toBe(sumNanos(inRange(since, until)));
  });

  it('--by thread pages through events, with a progress line on a terminal only', async () => {
    const quiet = await report(['--db', dbPath, '--by', 'thread', '--format', 'json'], { pageSize: 7 });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    const out = JSON.parse(quiet.stdout) as { rows: Array<{ threadId: string; requestCount: number; costNanos: number }>; totals: { costNanos: number } };
    expect(out.rows).toHaveLength(5);
    for (const row of out.rows) {
      const subset = events.filter((e) => e.threadId === row.threadId);
      expect(row.requestCount).toBe(subset.length);
      expect(row.costNanos).toBe(sumNanos(subset));
    }
    expect(out.totals.costNanos).toBe(sumNanos(events));

    const tty = await report(['--db', dbPath, '--by', 'thread'], { pageSize: 7, isTTY: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toContain('reading events: 7 / 60');
    expect(tty.stderr).toContain('60 / 60 (100%)');
    expect(tty.stderr.endsWith('\r\x1b[K')).toBe(true); // the line is cleared before the table
    expect(tty.stdout).toMatch(/^thread-0\s+12\s/m);
  });

  it('--by event exports every event as CSV or a JSON array', async () => {
    const csv = await report(['--db', dbPath, '--by', 'event', '--format', 'csv', '--org', 'acme'], { pageSize: 6, isTTY: true });
    expect(csv.code).toBe(0);
    const rows = parseCsv(csv.stdout);
    const acme = events.filter((e) => e.metadata.org_id === 'acme');
    expect(rows.map((r) => r.id)).toEqual(acme.map((e) => e.id));
    expect(rows[0]!.org_id).toBe('acme');
    expect(csv.stderr).toContain('exporting events: 20 / 20 (100%)');
    const json = await report(['--db', dbPath, '--by', 'event', '--format', 'json'], { pageSize: 13 });
    expect(JSON.parse(json.stdout)).toEqual(events.map((e) => JSON.parse(JSON.stringify(e))));
    const none = await report(['--db', dbPath, '--by', 'event', '--format', 'json', '--org', 'nobody']);
    expect(JSON.parse(none.stdout)).toEqual([]);
  });

  it('reads $TOKENWARDEN_DB when --db is not given', async () => {
    const r = await report(['--format', 'json'], { env: { TOKENWARDEN_DB: dbPath } });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { totals: { requestCount: number } }).totals.requestCount).toBe(60);
  });

  it('takes a value starting with "-" written --flag=value', async () => {
    const r = await report(['--db', dbPath, '--org=-acme', '--format=json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ orgId: '-acme', rows: [], totals: { requestCount: 0 } });
  });

  it('prints help with exit 0', async () => {
    const r = await report(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: tokenwarden report');
  });

  it.each([
    [['--bogus'], 'unknown option --bogus'],
    [['--by', 'week'], '--by must be one of model, agent, day, thread, event (got "week")'],
    [['--format', 'xml'], '--format must be one of table, json, csv'],
    [['--since', 'yesterday'], '--since must be a date'],
    [['--since', '2025-13-01'], '--since: 2025-13-01 is not a calendar date'],
    [['--until', '2025-02-30'], '--until: 2025-02-30 is not a calendar date'],
    [['--since', '2025-06-01T25:00Z'], '--since: 2025-06-01T25:00Z is not a valid time of day'],
    [['--since'], '--since needs a value'],
    [['--org', '--by', 'model'], '--org needs a value'],
    [['--since', '2025-06-05', '--until', '2025-06-01'], '--until (2025-06-01) must be after --since (2025-06-05)'],
    [['--db', 'a.db', '--database-url', 'postgres://x/y'], 'give either --db (SQLite) or --database-url (PostgreSQL), not both'],
    [['--database-url', 'mysql://u:pw@h/db'], '--database-url must be a postgres:// or postgresql:// URL (got "mysql://u:***@h/db")'],
    [['--schema', 'x'], '--schema and --table apply to PostgreSQL only'],
    [['--lock-timeout', '1.5'], '--lock-timeout must be a whole number of milliseconds'],
    [['--org', 'a', '--org', 'b'], '--org given more than once'],
    [['extra'], 'unexpected argument "extra"'],
    [['-x'], 'unexpected argument "-x"'],
    [['--bogus=1'], 'unknown option --bogus'],
    [['--'], 'unknown option --'],
    [['--org='], '--org needs a value'],
    [['--org', ''], '--org needs a value'],
    [['--org', '-acme'], '--org needs a value (write --org=-acme for one starting with "-")'],
  ])('bad arguments %j exit 2 naming the problem', async (argv, message) => {
    const r = await report(argv as string[]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`tokenwarden report: ${message}`);
  });

  it('a missing database exits 1 naming the file', async () => {
    const missing = join(dir, 'nope', 'usage.db');
    const r = await report(['--db', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`database ${missing} does not exist`);
    expect(r.stderr).toContain('--db');
  });

  it('a file that is not a database, or not a tokenwarden one, exits 1 with the reason', async () => {
    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, 'x'.repeat(4096));
    const r = await report(['--db', garbage]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`cannot use database ${garbage}: file is not a database`));
    const foreign = join(dir, 'foreign.db');
    const db = new Database(foreign);
    db.exec('CREATE TABLE notes (x)');
    db.close();
    const f = await report(['--db', foreign]);
    expect(f.code).toBe(1);
    expect(f.stderr).toContain(`${foreign} is not a tokenwarden usage database`);
  });

  it('a locked database exits 1 after --lock-timeout, saying it is locked', async () => {
    const path = join(dir, 'locked.db');
    const s = new SqliteUsageStore({ path });
    s.appendSync(makeEvent());
    await s.close();
    const holder = new Database(path);
    holder.pragma('locking_mode = EXCLUSIVE');
    holder.exec("BEGIN EXCLUSIVE; UPDATE usage_events SET model = model; COMMIT");
    try {
      const r = await report(['--db', path, '--lock-timeout', '30']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`database ${path} is locked`);
      expect(r.stderr).toContain('--lock-timeout');
    } finally {
      holder.close();
    }
    expect((await report(['--db', path])).code).toBe(0);
  });

  it('an unreachable PostgreSQL exits 1 without printing the password', async () => {
    const r = await report(['--database-url', 'postgres://postgres:hunter2@127.0.0.1:1/test']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach PostgreSQL table public.usage_events');
    expect(r.stderr).not.toContain('hunter2');
  });
});

describePostgres('tokenwarden report (PostgreSQL)', () => {
  const schema = `tw_report_${process.pid}_${Date.now().toString(36)}`;
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    const store = new PostgresUsageStore({ pool, schema, spoolPath: false });
    await store.append(events);
    await store.close();
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  it('reads the same report from PostgreSQL as from SQLite', async () => {
    for (const by of ['model', 'agent', 'day', 'thread']) {
      const fromPg = await report(['--database-url', DATABASE_URL!, '--schema', schema, '--by', by, '--format', 'json']);
      const fromSqlite = await report(['--db', dbPath, '--by', by, '--format', 'json']);
      expect(fromPg.code).toBe(0);
      expect(JSON.parse(fromPg.stdout)).toEqual(JSON.parse(fromSqlite.stdout));
    }
  });

  it('uses $TOKENWARDEN_DATABASE_URL, and a missing table exits 1 naming it', async () => {
    const ok = await report(['--schema', schema, '--format', 'csv'], { env: { TOKENWARDEN_DATABASE_URL: DATABASE_URL } });
    expect(ok.code).toBe(0);
    expect(parseCsv(ok.stdout)).toHaveLength(3);
    const r = await report(['--database-url', DATABASE_URL!, '--schema', schema, '--table', 'missing_table']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no tokenwarden usage table ${schema}.missing_table`);
  });
});
