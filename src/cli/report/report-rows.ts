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

async function groupByThread(store: UsageStore, filter: UsageFilter, progress: Progress, pageSize: number): Promise<ReportRow[]> {
  const total = progress.enabled ? await store.count(filter) : 0;
  const groups = new Map<string | null, { p: bigint; c: bigint; t: bigint; n: number; cost: bigint }>();
  let seen = 0;
  for await (const events of eventPages(store, filter, pageSize)) {
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
    .map(([key, g]): ReportRow => ({
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

function sumRows(rows: ReportRow[]): UsageAggregate {
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

/** Keys in order, `null` (no thread) last. */
function compareKeys(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}
