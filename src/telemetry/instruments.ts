import {
  createNoopMeter,
  metrics,
  ProxyTracerProvider,
  trace,
  ValueType,
  type Counter,
  type Histogram,
  type MeterProvider,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { GEN_AI_METRIC, OPERATION_DURATION_BUCKETS, TOKEN_USAGE_BUCKETS, TW_METRIC } from './semconv.js';

/** The instrumentation scope of every span and metric tokenwarden emits. */
export const INSTRUMENTATION_SCOPE = 'tokenwarden';

/** The metric instruments, made once per installed MeterProvider. */
export interface Instruments {
  readonly tokenUsage: Histogram;
  readonly duration: Histogram;
  readonly cost: Counter;
  readonly refusals: Counter;
  /** False under the API's no-op MeterProvider (no SDK installed): nothing to record, no attributes to build. */
  readonly metering: boolean;
}

// The API's own no-op singletons, to tell "no SDK installed" apart without reaching into its internals: a
// no-op meter hands out one shared histogram, and a proxy provider without a delegate hands out one no-op provider.
const NOOP_HISTOGRAM = createNoopMeter().createHistogram('noop');
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

let tracing: { provider: TracerProvider; tracer: Tracer } | undefined;
let metering: { provider: MeterProvider; instruments: Instruments } | undefined;

/**
 * The tracer of the global TracerProvider. Cached per provider (the API hands out a proxy that follows an SDK
 * registered later; `trace.disable()` replaces the proxy, and the cache follows).
 */
export function tokenwardenTracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (tracing?.provider !== provider) tracing = { provider, tracer: provider.getTracer(INSTRUMENTATION_SCOPE) };
  return tracing.tracer;
}

/**
 * Whether an SDK TracerProvider may be installed. False only when the global provider is the API's proxy with
 * no delegate: then no span can record, and a call skips the span altogether. A provider registered through
 * another copy of the API is not the proxy class of this copy: it counts as installed (spans then check
 * `isRecording()`).
 */
export function tracingInstalled(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_TRACER_PROVIDER;
}

/**
 * The metric instruments of the global MeterProvider, made once per provider (the metrics API has no proxy:
 * a meter taken before an SDK is registered stays a no-op, so the cache is keyed by the provider).
 */
export function tokenwardenInstruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (metering?.provider !== provider) metering = { provider, instruments: makeInstruments(provider) };
  return metering.instruments;
}

function makeInstruments(provider: MeterProvider): Instruments {
  const meter = provider.getMeter(INSTRUMENTATION_SCOPE);
  const tokenUsage = meter.createHistogram(GEN_AI_METRIC.TOKEN_USAGE, {
    description: 'Number of input and output tokens used.',
    unit: '{token}',
    valueType: ValueType.INT,
    advice: { explicitBucketBoundaries: [...TOKEN_USAGE_BUCKETS] },
  });
  const duration = meter.createHistogram(GEN_AI_METRIC.OPERATION_DURATION, {
    description: 'GenAI operation duration.',
    unit: 's',
    advice: { explicitBucketBoundaries: [...OPERATION_DURATION_BUCKETS] },
  });
  const cost = meter.createCounter(TW_METRIC.COST, { description: 'Cost charged for LLM calls, in USD.', unit: 'USD' });
  const refusals = meter.createCounter(TW_METRIC.BUDGET_REFUSALS, {
    description: 'LLM calls refused by a thread budget, a budget policy or a rate limit before any provider was called.',
    unit: '{call}',
    valueType: ValueType.INT,
  });
  return { tokenUsage, duration, cost, refusals, metering: tokenUsage !== NOOP_HISTOGRAM };
}
