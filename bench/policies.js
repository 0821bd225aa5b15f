// Budget policies in memory: reserve + settle against three policies (user daily USD, org monthly USD +
// tokens, key rpm/tpm) plus the thread budget, against the thread budget alone. Interleaved A/B rounds
// (machine load hits both alike); the figure is the median of the per-round ratios. Target: at most 2x.
import { BudgetPolicies, MemoryBudgetLedger, MemoryPolicyLedger, PriceTable } from '../dist/index.js';
import { fmt, heading } from './lib.js';

const THREADS = 1024;
const threads = Array.from({ length: THREADS }, (_, i) => `thread-${i}`);
const subjects = threads.map((thread, i) => ({ model: 'gpt-4o-mini', thread, user: `user-${i & 511}`, org: `org-${i & 15}`, key: `key-${i & 63}` }));
const BIG = Number.MAX_SAFE_INTEGER;
const ROUNDS = Number(process.env.TW_BENCH_ROUNDS ?? 15);
const CALLS = Number(process.env.TW_BENCH_CALLS ?? 100_000);

const estimate = { promptTokens: 600, completionTokens: 400 };
const usage = { promptTokens: 550, completionTokens: 120 };

/** One call's thread budget: reserve the estimate, settle the usage. */
async function threadCall(ledger, i) {
  const hold = await ledger.reserve(threads[i & (THREADS - 1)], 1_000);
  await ledger.settle(hold, usage);
}

export async function run() {
  heading('budget policies: reserve + settle, thread + 3 policies vs the thread alone (in memory)');
  const alone = new MemoryBudgetLedger({ maxTokensPerThread: BIG });
  const withThread = new MemoryBudgetLedger({ maxTokensPerThread: BIG });
  const prices = new PriceTable();
  const policies = new BudgetPolicies({
    policies: [
      { name: 'user-daily', scope: 'user', maxUsd: 1e6, window: '1d' },
      { name: 'org-monthly', scope: 'org', maxUsd: 1e6, maxTokens: 1e15, window: '1mo' },
      { name: 'key-rate', scope: 'key', rpm: 1e9, tpm: 1e15 },
    ],
    ledger: new MemoryPolicyLedger(),
    prices,
  });
  const cost = prices.estimateCostNanos('gpt-4o-mini', usage);
  const actual = { nanos: cost, tokens: usage.promptTokens + usage.completionTokens };

  const a = async (n) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await threadCall(alone, i);
    return n / ((performance.now() - t0) / 1000);
  };
  const b = async (n) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const held = await policies.reserve(subjects[i & (THREADS - 1)], estimate);
      await threadCall(withThread, i);
      await policies.settle(held.reservation, actual);
    }
    return n / ((performance.now() - t0) / 1000);
  };
  await a(CALLS / 2);
  await b(CALLS / 2);
  const ratios = [];
  const ra = [];
  const rb = [];
  for (let r = 0; r < ROUNDS; r++) {
    const x = await a(CALLS);
    const y = await b(CALLS);
    ra.push(x);
    rb.push(y);
    ratios.push(x / y);
  }
  const med = (v) => [...v].sort((p, q) => p - q)[v.length >> 1];
  console.log(`  ${'thread budget alone (MemoryBudgetLedger)'.padEnd(48)} ${fmt(med(ra)).padStart(14)} calls/s`);
  console.log(`  ${'thread + 3 policies (MemoryPolicyLedger)'.padEnd(48)} ${fmt(med(rb)).padStart(14)} calls/s`);
  const ratio = med(ratios);
  console.log(`  target thread + 3 policies within 2x of the thread alone: ${ratio <= 2 ? 'met' : 'NOT met'} (${fmt(ratio, 2)}x, median of ${ROUNDS} interleaved rounds)`);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
