import type { UsageAggregate, UsageStore } from '../../usage/usage-store.js';
import { csvField, formatInteger, isoOrNull, usdExact, usdRounded } from './cell-format.js';
import { exportEvents } from './export-events.js';
import type { Progress } from './progress.js';
import { queryReportRows } from './report-rows.js';
import type { GroupBy, ReportArgs, ReportCommandIO, ReportRow } from './types.js';

type Grouped = Exclude<GroupBy, 'event'>;

const KEY_NAME: Record<Grouped, string> = { model: 'model', agent: 'agentId', day: 'date', thread: 'threadId' };
const KEY_LABEL: Record<Grouped, string> = { model: 'MODEL', agent: 'AGENT', day: 'DATE (UTC)', thread: 'THREAD' };

/** Queries the store and writes the report the arguments ask for: grouped rows, or every event (`--by event`). */
export async function writeReport(store: UsageStore, args: ReportArgs, io: ReportCommandIO, progress: Progress, pageSize: number): Promise<void> {
  if (args.by === 'event') return exportEvents(store, args, io, progress, pageSize);
  const by = args.by;
  const { rows, totals } = await queryReportRows(store, by, args.filter, progress, pageSize);
  progress.clear();
  if (args.format === 'json') io.stdout(renderJson(args, by, rows, totals));
  else if (args.format === 'csv') io.stdout(renderCsv(by, rows));
  else io.stdout(renderTable(args, by, rows, totals));
}

function renderJson(args: ReportArgs, by: Grouped, rows: ReportRow[], totals: UsageAggregate): string {
  const keyName = KEY_NAME[by];
  const report = {
    since: isoOrNull(args.filter.since),
    until: isoOrNull(args.filter.until),
    orgId: args.filter.orgId ?? null,
    by,
    rows: rows.map(({ key, ...agg }) => ({ [keyName]: key, ...agg })),
    totals,
  };
  return JSON.stringify(report, null, 2) + '\n';
}

function renderCsv(by: Grouped, rows: ReportRow[]): string {
  const keyName = KEY_NAME[by];
  const keyColumn = keyName === 'agentId' ? 'agent_id' : keyName === 'threadId' ? 'thread_id' : keyName;
  const header = [keyColumn, 'requests', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_nanos', 'cost_usd', 'unpriced_requests'];
  let out = header.join(',') + '\n';
  for (const r of rows) {
    // An unpriced group has empty cost cells (as an unpriced event has in --by event), never 0.
    const cost = r.costNanos === null ? ['', ''] : [r.costNanos, usdExact(r.costNanos)];
    out += [r.key ?? '', r.requestCount, r.promptTokens, r.completionTokens, r.totalTokens, ...cost, r.unpricedCount].map(csvField).join(',') + '\n';
  }
  return out;
}

function renderTable(args: ReportArgs, by: Grouped, rows: ReportRow[], totals: UsageAggregate): string {
  const head = [KEY_LABEL[by], 'REQUESTS', 'PROMPT', 'COMPLETION', 'TOTAL TOKENS', 'COST (USD)'];
  const line = (r: UsageAggregate, key: string): string[] => [
    key, formatInteger(r.requestCount), formatInteger(r.promptTokens), formatInteger(r.completionTokens), formatInteger(r.totalTokens),
    r.costNanos === null ? 'unpriced' : `$${usdRounded(r.costNanos)}`,
  ];
  const body = rows.map((r) => line(r, r.key ?? '(none)'));
  const foot = line(totals, 'TOTAL');
  const widths = head.map((h, i) => Math.max(h.length, foot[i]!.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cols: string[]): string => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const lines = [`Usage ${describePeriod(args)}, ${describeScope(args)}, by ${by}`, '', fmt(head), rule, ...body.map(fmt), rule, fmt(foot)];
  if (rows.length === 0) lines.splice(4, 0, '(no usage in this period)');
  if (totals.unpricedCount > 0) lines.push('', describeUnpriced(totals));
  return lines.join('\n') + '\n';
}

/** The table's note on requests whose model has no known price (their cost is not guessed). */
function describeUnpriced(totals: UsageAggregate): string {
  const n = totals.unpricedCount;
  const requests = `${formatInteger(n)} of ${formatInteger(totals.requestCount)} request${totals.requestCount === 1 ? '' : 's'}`;
  return `Unpriced: ${requests} used a model without a known price; ${n === 1 ? 'its' : 'their'} cost is not included above.`;
}

function describePeriod(args: ReportArgs): string {
  const { since, until } = args.filter;
  if (since === undefined && until === undefined) return 'all time';
  return `from ${since === undefined ? 'the first event' : isoOrNull(since)} to ${until === undefined ? 'now' : `${isoOrNull(until)} (exclusive)`}`;
}

function describeScope(args: ReportArgs): string {
  return args.filter.orgId === undefined ? 'all orgs' : `org ${args.filter.orgId}`;
}
