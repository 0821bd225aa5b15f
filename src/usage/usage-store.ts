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
  /** The API key's name the gateway stamped on the event (`metadata.key_name`, compared as text). */
  keyName?: string;
  /** Events whose model starts with this text (literally: `%` and `_` are plain characters; case-sensitive). */
  modelPrefix?: string;
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

/**
 * Aggregates of a group of events. Money is exact: `costNanos` is integer nano-USD.
 *
 * An event whose model has no known price has no cost (never a guessed `0`). Such events are counted
 * in `unpricedCount`; the cost of a group is the sum over its priced events only, and `null` when
 * every event of the group is unpriced. An empty group costs `0`.
 */
export interface UsageAggregate {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  requestCount: number;
  /** Sum of the priced events' costs in nano-USD; `null` when the group has events and all are unpriced. */
  costNanos: number | null;
  /** USD, `costNanos / 1e9`; `null` like `costNanos`. */
  cost: number | null;
  /** How many of the group's `requestCount` events are unpriced (not included in `costNanos`). */
  unpricedCount: number;
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

/** One UTC hour of an hourly series. */
export interface HourlyPoint extends UsageAggregate {
  /** Start of the UTC hour, ISO 8601 without milliseconds: `2025-03-10T13:00:00Z`. */
  hour: string;
}

/**
 * A durable home for usage events. Appends are idempotent by event id; once `append` resolves, the
 * events survive a crash of this process.
 *
 * Events reach a store by one path, the committer module (`usage/usage-committer.ts`): `store.attach(tracker)`
 * uses its `attachInline` to keep each event before `record()` returns (through {@link appendSync}), the gateway uses it
 * to commit the events of one event-loop turn together (through {@link append}, or `appendSync` when
 * {@link appendsInline}).
 */
export interface UsageStore {
  append(events: UsageEvent | readonly UsageEvent[]): Promise<void>;
  /**
   * Keeps events durably before it returns, on the caller's thread, or throws the store's error: the
   * SQLite store commits them, the PostgreSQL store appends them to its spool (the database write
   * follows in the background). `attach(tracker)` calls it inside `tracker.record()`, so an event is
   * durable before the caller moves on. Absent: the store can keep events only asynchronously, through
   * {@link append}.
   */
  appendSync?(events: UsageEvent | readonly UsageEvent[]): void;
  /**
   * True when {@link append} does all its work in {@link appendSync} on the caller's thread (its promise
   * adds nothing but a microtask), so a caller writing batches may call `appendSync` instead and save a
   * promise per batch. False or absent when `append` commits elsewhere (a writer thread) or may wait (for
   * room in a queue): batches then go through `append`.
   */
  readonly appendsInline?: boolean;
  query(query?: UsageQuery): Promise<UsagePage>;
  count(filter?: UsageFilter): Promise<number>;
  summary(filter?: UsageFilter): Promise<BillingSummary>;
  daily(filter?: UsageFilter): Promise<DailyPoint[]>;
  /**
   * Totals per UTC hour, oldest first; only hours with events appear. Read from the events (no rollup),
   * so give a bounded `since`/`until`: the gateway's `GET /v1/usage/hourly` asks for at most 31 days.
   * Optional so that stores written before it still type-check; both built-in stores have it.
   *
   * @example
   * ```ts
   * const last24h = await store.hourly?.({ since: Date.now() - 86_400_000, orgId: 'acme' });
   * ```
   */
  hourly?(filter?: UsageFilter): Promise<HourlyPoint[]>;
  /** Waits until every event handed to the store is durably written. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /**
   * Whether the store can durably keep new events now (its file present and unchanged, its disk
   * writable, its database or spool reachable). Absent: always ready.
   */
  readiness?(): Promise<Readiness>;
}
