import { TokenwardenError, ValidationError } from '../core/errors.js';
import type { UsageStoreError } from '../usage/store-error.js';
import type { UsageAggregate, UsageFilter, UsageStore } from '../usage/usage-store.js';
import type { UsageEvent } from '../usage/types.js';

/** Where the command writes. `isTTY` (of stderr) turns on the progress indicator for long exports. */
export interface ReportCommandIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  isTTY?: boolean;
}

/** Test and embedding hooks of {@link runReportCommand}. */
export interface ReportCommandOptions {
  /** Environment read for `TOKENWARDEN_DB` / `TOKENWARDEN_DATABASE_URL`. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Events per page when exporting or grouping by thread (1-1000). Default 1000. */
  pageSize?: number;
}

type GroupBy = 'model' | 'agent' | 'day' | 'thread' | 'event';
type Format = 'table' | 'json' | 'csv';

interface ReportArgs {
  filter: UsageFilter;
  by: GroupBy;
  format: Format;
  db: string | undefined;
  databaseUrl: string | undefined;
  schema: string | undefined;
  table: string | undefined;
  lockTimeoutMs: number;
  env: NodeJS.ProcessEnv;
}

interface Row extends UsageAggregate {
  key: string | null;
}

const USAGE = `Usage: tokenwarden report [options]

Usage and cost from the usage store, grouped for billing.

Period and filters:
  --since DATE          first day (YYYY-MM-DD, UTC) or instant (ISO 8601, e.g. 2025-06-01T12:00Z)
  --until DATE          last day included (YYYY-MM-DD), or an exclusive instant (ISO 8601)
  --org ID              only this organisation (metadata org_id)
  --user ID, --agent ID, --model NAME, --provider NAME, --thread ID
                        further filters

Output:
  --by KEY              model (default) | agent | day | thread | event (one row per event)
  --format FORMAT       table (default) | json | csv   (csv/json carry exact nano-USD costs)

Store (SQLite unless a PostgreSQL URL is given):
  --db PATH             SQLite file (default $TOKENWARDEN_DB, else ./.tokenwarden/usage.db)
  --database-url URL    PostgreSQL (default $TOKENWARDEN_DATABASE_URL when set)
  --schema NAME         PostgreSQL schema (default public)
  --table NAME          PostgreSQL table (default usage_events)
  --lock-timeout MS     how long to wait for a locked SQLite file (default 5000)

  -h, --help            show this help

Exit status: 0 ok, 1 the store could not be read, 2 bad arguments.
`;

const VALUE_FLAGS = new Set([
  '--since', '--until', '--org', '--user', '--agent', '--model', '--provider', '--thread',
  '--by', '--format', '--db', '--database-url', '--schema', '--table', '--lock-timeout',
]);
const GROUPS: readonly GroupBy[] = ['model', 'agent', 'day', 'thread', 'event'];
const FORMATS: readonly Format[] = ['table', 'json', 'csv'];
const MS_PER_DAY = 86_400_000;

class UsageError extends Error {}

/**
 * `tokenwarden report`: prints a usage and cost report from the SQLite or PostgreSQL usage store.
 * `argv` is what follows `report` on the command line. Returns the exit code: 0 ok, 1 the store could
 * not be read (missing, unreadable, locked, unreachable), 2 bad arguments. Opens the store read-only.
 *
 * @example
 * ```ts
 * const code = await runReportCommand(['--since', '2025-06-01', '--until', '2025-06-30', '--org', 'acme', '--by', 'model'], {
 *   stdout: (s) => process.stdout.write(s),
 *   stderr: (s) => process.stderr.write(s),
 *   isTTY: process.stderr.isTTY,
 * });
 * ```
 */
