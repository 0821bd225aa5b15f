/**
 * A small, dependency-free Prometheus registry for the gateway, rendered in the text exposition
 * format 0.0.4.
 *
 * Observations are cheap: each one walks a nested `Map` keyed by the raw label values (no string is
 * built per observation) and bumps numbers. All text is produced in {@link GatewayMetrics.render}.
 */
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import { RefusalHistory, refusalReason } from './refusal-history.js';

/** Values of the two gauges, returned by the collector passed to {@link GatewayMetrics.setGaugeCollector}. */
export interface GaugeValues {
  /** Threads that currently hold a budget. */
  liveThreads?: number;
  /** Tokens held by outstanding reservations across all threads. */
  reservedTokens?: number;
}

/** Options of {@link GatewayMetrics}. */
export interface GatewayMetricsOptions {
  /**
   * Most distinct label sets kept per metric (default 1000). Further label sets are folded into one
   * series whose free-form labels read `other`.
   */
  maxSeriesPerMetric?: number;
  /** Upper bounds, in seconds, of `tokenwarden_request_duration_seconds` (ascending). */
  requestDurationBuckets?: readonly number[];
  /** Upper bounds, in seconds, of `tokenwarden_provider_latency_seconds` (ascending). */
  providerLatencyBuckets?: readonly number[];
}

/** One request handled by the gateway. `route` should be the route pattern (e.g. `/v1/threads/:id`), not the raw path. */
export interface RequestObservation {
  route: string;
  status: number;
  durationMs: number;
}

/** One completed provider call. */
export interface CompletionObservation {
  model: string;
  provider: string;
  promptTokens: number;
  completionTokens: number;
  /** Exact cost in integer nano-USD; `undefined` when the model has no known price. */
  costNanos?: number | undefined;
  /** Provider latency in milliseconds; `undefined` skips the latency histogram. */
  latencyMs?: number | undefined;
  /** Tokens charged beyond the call's reservation (the usage event's `overspendTokens`). */
  overspendTokens?: number | undefined;
}

/** Default request-duration buckets (seconds): the gateway's own overhead up to long completions. */
export const DEFAULT_REQUEST_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
]);

/** Default provider-latency buckets (seconds): LLM calls take from tens of ms to minutes. */
export const DEFAULT_PROVIDER_LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300,
]);

const DEFAULT_MAX_SERIES = 1000;
/** Label values longer than this are cut, so a hostile model name cannot bloat memory. */
const MAX_LABEL_VALUE_LENGTH = 128;
const OTHER = 'other';

type LabelValue = string | number;

interface Series {
  /** `name="value",…` without braces; built once when the series is created. */
  readonly labels: string;
}

class CounterSeries implements Series {
  value = 0;
  constructor(readonly labels: string) {}
}

/** Exact money: whole USD plus nano-USD below one dollar, so sums never drift. */
class MoneySeries implements Series {
  usd = 0;
  nanos = 0;
  constructor(readonly labels: string) {}
}

class HistogramSeries implements Series {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: string,
    bucketCount: number,
  ) {
    this.counts = new Float64Array(bucketCount);
  }
}

type SeriesMap<S> = Map<string, S | SeriesMap<S>>;

/**
 * One metric family: its series live in nested maps keyed by label values in declared order.
 * At most `maxSeries` label sets are created from observations; beyond that, observations go to an
 * overflow series whose labels not listed in `keepOnOverflow` read `other`.
 */
