import type { BillingSummary, DailyPoint, HourlyPoint, UsageAggregate } from '../../../usage/usage-store.js';
import type { NormalizedFilter } from './usage-filter.js';

/** Sums of one group as the database returned them (number, bigint or numeric string per driver). */
export interface GroupSums {
  promptTokens: unknown;
  completionTokens: unknown;
  totalTokens: unknown;
  requestCount: unknown;
  costNanos: unknown;
  /** Events of the group without a cost (their model had no known price). */
  unpricedCount: unknown;
}

/** Exact running sums (BigInt), so adding many groups never drifts. */
interface Acc {
  prompt: bigint;
  completion: bigint;
  total: bigint;
  count: bigint;
  cost: bigint;
  unpriced: bigint;
}

const MS_PER_DAY = 86_400_000;
const MS_PER_HOUR = 3_600_000;

function big(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string' && v.length > 0) return BigInt(v.includes('.') ? v.slice(0, v.indexOf('.')) : v);
  return 0n;
}

function blank(): Acc {
  return { prompt: 0n, completion: 0n, total: 0n, count: 0n, cost: 0n, unpriced: 0n };
}

function add(acc: Acc, s: GroupSums): void {
  acc.prompt += big(s.promptTokens);
  acc.completion += big(s.completionTokens);
  acc.total += big(s.totalTokens);
  acc.count += big(s.requestCount);
  acc.cost += big(s.costNanos);
  acc.unpriced += big(s.unpricedCount);
}

/**
 * An aggregate from exact sums. Values above 2^53 (e.g. more than about 9 million USD of nano-USD in
 * one group) cannot be represented exactly by a JS number and are rounded to the nearest double. The
 * cost is `null` when the group has events and none of them is priced (never a guessed `0`).
 */
function toAggregate(acc: Acc): UsageAggregate {
  const unpriced = acc.count > 0n && acc.unpriced >= acc.count;
  const costNanos = unpriced ? null : Number(acc.cost);
  return {
    promptTokens: Number(acc.prompt),
    completionTokens: Number(acc.completion),
    totalTokens: Number(acc.total),
    requestCount: Number(acc.count),
    costNanos,
    cost: costNanos === null ? null : costNanos / 1e9,
    unpricedCount: Number(acc.unpriced),
  };
}

/**
 * Orders groups by cost, then tokens (both descending), then key; a `null` key sorts last on ties. An
 * unpriced group (cost `null`) ranks as a cost of 0.
 */
function byCostThenKey<K extends string | null>(a: [K, UsageAggregate], b: [K, UsageAggregate]): number {
  const ac = a[1].costNanos ?? 0;
  const bc = b[1].costNanos ?? 0;
  if (ac !== bc) return bc - ac;
  if (a[1].totalTokens !== b[1].totalTokens) return b[1].totalTokens - a[1].totalTokens;
  if (a[0] === b[0]) return 0;
  if (a[0] === null) return 1;
  if (b[0] === null) return -1;
  return a[0] < b[0] ? -1 : 1;
}

/**
 * Builds a {@link BillingSummary} from per-(model, agent) group sums, rolling them up exactly into
 * totals, by-model and by-agent breakdowns. Both SQL stores run one grouped scan and call this.
 */
export function buildSummary(
  filter: NormalizedFilter,
  groups: Iterable<GroupSums & { model: unknown; agentId: unknown }>,
): BillingSummary {
  const totals = blank();
  const models = new Map<string, Acc>();
  const agents = new Map<string | null, Acc>();
  for (const g of groups) {
    add(totals, g);
    const model = String(g.model);
    const agent = g.agentId === null || g.agentId === undefined ? null : String(g.agentId);
    let m = models.get(model);
    if (!m) models.set(model, (m = blank()));
    add(m, g);
    let a = agents.get(agent);
    if (!a) agents.set(agent, (a = blank()));
    add(a, g);
  }
  const byModel = [...models].map(([k, v]): [string, UsageAggregate] => [k, toAggregate(v)]).sort(byCostThenKey);
  const byAgent = [...agents].map(([k, v]): [string | null, UsageAggregate] => [k, toAggregate(v)]).sort(byCostThenKey);
  return {
    since: filter.since,
    until: filter.until,
    orgId: filter.orgId,
    totals: toAggregate(totals),
    byModel: byModel.map(([model, agg]) => ({ model, ...agg })),
    byAgent: byAgent.map(([agentId, agg]) => ({ agentId, ...agg })),
  };
}

/**
 * Builds a daily series from per-day sums keyed by the UTC day number (`floor(ts / 86 400 000)`).
 * Rows for the same day (a rollup part and a partial-day part) are added together.
 */
export function buildDaily(rows: Iterable<GroupSums & { day: unknown }>): DailyPoint[] {
  const days = new Map<number, Acc>();
  for (const r of rows) {
    const day = Number(big(r.day));
    let acc = days.get(day);
    if (!acc) days.set(day, (acc = blank()));
    add(acc, r);
  }
  return [...days]
    .sort((a, b) => a[0] - b[0])
    .map(([day, acc]) => ({ date: utcDate(day * MS_PER_DAY), ...toAggregate(acc) }));
}

/**
 * Builds an hourly series from per-hour sums keyed by the UTC hour number (`floor(ts / 3 600 000)`),
 * oldest first; rows of the same hour are added together.
 */
export function buildHourly(rows: Iterable<GroupSums & { hour: unknown }>): HourlyPoint[] {
  const hours = new Map<number, Acc>();
  for (const r of rows) {
    const hour = Number(big(r.hour));
    let acc = hours.get(hour);
    if (!acc) hours.set(hour, (acc = blank()));
    add(acc, r);
  }
  return [...hours]
    .sort((a, b) => a[0] - b[0])
    .map(([hour, acc]) => ({ hour: utcHour(hour * MS_PER_HOUR), ...toAggregate(acc) }));
}

/** `YYYY-MM-DDTHH:00:00Z`: the start of the UTC hour holding an epoch-ms instant. */
export function utcHour(ms: number): string {
  return new Date(Math.floor(ms / MS_PER_HOUR) * MS_PER_HOUR).toISOString().slice(0, 13) + ':00:00Z';
}

/** `YYYY-MM-DD` of an epoch-ms instant, in UTC. */
export function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Maps a row with `prompt_tokens, completion_tokens, total_tokens, request_count, cost_nanos,
 * unpriced_count` to {@link GroupSums}.
 */
export function sumsOf(row: Record<string, unknown>): GroupSums {
  return {
    promptTokens: row.prompt_tokens,
    completionTokens: row.completion_tokens,
    totalTokens: row.total_tokens,
    requestCount: row.request_count,
    costNanos: row.cost_nanos,
    unpricedCount: row.unpriced_count,
  };
}
