/**
 * Refusals over time: how many calls the gateway refused, by reason, per UTC minute over the last 24
 * hours, in bounded memory. Fed by {@link GatewayMetrics.observeRefusal} with every error answered to a
 * client; read by `GET /v1/metrics/refusals` and the dashboard.
 */
import { z } from 'zod';
import { parseOptions } from '../core/options.js';

const MINUTE_MS = 60_000;
/** Minutes kept: 24 hours. */
export const REFUSAL_HISTORY_MINUTES = 1440;
/** Distinct reasons kept by default; a further reason is counted as `other`. */
export const DEFAULT_MAX_REFUSAL_REASONS = 32;
/** The reason under which refusals beyond the reason cap are counted. */
export const OTHER_REFUSAL_REASON = 'other';

/**
 * 4xx answers that are not refusals of a call: a path or method the gateway does not serve, the client
 * leaving (499), and a provider rejecting what it was sent (counted as a provider error instead).
 */
const NOT_REFUSALS: ReadonlySet<string> = new Set(['route_not_found', 'method_not_allowed', 'client_closed_request', 'upstream_rejected_request']);

/**
 * The reason a client's answer counts as a refusal, or `undefined` when it is none: every 4xx answer is
 * a refusal under its error code (`thread_budget_exhausted`, `user_budget_exhausted`,
 * `rate_limit_exceeded`, `model_not_priced`, `invalid_api_key`, `forbidden`, `model_not_found`, …),
 * except those listed in `NOT_REFUSALS` and 499. 5xx answers are failures, not refusals.
 *
 * @example
 * ```ts
 * refusalReason({ status: 429, code: 'user_budget_exhausted' }); // 'user_budget_exhausted'
 * refusalReason({ status: 502, code: 'provider_error' });        // undefined
 * ```
 */
export function refusalReason(answer: { status: number; code: string }): string | undefined {
  if (!(answer.status >= 400 && answer.status < 500) || answer.status === 499) return undefined;
  if (typeof answer.code !== 'string' || answer.code === '' || NOT_REFUSALS.has(answer.code)) return undefined;
  return answer.code.length > 64 ? answer.code.slice(0, 64) : answer.code;
}

/** Options of {@link RefusalHistory}. */
export interface RefusalHistoryOptions {
  /** Epoch ms now (default `Date.now`); tests inject a clock. */
  now?: () => number;
  /** Distinct reasons kept (default 32); further reasons are counted as `other`. */
  maxReasons?: number;
}

/** A question to {@link RefusalHistory.series}. */
export interface RefusalSeriesQuery {
  /** How far back, in minutes, counting the current one (1–1440, default 1440). */
  minutes?: number;
  /** Bucket size in minutes (1–1440); buckets start on UTC multiples of it. Default: at most 96 buckets. */
  stepMinutes?: number;
}

/** One bucket of a refusal series: its start (epoch ms) and its non-zero counts by reason. */
export interface RefusalBucket {
  start: number;
  counts: Record<string, number>;
}

/** Refusals over a time range, bucketed. */
export interface RefusalSeries {
  /** Start of the first minute counted (epoch ms). */
  since: number;
  /** End of the current minute (epoch ms, exclusive). */
  until: number;
  stepMinutes: number;
  /** Reasons with refusals in the range, most refusals first. */
  reasons: string[];
  totals: Record<string, number>;
  /** Every bucket of the range, oldest first, empty ones included. */
  buckets: RefusalBucket[];
}

const Options = z.object(
  {
    now: z.custom<() => number>((v) => typeof v === 'function', { error: 'must be a function returning epoch ms' }).optional(),
    maxReasons: z.number({ error: 'must be an integer from 1 to 256' }).int({ error: 'must be an integer from 1 to 256' }).min(1).max(256).optional(),
  },
  { error: 'must be an object' },
);

/** Steps tried for a default bucket size, smallest first. */
const DEFAULT_STEPS = [1, 5, 10, 15, 30, 60, 120, 240, 720, 1440];

/**
 * A ring of 1,440 per-minute buckets × reasons: each slot remembers which minute it holds, so a slot
 * left from a day ago is cleared when its minute comes round again and never counted meanwhile. Memory
 * is fixed: 1,440 counters per reason, at most `maxReasons` reasons (about 180 KiB at 32).
 *
 * @example
 * ```ts
 * const history = new RefusalHistory();
 * history.record('rate_limit_exceeded');
 * history.series({ minutes: 60, stepMinutes: 5 }).totals; // { rate_limit_exceeded: 1 }
 * ```
 */