class Family<S extends Series> {
  readonly series: S[] = [];
  private readonly root: SeriesMap<S> = new Map();
  private single: S | undefined;
  private created = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    readonly labelNames: readonly string[],
    private readonly make: (labels: string) => S,
    private readonly maxSeries: number,
    private readonly keepOnOverflow: ReadonlySet<number> = new Set(),
  ) {}

  get(a?: LabelValue, b?: LabelValue, c?: LabelValue): S {
    const n = this.labelNames.length;
    if (n === 0) return (this.single ??= this.add([]));
    let node: SeriesMap<S> | S | undefined = this.root.get(clip(a));
    if (n > 1 && node !== undefined) node = (node as SeriesMap<S>).get(clip(b));
    if (n > 2 && node !== undefined) node = (node as SeriesMap<S>).get(clip(c));
    return (node as S | undefined) ?? this.miss([clip(a), clip(b), clip(c)].slice(0, n));
  }

  private miss(values: string[]): S {
    if (this.created < this.maxSeries) {
      this.created++;
      return this.insert(values);
    }
    const folded = values.map((v, i) => (this.keepOnOverflow.has(i) ? v : OTHER));
    return this.lookup(folded) ?? this.insert(folded);
  }

  private insert(values: readonly string[]): S {
    let map = this.root;
    for (let i = 0; i < values.length - 1; i++) {
      const key = values[i] as string;
      let next = map.get(key) as SeriesMap<S> | undefined;
      if (next === undefined) {
        next = new Map();
        map.set(key, next);
      }
      map = next;
    }
    const s = this.add(values);
    map.set(values[values.length - 1] as string, s);
    return s;
  }

  private lookup(values: readonly string[]): S | undefined {
    let node: SeriesMap<S> | S | undefined = this.root;
    for (const v of values) {
      if (!(node instanceof Map)) return undefined;
      node = node.get(v);
    }
    return node instanceof Map ? undefined : node;
  }

  private add(values: readonly string[]): S {
    const labels = values.map((v, i) => `${this.labelNames[i]}="${escapeLabelValue(v)}"`).join(',');
    const s = this.make(labels);
    this.series.push(s);
    return s;
  }
}

/** Label values as strings (so `404` and `'404'` are one series), cut to a bounded length. */
function clip(v: LabelValue | undefined): string {
  if (typeof v !== 'string') return v === undefined ? '' : String(v);
  return v.length > MAX_LABEL_VALUE_LENGTH ? v.slice(0, MAX_LABEL_VALUE_LENGTH) : v;
}

/** Escapes a label value per the text format: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (ch) => (ch === '\\' ? '\\\\' : ch === '"' ? '\\"' : '\\n'));
}

function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (ch) => (ch === '\\' ? '\\\\' : '\\n'));
}

/** Formats a sample value as Go's strconv would accept it (`+Inf`, `-Inf`, `NaN`). */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Formats whole USD plus nanos as an exact decimal, e.g. `12.000000345`. */
function formatMoney(usd: number, nanos: number): string {
  if (nanos === 0) return String(usd);
  return `${usd}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}`;
}

/** A non-negative finite number, else 0: metrics never throw on the hot path. */
function nonNegative(v: unknown): number {
  return typeof v === 'number' && v > 0 && v !== Infinity ? v : 0;
}

const BUCKETS_RULE = 'must be a non-empty array of ascending positive numbers of seconds';

/** Histogram bounds: ascending positive finite seconds. */
const Buckets = z
  .array(z.unknown(), { error: BUCKETS_RULE })
  .min(1, { error: BUCKETS_RULE })
  .superRefine((value, ctx) => {
    let prev = 0;
    for (let i = 0; i < value.length; i++) {
      const b = value[i];
      if (typeof b !== 'number' || !Number.isFinite(b) || b <= prev) {
        ctx.addIssue({ code: 'custom', path: [i], message: 'must be a finite number of seconds greater than the previous bucket (and than 0)' });
        return;
      }
      prev = b;
    }
  })
  .transform((value) => Object.freeze([...(value as number[])]));

const MetricsOptions = z.object(
  {
    maxSeriesPerMetric: z
      .number({ error: 'must be a positive integer' })
      .refine((v) => Number.isInteger(v) && v >= 1, { error: 'must be a positive integer' })
      .nullish(),
    requestDurationBuckets: Buckets.optional(),
    providerLatencyBuckets: Buckets.optional(),
  },
  { error: 'must be an object' },
);

/** A counter family with the gateway's series cap. */
function counterFamily(name: string, help: string, labels: readonly string[], max: number, keepOnOverflow?: ReadonlySet<number>): Family<CounterSeries> {
  return new Family(name, help, 'counter', labels, (l) => new CounterSeries(l), max, keepOnOverflow);
}

function histogramFamily(name: string, help: string, label: string, buckets: number, max: number): Family<HistogramSeries> {
  return new Family(name, help, 'histogram', [label], (l) => new HistogramSeries(l, buckets), max);
}

