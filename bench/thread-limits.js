// Issue 11, finding 2, measured end to end: can one org stop every org from opening threads, what does a
// refusal show, and does a restart forget a thread's spend? Gateway (memory ledger + SQLite store, mock
// provider) with keys for two orgs; org A opens 20,000 threads, then org B opens 100; then a restart.
//   npm run build && node bench/thread-limits.js            # this tree
//   TW_DIST=/path/to/other/dist node bench/thread-limits.js # another build of the same layout (dist/stores/usage/...,
//                                                          # dist/server/build-runtime.js); older builds do not load
// The ledger's global cap is set to 20,000 in both runs (the default 1,000,000 took org A 144 s to fill).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = resolve(process.env.TW_DIST ?? new URL('../dist', import.meta.url).pathname);
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { LLMRouter, MockBackend, MemoryBudgetLedger, UsageTracker } = await load('index.js');
const { createGateway } = await load('gateway/index.js');
const { SqliteUsageStore } = await load('stores/usage/sqlite/index.js');
const runtime = await load('server/build-runtime.js');
const limits = runtime.gatewayThreadLimits; // undefined in a build without per-org thread limits

const CAP = 20_000;
const sha = (s) => createHash('sha256').update(s).digest('hex');
const keys = [
  { name: 'a', sha256: sha('key-a'), org: 'orgA', admin: false },
  { name: 'b', sha256: sha('key-b'), org: 'orgB', admin: false },
];
const dir = mkdtempSync(join(tmpdir(), 'tw-thread-limits-'));
const file = join(dir, 'usage.db');

async function start() {
  const store = new SqliteUsageStore({ path: file, writer: 'thread' });
  const base = { maxThreads: CAP };
  const ledger = new MemoryBudgetLedger(
    limits ? { ...base, ...limits({ maxThreadsPerOrg: 10_000, maxThreads: CAP, threadIdleTtlMs: 86_400_000 }, store) } : base,
  );
  const router = new LLMRouter({ backends: [new MockBackend({ name: 'mock' })], ledger, tracker: new UsageTracker() });
  const gateway = createGateway({ router, store, keys, logError: () => undefined });
  const { port } = await gateway.listen(0, '127.0.0.1');
  return { gateway, ledger, url: `http://127.0.0.1:${port}` };
}

async function chat(url, key, thread) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-thread-id': thread },
    body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 }),
  });
  const body = await res.json();
  return { status: res.status, used: Number(res.headers.get('x-budget-used')), error: body.error };
}

async function openThreads(url, key, prefix, n, concurrency = 32) {
  const statuses = {};
  let sample;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const r = await chat(url, key, `${prefix}-${next++}`);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status !== 200) sample ??= `${r.status} ${r.error.code}: ${r.error.message}`;
      }
    }),
  );
  return { statuses, sample };
}

console.log(`dist: ${dist} (${limits ? 'per-org limits, idle expiry, restore' : 'no per-org limits'})`);
let g = await start();
const t0 = Date.now();
const a = await openThreads(g.url, 'key-a', 'a', CAP);
console.log(`org A, ${CAP} new threads in ${((Date.now() - t0) / 1000).toFixed(1)} s:`, JSON.stringify(a.statuses), a.sample ?? '');
const b = await openThreads(g.url, 'key-b', 'brand-new-b', 100);
console.log('org B, 100 new threads afterwards:', JSON.stringify(b.statuses), b.sample ?? '');
const stats = g.ledger.stats?.() ?? { liveThreads: g.ledger.registry.size };
console.log(`threads in the ledger: ${stats.liveThreads}; RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`);

for (let i = 0; i < 3; i++) await chat(g.url, 'key-a', 'a-0');
const beforeRestart = (await chat(g.url, 'key-a', 'a-0')).used;
await g.gateway.close();
g = await start();
const afterRestart = (await chat(g.url, 'key-a', 'a-0')).used;
console.log(`thread a-0 (org A): x-budget-used ${beforeRestart} before a restart, ${afterRestart} on its first call after it`);
await g.gateway.close();
rmSync(dir, { recursive: true, force: true });