export async function runReportCommand(argv: string[], io: ReportCommandIO, options: ReportCommandOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const pageSize = options.pageSize ?? 1000;
  let args: ReportArgs;
  try {
    if (argv.includes('-h') || argv.includes('--help')) {
      io.stdout(USAGE);
      return 0;
    }
    args = parseArgs(argv, env);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`tokenwarden report: ${err.message}\nRun 'tokenwarden report --help' for usage.\n`);
      return 2;
    }
    throw err;
  }

  const progress = new Progress(io);
  let opened: OpenedStore | undefined;
  try {
    opened = await openStore(args);
    await writeReport(opened.store, args, io, progress, pageSize);
    return 0;
  } catch (err) {
    progress.clear();
    if (err instanceof ValidationError) {
      io.stderr(`tokenwarden report: ${err.message}\n`);
      return 2;
    }
    io.stderr(`tokenwarden report: ${describeFailure(err, args)}\n`);
    return 1;
  } finally {
    await opened?.dispose().catch(() => {});
  }
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): ReportArgs {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(flag)) throw new UsageError(`unknown option ${flag}`);
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`${flag} needs a value`);
      i++;
    }
    if (value.length === 0) throw new UsageError(`${flag} needs a value`);
    if (values.has(flag)) throw new UsageError(`${flag} given more than once`);
    values.set(flag, value);
  }

  const by = (values.get('--by') ?? 'model') as GroupBy;
  if (!GROUPS.includes(by)) throw new UsageError(`--by must be one of ${GROUPS.join(', ')} (got ${JSON.stringify(by)})`);
  const format = (values.get('--format') ?? 'table') as Format;
  if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')} (got ${JSON.stringify(format)})`);

  const filter: UsageFilter = {};
  const since = values.get('--since');
  const until = values.get('--until');
  const sinceMs = since === undefined ? undefined : parseDate('--since', since, false);
  const untilMs = until === undefined ? undefined : parseDate('--until', until, true);
  if (sinceMs !== undefined) filter.since = sinceMs;
  if (untilMs !== undefined) filter.until = untilMs;
  if (sinceMs !== undefined && untilMs !== undefined && untilMs <= sinceMs) {
    throw new UsageError(`--until (${until}) must be after --since (${since})`);
  }
  const stringFilters: Array<[string, keyof UsageFilter]> = [
    ['--org', 'orgId'], ['--user', 'userId'], ['--agent', 'agentId'], ['--model', 'model'], ['--provider', 'provider'], ['--thread', 'threadId'],
  ];
  for (const [flag, key] of stringFilters) {
    const v = values.get(flag);
    if (v !== undefined) (filter as Record<string, unknown>)[key] = v;
  }

  const db = values.get('--db');
  let databaseUrl = values.get('--database-url');
  if (db !== undefined && databaseUrl !== undefined) throw new UsageError('give either --db (SQLite) or --database-url (PostgreSQL), not both');
  if (db === undefined && databaseUrl === undefined && env.TOKENWARDEN_DATABASE_URL) databaseUrl = env.TOKENWARDEN_DATABASE_URL;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new UsageError(`--database-url must be a postgres:// or postgresql:// URL (got ${JSON.stringify(redactUrl(databaseUrl))})`);
  }
  const schema = values.get('--schema');
  const table = values.get('--table');
  if ((schema !== undefined || table !== undefined) && databaseUrl === undefined) {
    throw new UsageError('--schema and --table apply to PostgreSQL only (add --database-url)');
  }
  for (const [flag, v] of [['--schema', schema], ['--table', table]] as const) {
    if (v !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,39}$/.test(v)) {
      throw new UsageError(`${flag} must be an identifier of letters, digits and _ (got ${JSON.stringify(v)})`);
    }
  }
  const lockRaw = values.get('--lock-timeout');
  const lockTimeoutMs = lockRaw === undefined ? 5000 : Number(lockRaw);
  if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 0 || (lockRaw !== undefined && !/^\d+$/.test(lockRaw))) {
    throw new UsageError(`--lock-timeout must be a whole number of milliseconds (got ${JSON.stringify(lockRaw)})`);
  }
  return { filter, by, format, db, databaseUrl, schema, table, lockTimeoutMs, env };
}

/**
 * Epoch ms of a `--since`/`--until` value. A bare date is a UTC day: its start for `--since`, the start
 * of the next day for `--until` (so the named day is included). A time without a zone is UTC.
 */
