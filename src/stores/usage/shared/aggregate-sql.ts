import { filterConditions, prefixCondition, type MetadataText, type NormalizedFilter } from './usage-filter.js';

const MS_PER_DAY = 86_400_000;
const MS_PER_HOUR = 3_600_000;

/** Names and placeholder style a backend plugs into the shared aggregate SQL. */
export interface AggregateSqlContext {
  /** The (quoted) events table. */
  events: string;
  /**
   * The (quoted) daily rollup table, or undefined when the schema predates it or its `unpriced_count`
   * column (events are scanned).
   */
  rollup: string | undefined;
  /** Registers a parameter value and returns its placeholder (`?` or `$n`). */
  param: (value: unknown) => string;
  /** The backend's SQL for a metadata key's text (`keyName`). */
  metadataText: MetadataText;
}

/** Which whole UTC days come from the rollup and which event time ranges are scanned directly. */
export interface AggregatePlan {
  /** Whole days `[fromDay, toDay)` (day numbers; `undefined` = unbounded) read from the rollup, if any. */
  rollup: { fromDay: number | undefined; toDay: number | undefined } | undefined;
  /** Event ranges `[since, until)` (epoch ms; `undefined` = unbounded) aggregated from the events table. */
  raw: Array<{ since: number | undefined; until: number | undefined }>;
}

/**
 * Splits an aggregate query into whole UTC days, answered from the daily rollup (maintained by
 * triggers on every insert, update and delete), and the partial days at either end, answered from the
 * events. Filters the rollup does not key on (user, thread, key name) go to the events entirely.
 *
 * @example
 * ```ts
 * planAggregate({ since: Date.UTC(2025, 0, 1, 12), until: Date.UTC(2025, 0, 31), ... });
 * // rollup: days 2025-01-02 .. 2025-01-30; raw: [2025-01-01T12:00Z, 2025-01-02T00:00Z)
 * ```
 */
export function planAggregate(f: NormalizedFilter, useRollup = true): AggregatePlan {
  const since = f.since === undefined ? undefined : Math.ceil(f.since);
  const until = f.until === undefined ? undefined : Math.ceil(f.until);
  if (!useRollup || f.userId !== undefined || f.threadId !== undefined || f.keyName !== undefined) return { rollup: undefined, raw: [{ since, until }] };
  const fromDay = since === undefined ? undefined : Math.ceil(since / MS_PER_DAY);
  const toDay = until === undefined ? undefined : Math.floor(until / MS_PER_DAY);
  if (fromDay !== undefined && toDay !== undefined && fromDay >= toDay) return { rollup: undefined, raw: [{ since, until }] };
  const raw: AggregatePlan['raw'] = [];
  if (since !== undefined && fromDay !== undefined && since < fromDay * MS_PER_DAY) raw.push({ since, until: fromDay * MS_PER_DAY });
  if (until !== undefined && toDay !== undefined && toDay * MS_PER_DAY < until) raw.push({ since: toDay * MS_PER_DAY, until });
  return { rollup: { fromDay, toDay }, raw };
}

/** Exact group sums over raw events; `unpriced_count` counts the events without a cost. */
const EVENT_SUMS =
  'SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, ' +
  'SUM(total_tokens) AS total_tokens, COUNT(*) AS request_count, COALESCE(SUM(cost_nanos), 0) AS cost_nanos, ' +
  'COUNT(*) - COUNT(cost_nanos) AS unpriced_count';
/** Exact group sums over rollup rows (a rollup with the `unpriced_count` column). */
const ROLLUP_SUMS =
  'SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, ' +
  'SUM(total_tokens) AS total_tokens, SUM(request_count) AS request_count, SUM(cost_nanos) AS cost_nanos, ' +
  'SUM(unpriced_count) AS unpriced_count';

/** Rollup key encoding of a nullable value: `''` for null, `'=' || value` otherwise (so `''` stays distinct). */
export const NULLABLE_KEY = (column: string): string => `COALESCE('=' || ${column}, '')`;

function eventWhere(f: NormalizedFilter, range: AggregatePlan['raw'][number], c: AggregateSqlContext): string {
  const where = filterConditions({ ...f, since: range.since, until: range.until }, c.param, c.metadataText);
  return where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
}

