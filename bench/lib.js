// Shared helpers for `npm run bench`: every benchmark measures a baseline in the same run and prints
// the ratio, so figures are comparable across machines.
import { performance } from 'node:perf_hooks';

/**
 * Runs `fn` (sync or async, called with the iteration index) repeatedly for about `ms` milliseconds
 * after a short warm-up and returns operations per second. `batch` calls are made between clock reads.
 */
export async function opsPerSecond(fn, { ms = 1000, batch = 1000, warmupMs = 200 } = {}) {
  let i = 0;
  const runFor = async (duration) => {
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < duration) {
      for (let k = 0; k < batch; k++) {
        const r = fn(i++);
        if (r && typeof r.then === 'function') await r;
      }
      n += batch;
    }
    return n / ((performance.now() - start) / 1000);
  };
  await runFor(warmupMs);
  return runFor(ms);
}

/** Percentile (0-100) of a numeric array. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

/** Formats a number with thousands separators. */
export function fmt(n, digits = 0) {
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Prints one row: name, ops/s, and the ratio to a baseline (baseline ops/s divided by this). */
export function row(name, ops, baselineOps) {
  const ratio = baselineOps ? ` | ${fmt(baselineOps / ops, 2)}x slower than baseline` : '';
  console.log(`  ${name.padEnd(48)} ${fmt(ops).padStart(14)} ops/s${ratio}`);
}

/** Prints a section heading. */
export function heading(title) {
  console.log(`\n## ${title}`);
}

const EVENT_MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'gemini-2.0-flash', 'llama-3.1-70b'];
/** Epoch ms of the first synthetic usage event. */
export const EVENT_T0 = Date.UTC(2025, 0, 1);

/**
 * Synthetic usage event number `i` for the store benchmarks: 1,000 threads, 20 agents, 5 models, 10 orgs,
 * 500 users, one event every `spacingMs` from {@link EVENT_T0}; ids `${idPrefix}${i}` (9 digits).
 */
export function benchEvent(i, { idPrefix, spacingMs = 1 }) {
  return {
    id: `${idPrefix}${String(i).padStart(9, '0')}`,
    threadId: `thread-${i % 1000}`,
    agentId: `agent-${i % 20}`,
    model: EVENT_MODELS[i % EVENT_MODELS.length],
    provider: 'openai',
    promptTokens: 500 + (i % 300),
    completionTokens: 100 + (i % 50),
    totalTokens: 600 + (i % 300) + (i % 50),
    timestamp: EVENT_T0 + i * spacingMs,
    latencyMs: 420,
    estimatedCost: 0.00325,
    costNanos: 3_250_000,
    metadata: { org_id: `org-${i % 10}`, user_id: `user-${i % 500}` },
  };
}
