import { redactUrl } from '../../core/redact-url.js';
import type { UsageFilter } from '../../usage/usage-store.js';
import { CliArgumentError, parseCommandLine, type ArgvProblem, type CommandOptions, describeArgvProblem } from '../argv.js';
import { parseReportDate } from './report-dates.js';
import type { GroupBy, ReportArgs, ReportFormat } from './types.js';

/** `tokenwarden report --help`. */
export const REPORT_HELP = `Usage: tokenwarden report [options]

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
                        models without a known price show as unpriced (no cost,
                        with a count of unpriced requests), never as $0

Store (SQLite unless a PostgreSQL URL is given):
  --db PATH             SQLite file (default $TOKENWARDEN_DB, else ./.tokenwarden/usage.db)
  --database-url URL    PostgreSQL (default $TOKENWARDEN_DATABASE_URL when set)
  --schema NAME         PostgreSQL schema (default public)
  --table NAME          PostgreSQL table (default usage_events)
  --lock-timeout MS     how long to wait for a locked SQLite file (default 5000)

  -h, --help            show this help

Exit status: 0 ok, 1 the store could not be read, 2 bad arguments.
`;

const REPORT_OPTIONS = {
  since: { type: 'string' },
  until: { type: 'string' },
  org: { type: 'string' },
  user: { type: 'string' },
  agent: { type: 'string' },
  model: { type: 'string' },
  provider: { type: 'string' },
  thread: { type: 'string' },
  by: { type: 'string' },
  format: { type: 'string' },
  db: { type: 'string' },
  'database-url': { type: 'string' },
  schema: { type: 'string' },
  table: { type: 'string' },
  'lock-timeout': { type: 'string' },
} as const satisfies CommandOptions;

type ReportValues = { [K in keyof typeof REPORT_OPTIONS]?: string };

const GROUPS: readonly GroupBy[] = ['model', 'agent', 'day', 'thread', 'event'];
const FORMATS: readonly ReportFormat[] = ['table', 'json', 'csv'];
const STRING_FILTERS = [
  ['org', 'orgId'], ['user', 'userId'], ['agent', 'agentId'], ['model', 'model'], ['provider', 'provider'], ['thread', 'threadId'],
] as const satisfies ReadonlyArray<readonly [keyof ReportValues, keyof UsageFilter]>;

/**
 * Reads `tokenwarden report`'s arguments (each option once, with a non-empty value; no positionals) and
 * checks them; throws a {@link CliArgumentError} naming the first problem. `env` supplies
 * `TOKENWARDEN_DATABASE_URL` when neither `--db` nor `--database-url` is given.
 *
 * @example
 * ```ts
 * parseReportArgs(['--since', '2025-06-01', '--by', 'agent'], process.env).filter.since; // Date.UTC(2025, 5, 1)
 * ```
 */
export function parseReportArgs(argv: readonly string[], env: NodeJS.ProcessEnv): ReportArgs {
  const { values, problem } = parseCommandLine(argv, REPORT_OPTIONS, { once: true, nonEmpty: true });
  if (problem) throw new CliArgumentError(describeProblem(problem));
  const by = (values.by ?? 'model') as GroupBy;
  if (!GROUPS.includes(by)) throw new CliArgumentError(`--by must be one of ${GROUPS.join(', ')} (got ${JSON.stringify(by)})`);
  const format = (values.format ?? 'table') as ReportFormat;
  if (!FORMATS.includes(format)) throw new CliArgumentError(`--format must be one of ${FORMATS.join(', ')} (got ${JSON.stringify(format)})`);
  const filter = parseFilter(values);
  const { db, databaseUrl, schema, table } = parseStoreChoice(values, env);
  const lockTimeoutMs = parseLockTimeout(values['lock-timeout']);
  return { filter, by, format, db, databaseUrl, schema, table, lockTimeoutMs, env };
}

function describeProblem(problem: ArgvProblem): string {
  return describeArgvProblem(problem, (p) =>
    p.kind === 'unknown-option' && p.arg.startsWith('--') ? `unknown option ${p.flag}` : `unexpected argument ${JSON.stringify(p.arg)}`,
  );
}

/** The period (`--since`, `--until`) and the string filters. */
function parseFilter(values: ReportValues): UsageFilter {
  const filter: UsageFilter = {};
  const { since, until } = values;
  const sinceMs = since === undefined ? undefined : parseReportDate('--since', since, false);
  const untilMs = until === undefined ? undefined : parseReportDate('--until', until, true);
  if (sinceMs !== undefined) filter.since = sinceMs;
  if (untilMs !== undefined) filter.until = untilMs;
  if (sinceMs !== undefined && untilMs !== undefined && untilMs <= sinceMs) {
    throw new CliArgumentError(`--until (${until}) must be after --since (${since})`);
  }
  for (const [flag, key] of STRING_FILTERS) {
    const v = values[flag];
    if (v !== undefined) (filter as Record<string, unknown>)[key] = v;
  }
  return filter;
}

/** SQLite (`--db`) or PostgreSQL (`--database-url`, else `$TOKENWARDEN_DATABASE_URL`), with its schema and table. */
function parseStoreChoice(values: ReportValues, env: NodeJS.ProcessEnv): Pick<ReportArgs, 'db' | 'databaseUrl' | 'schema' | 'table'> {
  const { db, schema, table } = values;
  let databaseUrl = values['database-url'];
  if (db !== undefined && databaseUrl !== undefined) throw new CliArgumentError('give either --db (SQLite) or --database-url (PostgreSQL), not both');
  if (db === undefined && databaseUrl === undefined && env.TOKENWARDEN_DATABASE_URL) databaseUrl = env.TOKENWARDEN_DATABASE_URL;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new CliArgumentError(`--database-url must be a postgres:// or postgresql:// URL (got ${JSON.stringify(redactUrl(databaseUrl))})`);
  }
  if ((schema !== undefined || table !== undefined) && databaseUrl === undefined) {
    throw new CliArgumentError('--schema and --table apply to PostgreSQL only (add --database-url)');
  }
  for (const [flag, v] of [['--schema', schema], ['--table', table]] as const) {
    if (v !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,39}$/.test(v)) {
      throw new CliArgumentError(`${flag} must be an identifier of letters, digits and _ (got ${JSON.stringify(v)})`);
    }
  }
  return { db, databaseUrl, schema, table };
}

function parseLockTimeout(raw: string | undefined): number {
  const ms = raw === undefined ? 5000 : Number(raw);
  if (!Number.isInteger(ms) || ms < 0 || (raw !== undefined && !/^\d+$/.test(raw))) {
    throw new CliArgumentError(`--lock-timeout must be a whole number of milliseconds (got ${JSON.stringify(raw)})`);
  }
  return ms;
}
