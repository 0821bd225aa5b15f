/**
 * A real OpenTelemetry SDK for the telemetry tests, installed globally the way a user's app installs it:
 * BasicTracerProvider + SimpleSpanProcessor into an InMemorySpanExporter, a MeterProvider with a reader the
 * test collects by hand, the AsyncLocalStorage context manager and the W3C trace-context propagator.
 * `install()` makes fresh providers (so metrics start from zero); `uninstall()` restores the API's no-ops.
 */
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** A reader collected on demand (no timer). */
class ManualReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }

  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

export interface OtelSdk {
  exporter: InMemorySpanExporter;
  /** Finished spans so far. */
  spans(): ReadableSpan[];
  /** The spans named `name`. */
  spansNamed(name: string): ReadableSpan[];
  /** Every metric collected now, by name. */
  collect(): Promise<Map<string, MetricData>>;
}

/** Installs a fresh SDK globally. */
export function install(): OtelSdk {
  uninstall();
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new ManualReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    exporter,
    spans: () => exporter.getFinishedSpans(),
    spansNamed: (name) => exporter.getFinishedSpans().filter((s) => s.name === name),
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw errors[0];
      const out = new Map<string, MetricData>();
      for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) out.set(m.descriptor.name, m);
      return out;
    },
  };
}

/** Removes every global the SDK installed: the API is back to its no-ops. */
export function uninstall(): void {
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
}

/** The data points of a histogram, as `{ attributes, count, sum, boundaries }`. */
export function histogramPoints(m: MetricData | undefined): Array<{ attributes: Record<string, unknown>; count: number; sum: number | undefined; boundaries: number[] }> {
  if (!m) return [];
  return (m.dataPoints as DataPoint<Histogram>[]).map((p) => ({
    attributes: { ...p.attributes },
    count: p.value.count,
    sum: p.value.sum,
    boundaries: p.value.buckets.boundaries,
  }));
}

/** The data points of a counter, as `{ attributes, value }`. */
export function sumPoints(m: MetricData | undefined): Array<{ attributes: Record<string, unknown>; value: number }> {
  if (!m) return [];
  return (m.dataPoints as DataPoint<number>[]).map((p) => ({ attributes: { ...p.attributes }, value: p.value }));
}

/** Waits until `check` holds (spans end on events such as a response's 'close'). */
export async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for telemetry');
    await new Promise((r) => setTimeout(r, 5));
  }
}
