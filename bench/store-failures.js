// A store that cannot keep events (issue 11, finding 8, store half): a gateway on a SQLite file store
// (writer thread) under CONCURRENCY concurrent calls for SECONDS;
// - deleted: the database file is removed after 1 s;
// - full: the file lives on a 2 MiB tmpfs (needs root to mount) that fills up.
// Prints the answers by status, how many were answered 200, and how many events a restarted store finds
// (every 200 must be there). Run: npm run build && node bench/store-failures.js deleted|full [dist dir]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const scenario = process.argv[2] ?? 'deleted';
const dist = resolve(process.argv[3] ?? new URL('../dist', import.meta.url).pathname);
const load = (rel) => import(pathToFileURL(join(dist, rel)).href);
const { LLMRouter, MemoryBudgetLedger, MockBackend, UsageTracker } = await load('index.js');
const { createGateway } = await load('gateway/index.js');
const { SqliteUsageStore } = await load('stores/usage/sqlite/index.js');
const SECONDS = Number(process.env.SECONDS ?? 4);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);

const dir = mkdtempSync(join(tmpdir(), 'tw-bench-fail-'));
let mnt;
if (scenario === 'full') {
  mnt = join(dir, 'tmpfs');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
}
const path = join(mnt ?? dir, 'usage.db');
const store = new SqliteUsageStore({ path, writer: 'thread' });
const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 1e12 });
const router = new LLMRouter({ backends: [new MockBackend({ models: '*' })], ledger, tracker: new UsageTracker() });
const gateway = createGateway({ router, store, logError: () => undefined });
const { port } = await gateway.listen(0, '127.0.0.1');
const url = `http://127.0.0.1:${port}/v1/chat/completions`;
const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `pad ${'x'.repeat(400)}` }] });

const statuses = {};
let after = 0;
let deleted = false;
const deadline = performance.now() + SECONDS * 1000;
if (scenario === 'deleted') {
  setTimeout(() => {
    rmSync(path);
    deleted = true;
  }, 1000);
}
await Promise.all(
  Array.from({ length: CONCURRENCY }, async (_, i) => {
    while (performance.now() < deadline) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-thread-id': `t${i}` }, body });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (deleted && res.status === 200) after++;
    }
  }),
);
await gateway.close();
await store.close().catch(() => undefined);
const restarted = new SqliteUsageStore({ path, reader: 'inline' });
const stored = await restarted.count();
await restarted.close();
if (mnt) execFileSync('umount', ['-l', mnt]);
rmSync(dir, { recursive: true, force: true });
console.log(`dist: ${dist}; scenario: ${scenario}`);
console.log(`answers: ${JSON.stringify(statuses)}${scenario === 'deleted' ? `; answered 200 after the file was deleted: ${after}` : ''}`);
console.log(`events found by a restarted store: ${stored} (answered 200: ${statuses[200] ?? 0})`);