function rollupWhere(f: NormalizedFilter, days: NonNullable<AggregatePlan['rollup']>, param: (v: unknown) => string): string {
  const where: string[] = [];
  if (days.fromDay !== undefined) where.push(`day >= ${param(days.fromDay)}`);
  if (days.toDay !== undefined) where.push(`day < ${param(days.toDay)}`);
  if (f.orgId !== undefined) where.push(`org_key = ${param('=' + f.orgId)}`);
  if (f.agentId !== undefined) where.push(`agent_key = ${param('=' + f.agentId)}`);
  if (f.model !== undefined) where.push(`model = ${param(f.model)}`);
  if (f.provider !== undefined) where.push(`provider = ${param(f.provider)}`);
  if (f.modelPrefix !== undefined) where.push(prefixCondition('model', f.modelPrefix, param));
  return where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
}

function union(parts: string[], empty: string): string {
  return parts.length > 0 ? parts.join(' UNION ALL ') : empty;
}

/** SQL returning `(model, agent_id, sums)` rows; several rows may share a key (sum them). */
export function summarySql(f: NormalizedFilter, c: AggregateSqlContext): string {
  const plan = planAggregate(f, c.rollup !== undefined);
  const parts = plan.raw.map(
    (r) => `SELECT model, agent_id, ${EVENT_SUMS} FROM ${c.events}${eventWhere(f, r, c)} GROUP BY model, agent_id`,
  );
  if (plan.rollup) {
    parts.push(
      `SELECT model, CASE WHEN agent_key = '' THEN NULL ELSE substr(agent_key, 2) END AS agent_id, ${ROLLUP_SUMS} ` +
        `FROM ${c.rollup}${rollupWhere(f, plan.rollup, c.param)} GROUP BY model, agent_key HAVING SUM(request_count) > 0`,
    );
  }
  return union(parts, `SELECT model, agent_id, ${EVENT_SUMS} FROM ${c.events} WHERE 1 = 0 GROUP BY model, agent_id`);
}

/** SQL returning `(day, sums)` rows keyed by UTC day number; a day may appear twice (sum them). */
export function dailySql(f: NormalizedFilter, c: AggregateSqlContext): string {
  const plan = planAggregate(f, c.rollup !== undefined);
  const parts = plan.raw.map(
    (r) => `SELECT ts / ${MS_PER_DAY} AS day, ${EVENT_SUMS} FROM ${c.events}${eventWhere(f, r, c)} GROUP BY ts / ${MS_PER_DAY}`,
  );
  if (plan.rollup) {
    parts.push(`SELECT day, ${ROLLUP_SUMS} FROM ${c.rollup}${rollupWhere(f, plan.rollup, c.param)} GROUP BY day HAVING SUM(request_count) > 0`);
  }
  return union(parts, `SELECT ts / ${MS_PER_DAY} AS day, ${EVENT_SUMS} FROM ${c.events} WHERE 1 = 0 GROUP BY ts / ${MS_PER_DAY}`);
}

/**
 * SQL returning `(hour, sums)` rows keyed by UTC hour number (`ts / 3 600 000`), one per hour. Always
 * read from the events: the `ts` range comes first in the WHERE clause, so the `(ts, id)` index (or
 * `(org_id, ts)` for one org) bounds the scan to the range asked for.
 */
export function hourlySql(f: NormalizedFilter, c: AggregateSqlContext): string {
  const range = { since: f.since === undefined ? undefined : Math.ceil(f.since), until: f.until === undefined ? undefined : Math.ceil(f.until) };
  return `SELECT ts / ${MS_PER_HOUR} AS hour, ${EVENT_SUMS} FROM ${c.events}${eventWhere(f, range, c)} GROUP BY ts / ${MS_PER_HOUR}`;
}

/** SQL returning one `n` per part; the count is their sum. */
export function countSql(f: NormalizedFilter, c: AggregateSqlContext): string {
  const plan = planAggregate(f, c.rollup !== undefined);
  const parts = plan.raw.map((r) => `SELECT COUNT(*) AS n FROM ${c.events}${eventWhere(f, r, c)}`);
  if (plan.rollup) parts.push(`SELECT COALESCE(SUM(request_count), 0) AS n FROM ${c.rollup}${rollupWhere(f, plan.rollup, c.param)}`);
  return union(parts, `SELECT 0 AS n`);
}