export class RefusalHistory {
  private readonly now: () => number;
  private readonly maxReasons: number;
  /** The minute (epoch minutes) each slot holds; -1 when it holds none. */
  private readonly minuteOfSlot = new Float64Array(REFUSAL_HISTORY_MINUTES).fill(-1);
  private readonly counts = new Map<string, Uint32Array>();

  constructor(options: RefusalHistoryOptions = {}) {
    const o = parseOptions(Options, options, 'options');
    this.now = o.now ?? Date.now;
    this.maxReasons = o.maxReasons ?? DEFAULT_MAX_REFUSAL_REASONS;
  }

  /** Counts one refusal now; returns the reason it was counted under (`other` past the reason cap). */
  record(reason: string): string {
    const minute = Math.floor(this.now() / MINUTE_MS);
    const key = this.counts.has(reason) || this.counts.size < this.maxReasons - 1 ? reason : OTHER_REFUSAL_REASON;
    if (!Number.isFinite(minute) || minute < 0) return key;
    const slot = minute % REFUSAL_HISTORY_MINUTES;
    const held = this.minuteOfSlot[slot]!;
    // A clock stepping back past what the slot holds: that minute's bucket is gone, drop the count.
    if (held > minute) return key;
    if (held !== minute) {
      for (const c of this.counts.values()) c[slot] = 0;
      this.minuteOfSlot[slot] = minute;
    }
    let c = this.counts.get(key);
    if (!c) this.counts.set(key, (c = new Uint32Array(REFUSAL_HISTORY_MINUTES)));
    c[slot] = c[slot]! + 1;
    return key;
  }

  /** The refusals of the last `minutes` minutes (the current one included), in buckets of `stepMinutes`. */
  series(query: RefusalSeriesQuery = {}): RefusalSeries {
    const minutes = query.minutes ?? REFUSAL_HISTORY_MINUTES;
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > REFUSAL_HISTORY_MINUTES) throw new RangeError(`minutes: must be an integer from 1 to ${REFUSAL_HISTORY_MINUTES}`);
    const step = query.stepMinutes ?? DEFAULT_STEPS.find((s) => Math.ceil(minutes / s) <= 96) ?? REFUSAL_HISTORY_MINUTES;
    if (!Number.isInteger(step) || step < 1 || step > REFUSAL_HISTORY_MINUTES) throw new RangeError(`step: must be an integer from 1 to ${REFUSAL_HISTORY_MINUTES}`);
    const last = Math.floor(this.now() / MINUTE_MS);
    const first = last - minutes + 1;
    const totals: Record<string, number> = {};
    const buckets: RefusalBucket[] = [];
    for (let start = Math.floor(first / step) * step; start <= last; start += step) {
      const counts: Record<string, number> = {};
      for (let m = Math.max(start, first); m < start + step && m <= last; m++) {
        const slot = ((m % REFUSAL_HISTORY_MINUTES) + REFUSAL_HISTORY_MINUTES) % REFUSAL_HISTORY_MINUTES;
        if (this.minuteOfSlot[slot] !== m) continue;
        for (const [reason, c] of this.counts) {
          const n = c[slot]!;
          if (n === 0) continue;
          counts[reason] = (counts[reason] ?? 0) + n;
          totals[reason] = (totals[reason] ?? 0) + n;
        }
      }
      buckets.push({ start: start * MINUTE_MS, counts });
    }
    const reasons = Object.keys(totals).sort((a, b) => totals[b]! - totals[a]! || (a < b ? -1 : 1));
    return { since: first * MINUTE_MS, until: (last + 1) * MINUTE_MS, stepMinutes: step, reasons, totals, buckets };
  }
}

/** `GET /v1/metrics/refusals` body (times as ISO 8601). */
export function refusalSeriesJson(s: RefusalSeries): Record<string, unknown> {
  const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
  return {
    object: 'refusal_history',
    since: iso(s.since),
    until: iso(s.until),
    step_minutes: s.stepMinutes,
    reasons: s.reasons,
    totals: s.totals,
    data: s.buckets.map((b) => ({ start: iso(b.start), counts: b.counts })),
  };
}