function parseDate(flag: string, value: string, isUntil: boolean): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(value);
  if (!m) {
    throw new UsageError(`${flag} must be a date (YYYY-MM-DD) or ISO 8601 time (YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM]) (got ${JSON.stringify(value)})`);
  }
  const [, y, mo, d, hh, mm, ss, frac, zone] = m;
  const year = Number(y), month = Number(mo), day = Number(d);
  const dayStart = Date.UTC(year, month - 1, day);
  const check = new Date(dayStart);
  if (month < 1 || month > 12 || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) {
    throw new UsageError(`${flag}: ${value} is not a calendar date`);
  }
  if (hh === undefined) return isUntil ? dayStart + MS_PER_DAY : dayStart;
  const hours = Number(hh), minutes = Number(mm), seconds = Number(ss ?? 0);
  if (hours > 23 || minutes > 59 || seconds > 59) throw new UsageError(`${flag}: ${value} is not a valid time of day`);
  let ms = dayStart + ((hours * 60 + minutes) * 60 + seconds) * 1000 + Math.round(Number(frac ?? 0) * 1000);
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offH = Number(digits.slice(0, 2)), offM = Number(digits.slice(2, 4));
    if (offH > 23 || offM > 59) throw new UsageError(`${flag}: ${value} has an invalid UTC offset`);
    ms -= sign * (offH * 60 + offM) * 60_000;
  }
  return ms;
}

interface OpenedStore {
  store: UsageStore;
  dispose: () => Promise<void>;
}

