import type { UsageAggregate, UsageFilter, UsageStore } from '../../usage/usage-store.js';
import type { UsageEvent } from '../../usage/types.js';
import type { Progress } from './progress.js';
import type { GroupBy, ReportRow } from './types.js';

/** A grouped report: its rows and their totals. */
export interface ReportRows {
  rows: ReportRow[];
  totals: UsageAggregate;
}

/**
 * Queries the store for the rows of a grouped report (`by` other than `event`): the store's own summary
 * by model or agent, its daily sums, or, by thread, a pass over every matching event.
 */
export async function queryReportRows(
  store: UsageStore,
  by: Exclude<GroupBy, 'event'>,
  filter: UsageFilter,
  progress: Progress,
  pageSize: number,
): Promise<ReportRows> {
  if (by === 'model' || by === 'agent') {
    const summary = await store.summary(filter);
    const rows = by === 'model'
      ? summary.byModel.map(({ model, ...agg }) => ({ key: model, ...agg }))
      : summary.byAgent.map(({ agentId, ...agg }) => ({ key: agentId, ...agg }));
    return { rows, totals: summary.totals };
  }
  const rows = by === 'day'
    ? (await store.daily(filter)).map(({ date, ...agg }) => ({ key: date, ...agg }))
    : await groupByThread(store, filter, progress, pageSize);
  return { rows, totals: sumRows(rows) };
}

/** Every page of events matching `filter`, `limit` at a time. */
export async function* eventPages(store: UsageStore, filter: UsageFilter, limit: number): AsyncGenerator<UsageEvent[]> {
  let cursor: string | undefined;
  do {
    const page = await store.query({ ...filter, limit, cursor });
    if (page.events.length > 0) yield page.events;
    cursor = page.nextCursor;
  } while (cursor);
}

/** Exact running sums of one group of events. */
interface Sums {
  p: bigint;
  c: bigint;
  t: bigint;
  n: bigint;
  cost: bigint;
  unpriced: bigint;
}

const noSums = (): Sums => ({ p: 0n, c: 0n, t: 0n, n: 0n, cost: 0n, unpriced: 0n });

/** An aggregate from exact sums: cost `null` when the group has events and none is priced (never a guessed 0). */
function aggregateOf(s: Sums): UsageAggregate {
  const costNanos = s.n > 0n && s.unpriced >= s.n ? null : Number(s.cost);
  return {
    promptTokens: Number(s.p),
    completionTokens: Number(s.c),
    totalTokens: Number(s.t),
    requestCount: Number(s.n),
    costNanos,
    cost: costNanos === null ? null : costNanos / 1e9,
    unpricedCount: Number(s.unpriced),
  };
}

async function groupByThread(store: UsageStore, filter: UsageFilter, progress: Progress, pageSize: number): Promise<ReportRow[]> {
  const total = progress.enabled ? await store.count(filter) : 0;
  const groups = new Map<string | null, Sums>();
  let seen = 0;
  for await (const events of eventPages(store, filter, pageSize)) {
    for (const e of events) {
      let g = groups.get(e.threadId);
      if (!g) groups.set(e.threadId, (g = noSums()));
      g.p += BigInt(e.promptTokens);
      g.c += BigInt(e.completionTokens);
      g.t += BigInt(e.totalTokens);
      g.n += 1n;
      if (e.costNanos === undefined) g.unpriced += 1n;
      else g.cost += BigInt(e.costNanos);
    }
    seen += events.length;
    progress.update('reading events', seen, total);
  }
  return [...groups]
    .map(([key, g]): ReportRow => ({ key, ...aggregateOf(g) }))
    .sort((a, b) => (b.costNanos ?? 0) - (a.costNanos ?? 0) || b.totalTokens - a.totalTokens || compareKeys(a.key, b.key));
}

function sumRows(rows: ReportRow[]): UsageAggregate {
  const s = noSums();
  for (const r of rows) {
    s.p += BigInt(r.promptTokens);
    s.c += BigInt(r.completionTokens);
    s.t += BigInt(r.totalTokens);
    s.n += BigInt(r.requestCount);
    s.cost += BigInt(r.costNanos ?? 0);
    s.unpriced += BigInt(r.unpricedCount);
  }
  return aggregateOf(s);
}

/** Keys in order, `null` (no thread) last. */
function compareKeys(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}