/**
 * The gateway's Prometheus metrics, rendered in text exposition format 0.0.4.
 *
 * Metrics:
 * - `tokenwarden_requests_total{route,status}` — HTTP requests handled.
 * - `tokenwarden_tokens_total{model,provider,kind}` — tokens metered, `kind` is `prompt` or `completion`.
 * - `tokenwarden_cost_usd_total{model,provider}` — estimated cost in USD, summed exactly from nano-USD.
 * - `tokenwarden_budget_refusals_total` — calls refused because a thread could not afford them.
 * - `tokenwarden_refusals_total{reason}` — answers refused with a 4xx, by error code (budgets, rate
 *   limits, unpriced models, keys, bad requests; see `refusalReason`); also kept per minute for 24 h in
 *   {@link GatewayMetrics.refusalHistory} (`GET /v1/metrics/refusals`).
 * - `tokenwarden_overspend_tokens_total` — tokens charged beyond reservations (providers that reported
 *   more than the router held for a call).
 * - `tokenwarden_provider_errors_total{provider,code}` — failed provider calls.
 * - `tokenwarden_request_duration_seconds{route}` — histogram of request durations.
 * - `tokenwarden_provider_latency_seconds{provider}` — histogram of provider call latencies.
 * - `tokenwarden_live_threads`, `tokenwarden_reserved_tokens` — gauges read from the collector at render.
 *
 * **Bounded cardinality:** each metric keeps at most `maxSeriesPerMetric` (default 1000) distinct
 * label sets; later label sets are folded into one overflow series whose free-form labels (route,
 * model, provider, code, status) read `other` (the `kind` label of tokens is kept). Label values are
 * cut to 128 characters. Pass route patterns (`/v1/threads/:id`), not raw paths, as `route`.
 *
 * Observation methods never throw: negative, non-finite or missing numbers count as 0.
 *
 * @example
 * ```ts
 * const metrics = new GatewayMetrics();
 * metrics.observeRequest({ route: '/v1/chat/completions', status: 200, durationMs: 412 });
 * metrics.observeCompletion({ model: 'gpt-4o-mini', provider: 'openai', promptTokens: 120,
 *   completionTokens: 48, costNanos: 46_800, latencyMs: 398 });
 * metrics.setGaugeCollector(() => ({ liveThreads: registry.size, reservedTokens: 0 }));
 * res.writeHead(200, { 'content-type': metrics.contentType }).end(metrics.render());
 * ```
 */
export class GatewayMetrics {
  /** The `Content-Type` to serve {@link render}'s output with. */
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';

  private readonly requests: Family<CounterSeries>;
  private readonly tokens: Family<CounterSeries>;
  private readonly cost: Family<MoneySeries>;
  private readonly refusals: Family<CounterSeries>;
  private readonly refusalsByReason: Family<CounterSeries>;
  /** Refusals by reason per minute over the last 24 hours (bounded), fed by {@link observeRefusal}. */
  readonly refusalHistory = new RefusalHistory();
  private readonly overspend: Family<CounterSeries>;
  private readonly providerErrors: Family<CounterSeries>;
  private readonly requestDuration: Family<HistogramSeries>;
  private readonly providerLatency: Family<HistogramSeries>;
  private readonly collectorErrors: Family<CounterSeries>;
  /** Bucket bounds in milliseconds, for comparing raw observations. */
  private readonly requestBoundsMs: Float64Array;
  private readonly latencyBoundsMs: Float64Array;
  private readonly requestBuckets: readonly number[];
  private readonly latencyBuckets: readonly number[];
  private collector: (() => GaugeValues) | undefined;
  private gauges: Required<GaugeValues> = { liveThreads: 0, reservedTokens: 0 };