async function openStore(args: ReportArgs): Promise<OpenedStore> {
  if (args.databaseUrl !== undefined) {
    const [{ default: pg }, { PostgresUsageStore }] = await Promise.all([import('pg'), import('../stores/usage/postgres/index.js')]);
    const pool = new pg.Pool({ connectionString: args.databaseUrl, max: 2, connectionTimeoutMillis: 10_000 });
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
  const { SqliteUsageStore, resolveDefaultDbPath } = await import('../stores/usage/sqlite/index.js');
  const path = args.db ?? resolveDefaultDbPath(args.env);
  const store = new SqliteUsageStore({ path, readonly: true, busyTimeoutMs: args.lockTimeoutMs });
  return { store, dispose: () => store.close() };
}

async function writeReport(store: UsageStore, args: ReportArgs, io: ReportCommandIO, progress: Progress, pageSize: number): Promise<void> {
  if (args.by === 'event') return exportEvents(store, args, io, progress, pageSize);
  let rows: Row[];
  let totals: UsageAggregate;
  if (args.by === 'model' || args.by === 'agent') {
    const summary = await store.summary(args.filter);
    rows = args.by === 'model'
      ? summary.byModel.map(({ model, ...agg }) => ({ key: model, ...agg }))
      : summary.byAgent.map(({ agentId, ...agg }) => ({ key: agentId, ...agg }));
    totals = summary.totals;
  } else if (args.by === 'day') {
    rows = (await store.daily(args.filter)).map(({ date, ...agg }) => ({ key: date, ...agg }));
    totals = sumRows(rows);
  } else {
    rows = await groupByThread(store, args.filter, progress, pageSize);
    totals = sumRows(rows);
  }
  progress.clear();
  const keyName = { model: 'model', agent: 'agentId', day: 'date', thread: 'threadId' }[args.by];
  if (args.format === 'json') {
    io.stdout(
      JSON.stringify(
        {
          since: isoOrNull(args.filter.since),
          until: isoOrNull(args.filter.until),
          orgId: args.filter.orgId ?? null,
          by: args.by,
          rows: rows.map(({ key, ...agg }) => ({ [keyName]: key, ...agg })),
          totals,
        },
        null,
        2,
      ) + '\n',
    );
  } else if (args.format === 'csv') {
    const header = [keyName === 'agentId' ? 'agent_id' : keyName === 'threadId' ? 'thread_id' : keyName, 'requests', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_nanos', 'cost_usd'];
    let out = header.join(',') + '\n';
    for (const r of rows) {
      out += [r.key ?? '', r.requestCount, r.promptTokens, r.completionTokens, r.totalTokens, r.costNanos, usdExact(r.costNanos)].map(csvField).join(',') + '\n';
    }
    io.stdout(out);
  } else {
    io.stdout(renderTable(args, rows, totals));
  }
}

async function groupByThread(store: UsageStore, filter: UsageFilter, progress: Progress, pageSize: number): Promise<Row[]> {
  const total = progress.enabled ? await store.count(filter) : 0;
  const groups = new Map<string | null, { p: bigint; c: bigint; t: bigint; n: number; cost: bigint }>();
  let seen = 0;
  for await (const events of pages(store, filter, pageSize)) {
    for (const e of events) {
      let g = groups.get(e.threadId);
      if (!g) groups.set(e.threadId, (g = { p: 0n, c: 0n, t: 0n, n: 0, cost: 0n }));
      g.p += BigInt(e.promptTokens);
      g.c += BigInt(e.completionTokens);
      g.t += BigInt(e.totalTokens);
      g.n += 1;
      g.cost += BigInt(e.costNanos ?? 0);
    }
    seen += events.length;
    progress.update('reading events', seen, total);
  }
  return [...groups]
    .map(([key, g]): Row => ({
      key,
      promptTokens: Number(g.p),
      completionTokens: Number(g.c),
      totalTokens: Number(g.t),
      requestCount: g.n,
      costNanos: Number(g.cost),
      cost: Number(g.cost) / 1e9,
    }))
    .sort((a, b) => b.costNanos - a.costNanos || b.totalTokens - a.totalTokens || compareKeys(a.key, b.key));
}

async function exportEvents(store: UsageStore, args: ReportArgs, io: ReportCommandIO, progress: Progress, pageSize: number): Promise<void> {
  const total = progress.enabled ? await store.count(args.filter) : 0;
  const columns = ['timestamp', 'id', 'org_id', 'user_id', 'thread_id', 'agent_id', 'provider', 'model', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'latency_ms', 'cost_nanos', 'cost_usd'];
  const cells = (e: UsageEvent): Array<string | number> => [
    new Date(e.timestamp).toISOString(), e.id, stringOr(e.metadata.org_id ?? e.metadata.orgId), stringOr(e.metadata.user_id ?? e.metadata.userId),
    e.threadId ?? '', e.agentId ?? '', e.provider, e.model, e.promptTokens, e.completionTokens, e.totalTokens, e.latencyMs,
    e.costNanos ?? '', e.costNanos === undefined ? '' : usdExact(e.costNanos),
  ];
  let seen = 0;
  if (args.format === 'csv') io.stdout(columns.join(',') + '\n');
  else if (args.format === 'json') io.stdout('[');
  else io.stdout(columns.filter((c) => !['org_id', 'user_id', 'cost_nanos', 'latency_ms'].includes(c)).map((c) => c.toUpperCase()).join('\t') + '\n');
  for await (const events of pages(store, args.filter, pageSize)) {
    let out = '';
    for (const e of events) {
      if (args.format === 'csv') out += cells(e).map(csvField).join(',') + '\n';
      else if (args.format === 'json') out += (seen === 0 && out === '' ? '\n' : ',\n') + JSON.stringify(e);
      else {
        const c = cells(e);
        out += [c[0], c[1], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[13] === '' ? '-' : `$${usdRounded(e.costNanos!)}`].join('\t') + '\n';
      }
    }
    seen += events.length;
    progress.clear();
    io.stdout(out);
    progress.update('exporting events', seen, total);
  }
  progress.clear();
  if (args.format === 'json') io.stdout(seen === 0 ? ']\n' : '\n]\n');
}

async function* pages(store: UsageStore, filter: UsageFilter, limit: number): AsyncGenerator<UsageEvent[]> {
  let cursor: string | undefined;
  do {
    const page = await store.query({ ...filter, limit, cursor });
    if (page.events.length > 0) yield page.events;
    cursor = page.nextCursor;
  } while (cursor);
}

function renderTable(args: ReportArgs, rows: Row[], totals: UsageAggregate): string {
  const label = { model: 'MODEL', agent: 'AGENT', day: 'DATE (UTC)', thread: 'THREAD' }[args.by as Exclude<GroupBy, 'event'>];
  const { since, until } = args.filter;
  const period =
    since === undefined && until === undefined
      ? 'all time'
      : `from ${since === undefined ? 'the first event' : isoOrNull(since)} to ${until === undefined ? 'now' : `${isoOrNull(until)} (exclusive)`}`;
  const scope = args.filter.orgId === undefined ? 'all orgs' : `org ${args.filter.orgId}`;
  const head = [label, 'REQUESTS', 'PROMPT', 'COMPLETION', 'TOTAL TOKENS', 'COST (USD)'];
  const line = (r: UsageAggregate, key: string): string[] => [
    key, fmtInt(r.requestCount), fmtInt(r.promptTokens), fmtInt(r.completionTokens), fmtInt(r.totalTokens), `$${usdRounded(r.costNanos)}`,
  ];
  const body = rows.map((r) => line(r, r.key ?? '(none)'));
  const foot = line(totals, 'TOTAL');
  const widths = head.map((h, i) => Math.max(h.length, foot[i]!.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cols: string[]): string => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const lines = [`Usage ${period}, ${scope}, by ${args.by}`, '', fmt(head), rule, ...body.map(fmt), rule, fmt(foot)];
  if (rows.length === 0) lines.splice(4, 0, '(no usage in this period)');
  return lines.join('\n') + '\n';
}

function sumRows(rows: Row[]): UsageAggregate {
  let p = 0n, c = 0n, t = 0n, n = 0n, cost = 0n;
  for (const r of rows) {
    p += BigInt(r.promptTokens);
    c += BigInt(r.completionTokens);
    t += BigInt(r.totalTokens);
    n += BigInt(r.requestCount);
    cost += BigInt(r.costNanos);
  }
  return { promptTokens: Number(p), completionTokens: Number(c), totalTokens: Number(t), requestCount: Number(n), costNanos: Number(cost), cost: Number(cost) / 1e9 };
}

/** Exact USD with 9 decimals from integer nano-USD, e.g. 1234567890 -> "1.234567890". */
function usdExact(nanos: number): string {
  const n = BigInt(Math.trunc(nanos));
  const neg = n < 0n;
  const abs = neg ? -n : n;
  return `${neg ? '-' : ''}${abs / 1_000_000_000n}.${(abs % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** USD rounded half-up to 6 decimals (micro-dollars), with thousands separators. */
function usdRounded(nanos: number): string {
  const micros = (BigInt(Math.trunc(nanos)) + 500n) / 1000n;
  const whole = (micros / 1_000_000n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${whole}.${(micros % 1_000_000n).toString().padStart(6, '0')}`;
}

function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function stringOr(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

function compareKeys(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

function isoOrNull(v: number | Date | undefined): string | null {
  return v === undefined ? null : new Date(v).toISOString();
}

function redactUrl(url: string): string {
  return url.replace(/(:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

function describeFailure(err: unknown, args: ReportArgs): string {
  if (err instanceof TokenwardenError) {
    const e = err as UsageStoreError;
    switch (e.code) {
      case 'STORE_NOT_FOUND':
        return `${e.message}; point --db at your usage database (or set TOKENWARDEN_DB)`;
      case 'STORE_LOCKED':
        return `${e.message}; waited ${args.lockTimeoutMs} ms (raise --lock-timeout or retry later)`;
      case 'STORE_UNAVAILABLE':
        return `${redactUrl(e.message)} (${redactUrl(args.databaseUrl ?? '')})`;
      default:
        return redactUrl(e.message);
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return args.databaseUrl !== undefined ? `${redactUrl(message)} (${redactUrl(args.databaseUrl)})` : message;
}

/** A one-line progress indicator on stderr, shown only on a terminal; updated at most every 100 ms. */
class Progress {
  readonly enabled: boolean;
  private shown = false;
  private last = 0;

  constructor(private readonly io: ReportCommandIO) {
    this.enabled = io.isTTY === true;
  }

  update(what: string, done: number, total: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (this.shown && now - this.last < 100 && done < total) return;
    this.last = now;
    const pct = total > 0 ? ` (${Math.min(100, Math.floor((done / total) * 100))}%)` : '';
    this.io.stderr(`\r${what}: ${fmtInt(done)}${total > 0 ? ` / ${fmtInt(total)}` : ''}${pct}\x1b[K`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.io.stderr('\r\x1b[K');
    this.shown = false;
  }
}
