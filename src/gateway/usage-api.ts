import type { BillingSummary, DailyPoint, HourlyPoint, UsageAggregate, UsageFilter } from '../usage/usage-store.js';
import { eventOrgId, eventUserId, type UsageEvent } from '../usage/types.js';
import { badRequest } from './http-error.js';
import { checkClientId, splitScopedThreadId } from './thread-scope.js';

const FILTER_PARAMS = ['since', 'until', 'org_id', 'user_id', 'agent_id', 'model', 'provider', 'thread_id'] as const;
const PAGE_PARAMS = ['limit', 'cursor'] as const;
const MAX_TEXT_PARAM = 256;

/** The query parameters of a usage request, validated (org scoping is applied by the caller). */
export interface UsageParams {
  filter: Omit<UsageFilter, 'orgId' | 'threadId'>;
  orgId?: string;
  /** The client's thread id (not yet scoped by org). */
  threadId?: string;
  limit?: number;
  cursor?: string;
}

/**
 * Validates usage query parameters: `since`/`until` (epoch ms or ISO 8601), `org_id`, `user_id`,
 * `agent_id`, `model`, `provider`, `thread_id`, and with `paged` also `limit` (1–1000) and `cursor`.
 * Unknown or repeated parameters and bad values are 400s naming the parameter.
 */
export function parseUsageParams(params: URLSearchParams, paged: boolean): UsageParams {
  const allowed: readonly string[] = paged ? [...FILTER_PARAMS, ...PAGE_PARAMS] : FILTER_PARAMS;
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (!allowed.includes(key)) {
      throw badRequest(key, `Unknown query parameter ${JSON.stringify(key)}; allowed: ${allowed.join(', ')}`, 'unknown_parameter');
    }
    if (seen.has(key)) throw badRequest(key, `Query parameter ${JSON.stringify(key)} is given more than once`);
    seen.add(key);
  }
  const out: UsageParams = { filter: {} };
  const since = params.get('since');
  if (since !== null) out.filter.since = parseTime('since', since);
  const until = params.get('until');
  if (until !== null) out.filter.until = parseTime('until', until);
  if (out.filter.since !== undefined && out.filter.until !== undefined && out.filter.until <= out.filter.since) {
    throw badRequest('until', `until: must be after since (got since=${since}, until=${until})`);
  }
  const org = params.get('org_id');
  if (org !== null) out.orgId = checkClientId('org_id', org);
  const thread = params.get('thread_id');
  if (thread !== null) out.threadId = checkClientId('thread_id', thread);
  for (const [param, field] of [
    ['user_id', 'userId'],
    ['agent_id', 'agentId'],
    ['model', 'model'],
    ['provider', 'provider'],
  ] as const) {
    const v = params.get(param);
    if (v === null) continue;
    if (v.length === 0 || v.length > MAX_TEXT_PARAM) {
      throw badRequest(param, `${param}: must be 1-${MAX_TEXT_PARAM} characters (got ${v.length})`);
    }
    out.filter[field] = v;
  }
  if (paged) {
    const limit = params.get('limit');
    if (limit !== null) {
      const n = /^\d{1,7}$/.test(limit) ? Number(limit) : NaN;
      if (!(n >= 1 && n <= 1000)) throw badRequest('limit', `limit: must be an integer from 1 to 1000 (got ${JSON.stringify(limit)})`);
      out.limit = n;
    }
    const cursor = params.get('cursor');
    if (cursor !== null) {
      if (cursor.length === 0 || cursor.length > 512) throw badRequest('cursor', 'cursor: must be a value returned as next_cursor');
      out.cursor = cursor;
    }
  }
  return out;
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|([+-])(\d{2}):?(\d{2}))?)?$/;

/**
 * Epoch ms from `1732800000000`, `2024-11-28` or `2024-11-28T12:00:00Z`. Dates are checked against the
 * calendar (`2024-02-30` is refused, not read as 1 March); a date or a zone-less time is UTC, so results
 * do not depend on the server's zone.
 */
export function parseTime(param: string, value: string): number {
  if (/^\d{1,15}$/.test(value)) return Number(value);
  const m = ISO_TIME.exec(value);
  const t = m ? isoToEpoch(m) : undefined;
  return t ?? badTime(param, value);
}

function isoToEpoch(m: RegExpExecArray): number | undefined {
  const [year, month, day, hour = 0, minute = 0, second = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => (v === undefined ? undefined : Number(v)));
  if (year === undefined || month === undefined || day === undefined) return undefined;
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMin = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000);
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, ms);
  return utc.getTime() - offsetMin * 60_000;
}

function badTime(param: string, value: string): never {
  throw badRequest(
    param,
    `${param}: must be epoch milliseconds or a real calendar date/time in ISO 8601 such as 2024-11-28 or 2024-11-28T12:00:00Z (got ${JSON.stringify(value.slice(0, 40))})`,
  );
}

/**
 * Aggregate in snake_case, with USD. `unpriced_requests` counts the requests whose model has no known
 * price: they are not in `cost_nanos`/`cost_usd`, which are `null` when every request is unpriced.
 */
