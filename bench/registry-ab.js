// Interleaved A/B of registry.reserve + settle between two builds in one process (alternating rounds of
// 1,000,000 pairs, median of 30 each), so that machine load hits both alike. For before/after figures:
//   npm run build && TW_OLD_DIST=/path/to/old/dist node bench/registry-ab.js
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const load = (dir) => import(pathToFileURL(join(resolve(dir), 'budget/registry.js')).href);
const OLD = await load(process.env.TW_OLD_DIST ?? '');
const NEW = await load(process.env.TW_DIST ?? new URL('../dist', import.meta.url).pathname);
const THREADS = 1024;
const keys = Array.from({ length: THREADS }, (_, i) => `thread-${i}`);
const charge = { promptTokens: 6, completionTokens: 4 };
const round = (reg, n) => {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) reg.settle(reg.reserve(keys[i & (THREADS - 1)], 10), charge);
  return n / ((performance.now() - t0) / 1000);
};
const opts = { maxTokensPerThread: Number.MAX_SAFE_INTEGER };
const a = new OLD.ThreadBudgetRegistry(opts);
const b = new NEW.ThreadBudgetRegistry(opts);
const ra = [];
const rb = [];
for (let r = 0; r < 30; r++) {
  ra.push(round(a, 1e6));
  rb.push(round(b, 1e6));
}
const med = (x) => x.sort((p, q) => p - q)[x.length >> 1];
const f = (n) => Math.round(n).toLocaleString('en-US');
console.log(`reserve+settle: old ${f(med(ra))} ops/s, new ${f(med(rb))} ops/s, new/old ${(med(rb) / med(ra)).toFixed(3)}`);
