// One tenant's bad calls against another's (issue 11, finding 1): a gateway with two orgs on a SQLite
// file store (writer thread, as `tokenwarden serve` runs it) and a mock backend; org A sends calls whose
// usage a store refuses (`"user": "\u0000"`), org B sends normal calls, CONCURRENCY of each at a time
// for SECONDS. Prints org B's answers by status and how many of its events were stored.
// Run: npm run build && node bench/tenant-isolation.js [path to a built dist/, default ../dist]
//   (the "before" figure: build commit 53e777e into a directory and pass its dist/)
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const dist = resolve(process.argv[2] ?? new URL('../dist', import.meta.url).pathname);
const load = (rel) => import(pathToFileURL(join(dist, rel)).href);
const { LLMRouter, MemoryBudgetLedger, MockBackend, UsageTracker } = await load('index.js');
const { createGateway } = await load('gateway/index.js');
const { SqliteUsageStore } = await load('stores/usage/sqlite/index.js');

const SECONDS = Number(process.env.SECONDS ?? 5);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const sha = (s) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

const dir = mkdtempSync(join(tmpdir(), 'tw-bench-iso-'));
const store = new SqliteUsageStore({ path: join(dir, 'usage.db'), writer: 'thread' });
const router = new LLMRouter({
  backends: [new MockBackend({ models: '*' })],
  ledger: new MemoryBudgetLedger({ maxTokensPerThread: 1e12 }),
  tracker: new UsageTracker(),
});
const gateway = createGateway({
  router,
  store,
  keys: [
    { name: 'a', sha256: sha('key-a'), org: 'orgA' },
    { name: 'b', sha256: sha('key-b'), org: 'orgB' },
  ],
  logError: () => undefined,
});
const { port } = await gateway.listen(0, '127.0.0.1');
const url = `http://127.0.0.1:${port}/v1/chat/completions`;
const messages = [{ role: 'user', content: 'Hello there' }];

async function loop(key, body, statuses, deadline) {
  while (performance.now() < deadline) {
    const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await res.arrayBuffer();
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
  }
}

const a = {};
const b = {};
const deadline = performance.now() + SECONDS * 1000;
await Promise.all([
  ...Array.from({ length: CONCURRENCY }, () => loop('key-a', { model: 'm', messages, user: '\u0000' }, a, deadline)),
  ...Array.from({ length: CONCURRENCY }, () => loop('key-b', { model: 'm', messages }, b, deadline)),
]);
await gateway.close();
const check = new SqliteUsageStore({ path: join(dir, 'usage.db'), readonly: true, reader: 'inline' });
const storedB = await check.count({ orgId: 'orgB' });
await check.close();
rmSync(dir, { recursive: true, force: true });
const total = Object.values(b).reduce((x, y) => x + y, 0);
console.log(`dist: ${dist}`);
console.log(`org A (user "\\u0000") answers: ${JSON.stringify(a)}`);
console.log(`org B answers: ${JSON.stringify(b)} of ${total}; org B events stored: ${storedB}`);