export function aggregateJson(a: UsageAggregate): Record<string, number | null> {
  return {
    prompt_tokens: a.promptTokens,
    completion_tokens: a.completionTokens,
    total_tokens: a.totalTokens,
    request_count: a.requestCount,
    cost_nanos: a.costNanos,
    cost_usd: a.costNanos === null ? null : a.costNanos / 1e9,
    unpriced_requests: a.unpricedCount,
  };
}

/** `GET /v1/usage/summary` body. */
export function summaryJson(s: BillingSummary): Record<string, unknown> {
  return {
    object: 'usage.summary',
    since: s.since ?? null,
    until: s.until ?? null,
    org_id: s.orgId ?? null,
    totals: aggregateJson(s.totals),
    by_model: s.byModel.map((m) => ({ model: m.model, ...aggregateJson(m) })),
    by_agent: s.byAgent.map((m) => ({ agent_id: m.agentId, ...aggregateJson(m) })),
  };
}

/** `GET /v1/usage/daily` body. */
export function dailyJson(points: readonly DailyPoint[]): Record<string, unknown> {
  return { object: 'list', data: points.map((p) => ({ date: p.date, ...aggregateJson(p) })) };
}

const HOUR_MS = 3_600_000;
/** Longest range `GET /v1/usage/hourly` answers: 31 days of hours (744 points). */
export const MAX_HOURLY_RANGE_MS = 31 * 24 * HOUR_MS;
/** Range of `GET /v1/usage/hourly` when none is given: the current UTC hour and the 23 before it. */
export const DEFAULT_HOURLY_RANGE_MS = 24 * HOUR_MS;

/**
 * The time range of an hourly series: the caller's `since`/`until`, defaulting to the last 24 hours
 * (from the start of the UTC hour 23 hours ago; `since` alone runs to now, `until` alone starts 24 hours
 * earlier), and at most {@link MAX_HOURLY_RANGE_MS} long (a 400 naming the parameter otherwise), so one
 * request never scans more than a month of events.
 *
 * @example
 * ```ts
 * hourlyRange({}, Date.UTC(2025, 0, 2, 10, 30)); // { since: Date.UTC(2025, 0, 1, 11), until: undefined }
 * ```
 */
export function hourlyRange(filter: UsageParams['filter'], now: number): { since: number; until: number | undefined } {
  const given = { since: toMs(filter.since), until: toMs(filter.until) };
  if (given.since === undefined) {
    const since = given.until === undefined ? Math.floor(now / HOUR_MS) * HOUR_MS - 23 * HOUR_MS : given.until - DEFAULT_HOURLY_RANGE_MS;
    return { since, until: given.until };
  }
  const end = given.until ?? now;
  if (end - given.since > MAX_HOURLY_RANGE_MS) {
    const param = given.until === undefined ? 'since' : 'until';
    throw badRequest(param, `${param}: an hourly series covers at most 31 days (744 hours); narrow since/until or use /v1/usage/daily`);
  }
  return { since: given.since, until: given.until };
}

function toMs(v: number | Date | undefined): number | undefined {
  return v === undefined ? undefined : typeof v === 'number' ? v : v.getTime();
}

/** `GET /v1/usage/hourly` body: the range answered (epoch ms; `until` null = now) and one point per UTC hour with events. */
export function hourlyJson(points: readonly HourlyPoint[], range: { since: number; until: number | undefined }): Record<string, unknown> {
  return { object: 'list', since: range.since, until: range.until ?? null, data: points.map((p) => ({ hour: p.hour, ...aggregateJson(p) })) };
}

/** One usage event in snake_case; the thread id is shown as the client sent it (without the org prefix). */
export function eventJson(e: UsageEvent): Record<string, unknown> {
  const org = eventOrgId(e);
  let threadId = e.threadId;
  if (threadId !== null && org !== null) {
    const split = splitScopedThreadId(threadId);
    if (split.org === org) threadId = split.threadId;
  }
  const out: Record<string, unknown> = {
    id: e.id,
    object: 'usage.event',
    timestamp: e.timestamp,
    thread_id: threadId,
    agent_id: e.agentId,
    org_id: org,
    user_id: eventUserId(e),
    model: e.model,
    provider: e.provider,
    prompt_tokens: e.promptTokens,
    completion_tokens: e.completionTokens,
    total_tokens: e.totalTokens,
    latency_ms: e.latencyMs,
    cost_nanos: e.costNanos ?? null,
    cost_usd: e.costNanos === undefined ? null : e.costNanos / 1e9,
    metadata: e.metadata,
  };
  if (e.cachedPromptTokens !== undefined) out.cached_prompt_tokens = e.cachedPromptTokens;
  if (e.cacheWriteTokens !== undefined) out.cache_write_tokens = e.cacheWriteTokens;
  if (e.reasoningTokens !== undefined) out.reasoning_tokens = e.reasoningTokens;
  if (e.overspendTokens !== undefined) out.overspend_tokens = e.overspendTokens;
  return out;
}