  constructor(options: GatewayMetricsOptions = {}) {
    const o = parseOptions(MetricsOptions, options, 'options');
    const max = o.maxSeriesPerMetric ?? DEFAULT_MAX_SERIES;
    this.requestBuckets = o.requestDurationBuckets ?? DEFAULT_REQUEST_DURATION_BUCKETS;
    this.latencyBuckets = o.providerLatencyBuckets ?? DEFAULT_PROVIDER_LATENCY_BUCKETS;
    this.requestBoundsMs = Float64Array.from(this.requestBuckets, (s) => s * 1000);
    this.latencyBoundsMs = Float64Array.from(this.latencyBuckets, (s) => s * 1000);
    this.requests = counterFamily('tokenwarden_requests_total', 'HTTP requests handled by the gateway.', ['route', 'status'], max);
    this.tokens = counterFamily(
      'tokenwarden_tokens_total',
      'Tokens metered, by model, provider and kind (prompt or completion).',
      ['model', 'provider', 'kind'],
      max,
      new Set([2]),
    );
    this.cost = new Family(
      'tokenwarden_cost_usd_total',
      'Estimated cost in US dollars, summed exactly from nano-USD.',
      'counter',
      ['model', 'provider'],
      (l) => new MoneySeries(l),
      max,
    );
    this.refusals = counterFamily('tokenwarden_budget_refusals_total', 'Calls refused because the thread budget could not afford them.', [], max);
    this.refusalsByReason = counterFamily('tokenwarden_refusals_total', 'Answers refused with a 4xx, by reason (the error code).', ['reason'], max);
    this.overspend = counterFamily('tokenwarden_overspend_tokens_total', 'Tokens charged beyond the reservation of their call.', [], max);
    this.providerErrors = counterFamily('tokenwarden_provider_errors_total', 'Failed provider calls, by provider and error code.', ['provider', 'code'], max);
    this.requestDuration = histogramFamily(
      'tokenwarden_request_duration_seconds',
      'Time from request received to response finished, by route.',
      'route',
      this.requestBuckets.length,
      max,
    );
    this.providerLatency = histogramFamily(
      'tokenwarden_provider_latency_seconds',
      'Latency of completed provider calls, by provider.',
      'provider',
      this.latencyBuckets.length,
      max,
    );
    this.collectorErrors = counterFamily(
      'tokenwarden_gauge_collector_errors_total',
      'Times the gauge collector threw; the gauges then keep their last values.',
      [],
      1,
    );
  }

  /** Counts one HTTP request and its duration. */
  observeRequest(obs: RequestObservation): void {
    this.requests.get(obs.route, obs.status).value++;
    observeHistogram(this.requestDuration.get(obs.route), this.requestBoundsMs, nonNegative(obs.durationMs));
  }

  /** Counts the tokens, cost and latency of one completed provider call. */
  observeCompletion(obs: CompletionObservation): void {
    const prompt = nonNegative(obs.promptTokens);
    const completion = nonNegative(obs.completionTokens);
    if (prompt > 0) this.tokens.get(obs.model, obs.provider, 'prompt').value += prompt;
    if (completion > 0) this.tokens.get(obs.model, obs.provider, 'completion').value += completion;
    const nanos = Math.round(nonNegative(obs.costNanos));
    if (nanos > 0) {
      const m = this.cost.get(obs.model, obs.provider);
      const total = m.nanos + (nanos % 1e9);
      m.usd += Math.floor(nanos / 1e9) + Math.floor(total / 1e9);
      m.nanos = total % 1e9;
    }
    if (obs.latencyMs !== undefined) {
      observeHistogram(this.providerLatency.get(obs.provider), this.latencyBoundsMs, nonNegative(obs.latencyMs));
    }
    const overspend = nonNegative(obs.overspendTokens);
    if (overspend > 0) this.overspend.get().value += overspend;
  }

  /** Counts one call refused for lack of budget. */
  budgetRefused(): void {
    this.refusals.get().value++;
  }

  /**
   * Counts an error answered to a client if it is a refusal (a 4xx; see `refusalReason`), under its
   * reason, in `tokenwarden_refusals_total` and in {@link refusalHistory}.
   */
  observeRefusal(answer: { status: number; code: string }): void {
    const reason = refusalReason(answer);
    if (reason !== undefined) this.refusalsByReason.get(this.refusalHistory.record(reason)).value++;
  }

  /** Counts one failed provider call; `code` is an HTTP status or an error code such as `ETIMEDOUT`. */
  providerError(obs: { provider: string; code: string | number }): void {
    this.providerErrors.get(obs.provider, obs.code).value++;
  }

