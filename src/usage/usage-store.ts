import type { Readiness } from '../core/types.js';
import type { UsageEvent } from './types.js';

/** Filters shared by queries, counts, summaries and daily series. Time bounds are epoch ms or Dates. */
export interface UsageFilter {
  /** Inclusive lower bound on `timestamp`. */
  since?: number | Date;
  /** Exclusive upper bound on `timestamp`. */
  until?: number | Date;
  orgId?: string;
  userId?: string;
  agentId?: string;
  model?: string;
  provider?: string;
  threadId?: string;
}

/** A page request: filters plus `limit` (default 100, at most 1000) and an opaque `cursor`. */
export interface UsageQuery extends UsageFilter {
  limit?: number;
  cursor?: string;
}

/** One page of events, oldest first; `nextCursor` is set when more events follow. */
export interface UsagePage {
  events: UsageEvent[];
  nextCursor: string | undefined;
}

/** Aggregates of a group of events. Money is exact: `costNanos` is integer nano-USD. */
export interface UsageAggregate {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  requestCount: number;
  costNanos: number;
  /** USD, `costNanos / 1e9`. */
  cost: number;
}

/** A billing summary for a period (and optionally one org). */
export interface BillingSummary {
  since: number | undefined;
  until: number | undefined;
  orgId: string | undefined;
  totals: UsageAggregate;
  byModel: Array<UsageAggregate & { model: string }>;
  byAgent: Array<UsageAggregate & { agentId: string | null }>;
}

/** One UTC day of a daily series. */
export interface DailyPoint extends UsageAggregate {
  /** UTC date, `YYYY-MM-DD`. */
  date: string;
}

/**
 * A durable home for usage events. Appends are idempotent by event id; once `append` resolves, the
 * events survive a crash of this process.
 */
export interface UsageStore {
  append(events: UsageEvent | readonly UsageEvent[]): Promise<void>;
  query(query?: UsageQuery): Promise<UsagePage>;
  count(filter?: UsageFilter): Promise<number>;
  summary(filter?: UsageFilter): Promise<BillingSummary>;
  daily(filter?: UsageFilter): Promise<DailyPoint[]>;
  /** Waits until every event handed to the store is durably written. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /**
   * Whether the store can durably keep new events now (its file present and unchanged, its disk
   * writable, its database or spool reachable). Absent: always ready.
   */
  readiness?(): Promise<Readiness>;
}
