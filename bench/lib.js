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
