// OpenTelemetry cost per router call: router.complete() (thread budget, in-process MockBackend, so the figure
// is what the router itself costs) with no OpenTelemetry SDK installed (the API's no-ops: tokenwarden makes no
// span and records nothing), against the same calls with an SDK installed globally (BasicTracerProvider with a
// SimpleSpanProcessor into a no-op exporter, a MeterProvider with a reader, the AsyncLocalStorage context
// manager). Interleaved A/B rounds in one process (machine load hits both alike); the ratio is the median of
// the per-round ratios. Also: what the no-SDK check costs per call, against a call.
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MemoryBudgetLedger } from '../dist/budget/memory-ledger.js';
import { MockBackend } from '../dist/providers/mock.js';
import { LLMRouter } from '../dist/router/router.js';
import { genAiTelemetryEnabled } from '../dist/telemetry/genai-call.js';
import { UsageTracker } from '../dist/usage/tracker.js';
import { fmt, heading } from './lib.js';

const ROUNDS = Number(process.env.TW_BENCH_ROUNDS ?? 11);
const CALLS = Number(process.env.TW_BENCH_CALLS ?? 20_000);
const THREADS = 64;
const model = 'mock-1';
const messages = [
  { role: 'system', content: 'You are a concise assistant inside a multi-agent pipeline.' },
  { role: 'user', content: 'Summarise the budget status of this thread in one sentence.' },
];

class IdleReader extends MetricReader {
  onShutdown() {
    return Promise.resolve();
  }
  onForceFlush() {
    return Promise.resolve();
  }
}

/** Spans are made, sampled, ended and handed to an exporter that drops them: the SDK's own cost, no I/O. */
const dropExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() };

function installSdk() {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(dropExporter)] }));
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new IdleReader()] }));
}

function uninstallSdk() {
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
}

function makeRouter() {
  const router = new LLMRouter({ ledger: new MemoryBudgetLedger({ maxTokensPerThread: 1e15 }), tracker: new UsageTracker() });
  router.addBackend(new MockBackend({ name: 'mock', seed: 1 }));
  return router;
}

async function callsPerSecond(router, n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await router.complete({ model, messages, threadId: `t${i % THREADS}`, maxTokens: 256 });
  return n / ((performance.now() - t0) / 1000);
}

export async function run() {
  heading('OpenTelemetry: router.complete() per call with an SDK installed vs without (interleaved rounds)');
  const router = makeRouter();
  uninstallSdk();
  await callsPerSecond(router, CALLS / 4); // warm-up, both ways
  installSdk();
  await callsPerSecond(router, CALLS / 4);
  uninstallSdk();
  const without = [];
  const withSdk = [];
  const ratios = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = await callsPerSecond(router, CALLS);
    installSdk();
    const b = await callsPerSecond(router, CALLS);
    uninstallSdk();
    without.push(a);
    withSdk.push(b);
    ratios.push(a / b);
  }
  const med = (v) => [...v].sort((p, q) => p - q)[v.length >> 1];
  const perCall = (ops) => `${fmt(1e6 / ops, 2)} µs/call`;
  console.log(`  ${'no SDK (API no-ops: no span, nothing recorded)'.padEnd(56)} ${fmt(med(without)).padStart(12)} calls/s  ${perCall(med(without))}`);
  console.log(`  ${'SDK installed (spans + GenAI metrics, no-op exporter)'.padEnd(56)} ${fmt(med(withSdk)).padStart(12)} calls/s  ${perCall(med(withSdk))}`);
  console.log(`  SDK installed costs ${fmt(med(ratios), 2)}x the call without (median of ${ROUNDS} interleaved rounds; ${fmt(1e6 / med(withSdk) - 1e6 / med(without), 2)} µs/call)`);

  // What a call pays for telemetry with no SDK: the one check that skips it all.
  const N = 5_000_000;
  let on = 0;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) if (genAiTelemetryEnabled()) on++;
  const ns = ((performance.now() - t0) * 1e6) / N;
  if (on !== 0) throw new Error('an SDK is still installed');
  console.log(`  no SDK: the telemetry check costs ${fmt(ns, 1)} ns per call (${fmt((ns / (1e9 / med(without))) * 100, 3)}% of a call)`);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
