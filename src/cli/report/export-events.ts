import type { UsageStore } from '../../usage/usage-store.js';
import type { UsageEvent } from '../../usage/types.js';
import { csvField, usdExact, usdRounded } from './cell-format.js';
import type { Progress } from './progress.js';
import { eventPages } from './report-rows.js';
import type { ReportArgs, ReportCommandIO, ReportFormat } from './types.js';

const COLUMNS = [
  'timestamp', 'id', 'org_id', 'user_id', 'thread_id', 'agent_id', 'provider', 'model', 'prompt_tokens', 'completion_tokens',
  'total_tokens', 'latency_ms', 'cost_nanos', 'cost_usd',
];
/** Columns the table leaves out (CSV and JSON carry them). */
const NOT_IN_TABLE = ['org_id', 'user_id', 'cost_nanos', 'latency_ms'];

/**
 * `--by event`: writes every matching event, a page at a time (CSV rows, a streamed JSON array, or a
 * tab-separated table), with a progress line on a terminal.
 */
export async function exportEvents(store: UsageStore, args: ReportArgs, io: ReportCommandIO, progress: Progress, pageSize: number): Promise<void> {
  const total = progress.enabled ? await store.count(args.filter) : 0;
  let seen = 0;
  if (args.format === 'csv') io.stdout(COLUMNS.join(',') + '\n');
  else if (args.format === 'json') io.stdout('[');
  else io.stdout(COLUMNS.filter((c) => !NOT_IN_TABLE.includes(c)).map((c) => c.toUpperCase()).join('\t') + '\n');
  for await (const events of eventPages(store, args.filter, pageSize)) {
    let out = '';
    for (const e of events) out += formatEvent(e, args.format, seen === 0 && out === '');
    seen += events.length;
    progress.clear();
    io.stdout(out);
    progress.update('exporting events', seen, total);
  }
  progress.clear();
  if (args.format === 'json') io.stdout(seen === 0 ? ']\n' : '\n]\n');
}

/** One event as a CSV row, a JSON array element (`first` has no leading comma) or a table line. */
function formatEvent(e: UsageEvent, format: ReportFormat, first: boolean): string {
  if (format === 'csv') return cells(e).map(csvField).join(',') + '\n';
  if (format === 'json') return (first ? '\n' : ',\n') + JSON.stringify(e);
  const c = cells(e);
  return [c[0], c[1], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[13] === '' ? '-' : `$${usdRounded(e.costNanos!)}`].join('\t') + '\n';
}

function cells(e: UsageEvent): Array<string | number> {
  return [
    new Date(e.timestamp).toISOString(), e.id, stringOr(e.metadata.org_id ?? e.metadata.orgId), stringOr(e.metadata.user_id ?? e.metadata.userId),
    e.threadId ?? '', e.agentId ?? '', e.provider, e.model, e.promptTokens, e.completionTokens, e.totalTokens, e.latencyMs,
    e.costNanos ?? '', e.costNanos === undefined ? '' : usdExact(e.costNanos),
  ];
}

function stringOr(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}