  /**
   * Sets the function read at every {@link render} for the gauges. It must be synchronous: a gateway
   * whose ledger is remote should return values it keeps up to date itself. If it throws, the gauges
   * keep their last values and `tokenwarden_gauge_collector_errors_total` is incremented.
   */
  setGaugeCollector(fn: (() => GaugeValues) | undefined): void {
    if (fn !== undefined && typeof fn !== 'function') {
      throw new ValidationError('fn', fn, 'must be a function returning { liveThreads, reservedTokens }, or undefined');
    }
    this.collector = fn;
  }

  /** The whole registry in Prometheus text exposition format 0.0.4. */
  render(): string {
    this.collect();
    const out: string[] = [];
    this.renderCounter(this.requests, out);
    this.renderCounter(this.tokens, out);
    header(out, this.cost);
    for (const s of this.cost.series) out.push(`${this.cost.name}{${s.labels}} ${formatMoney(s.usd, s.nanos)}`);
    this.refusals.get();
    this.renderCounter(this.refusals, out);
    this.renderCounter(this.refusalsByReason, out);
    this.overspend.get();
    this.renderCounter(this.overspend, out);
    this.renderCounter(this.providerErrors, out);
    this.renderHistogram(this.requestDuration, this.requestBuckets, out);
    this.renderHistogram(this.providerLatency, this.latencyBuckets, out);
    out.push('# HELP tokenwarden_live_threads Threads that currently hold a budget.');
    out.push('# TYPE tokenwarden_live_threads gauge');
    out.push(`tokenwarden_live_threads ${formatValue(this.gauges.liveThreads)}`);
    out.push('# HELP tokenwarden_reserved_tokens Tokens held by outstanding reservations.');
    out.push('# TYPE tokenwarden_reserved_tokens gauge');
    out.push(`tokenwarden_reserved_tokens ${formatValue(this.gauges.reservedTokens)}`);
    this.collectorErrors.get();
    this.renderCounter(this.collectorErrors, out);
    return out.join('\n') + '\n';
  }

  private collect(): void {
    if (!this.collector) return;
    try {
      const v = this.collector();
      if (v && typeof v === 'object') {
        if (typeof v.liveThreads === 'number' && Number.isFinite(v.liveThreads)) this.gauges.liveThreads = v.liveThreads;
        if (typeof v.reservedTokens === 'number' && Number.isFinite(v.reservedTokens)) this.gauges.reservedTokens = v.reservedTokens;
      }
    } catch {
      this.collectorErrors.get().value++;
    }
  }

  private renderCounter(f: Family<CounterSeries>, out: string[]): void {
    header(out, f);
    for (const s of f.series) out.push(s.labels ? `${f.name}{${s.labels}} ${formatValue(s.value)}` : `${f.name} ${formatValue(s.value)}`);
  }

  private renderHistogram(f: Family<HistogramSeries>, bounds: readonly number[], out: string[]): void {
    header(out, f);
    const les = bounds.map((b) => `le="${formatValue(b)}"`);
    for (const s of f.series) {
      const prefix = s.labels ? `${s.labels},` : '';
      let cumulative = 0;
      for (let i = 0; i < les.length; i++) {
        cumulative += s.counts[i] as number;
        out.push(`${f.name}_bucket{${prefix}${les[i]}} ${cumulative}`);
      }
      out.push(`${f.name}_bucket{${prefix}le="+Inf"} ${s.count}`);
      const labels = s.labels ? `{${s.labels}}` : '';
      out.push(`${f.name}_sum${labels} ${formatValue(s.sum / 1000)}`);
      out.push(`${f.name}_count${labels} ${s.count}`);
    }
  }
}

function header(out: string[], f: Family<Series>): void {
  out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
  out.push(`# TYPE ${f.name} ${f.type}`);
}

/** Adds one observation (in ms) to the first bucket whose bound holds it; cumulated at render. */
function observeHistogram(s: HistogramSeries, boundsMs: Float64Array, ms: number): void {
  s.count++;
  s.sum += ms;
  for (let i = 0; i < boundsMs.length; i++) {
    if (ms <= (boundsMs[i] as number)) {
      s.counts[i] = (s.counts[i] as number) + 1;
      return;
    }
  }
}
