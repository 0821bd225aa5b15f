// Usage queries and the event loop (issue 11, finding 5): an HTTP server on 127.0.0.1 answers
// GET /summary?q=N from a SQLite store of EVENTS events (default 1 million) and GET /healthz with "ok".
// CLIENTS connections loop on filtered summaries for SECONDS while one more loops on /healthz, timed;
// event-loop delay comes from perf_hooks.monitorEventLoopDelay. Run once with
// the reads on the caller's thread (reader: 'inline', what every read did before) and once on the
// reader thread (reader: 'thread', the default for a file).
// Run: npm run build && node bench/store-reads.js   (EVENTS=200000 SECONDS=3 for a quick look)
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { SqliteUsageStore } from '../dist/stores/usage/sqlite/index.js';
import { benchEvent, EVENT_T0 } from './lib.js';

const EVENTS = Number(process.env.EVENTS ?? 1_000_000);
const SECONDS = Number(process.env.SECONDS ?? 5);
const CLIENTS = Number(process.env.CLIENTS ?? 4);
const T0 = EVENT_T0;
const SPACING_MS = Math.floor((30 * 86_400_000) / EVENTS); // 30 days of events

function event(i) {
  return benchEvent(i, { idPrefix: 'r-', spacingMs: SPACING_MS });
}

function fill(path) {
  const store = new SqliteUsageStore({ path, reader: 'inline' });
  for (let i = 0; i < EVENTS; i += 10_000) {
    store.appendSync(Array.from({ length: Math.min(10_000, EVENTS - i) }, (_, j) => event(i + j)));
  }
  return store.close();
}

/** The filtered summaries a dashboard or a billing job runs: partial days of one org, and one user over everything. */
const QUERIES = [
  { orgId: 'org-3', since: T0 + 5 * 86_400_000 + 43_200_000, until: T0 + 25 * 86_400_000 + 3_600_000 },
  { userId: 'user-7' },
  { orgId: 'org-5', agentId: 'agent-5', since: T0 + 3_600_000 },
];

function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

async function measure(path, reader) {
  const store = new SqliteUsageStore({ path, reader });
  await store.summary(QUERIES[0]); // warm (and start the reader thread)
  const server = createServer((req, res) => {
    const q = /^\/summary\?q=(\d+)$/.exec(req.url ?? '');
    if (!q) return void res.end('ok');
    store.summary(QUERIES[Number(q[1]) % QUERIES.length]).then(
      (s) => res.end(JSON.stringify(s.totals)),
      (err) => ((res.statusCode = 500), res.end(String(err))),
    );
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const deadline = performance.now() + SECONDS * 1000;
  const summaryMs = [];
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = c; performance.now() < deadline; i++) {
      const t = performance.now();
      await get(port, `/summary?q=${i}`);
      summaryMs.push(performance.now() - t);
    }
  });
  const cheapMs = [];
  const cheap = (async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      await get(port, '/healthz');
      cheapMs.push(performance.now() - t);
    }
  })();
  await Promise.all([...clients, cheap]);
  delay.disable();
  server.close();
  await store.close();
  summaryMs.sort((a, b) => a - b);
  cheapMs.sort((a, b) => a - b);
  return {
    reader,
    summaries: summaryMs.length,
    summaryP50: pct(summaryMs, 0.5),
    cheapRequests: cheapMs.length,
    cheapP50: pct(cheapMs, 0.5),
    cheapP99: pct(cheapMs, 0.99),
    loopDelayP50: delay.percentile(50) / 1e6,
    loopDelayP99: delay.percentile(99) / 1e6,
    loopDelayMax: delay.max / 1e6,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'tw-bench-reads-'));
try {
  const path = join(dir, 'usage.db');
  const t = performance.now();
  await fill(path);
  console.log(`${EVENTS} events written in ${((performance.now() - t) / 1000).toFixed(1)} s; ${CLIENTS} clients looping on summaries for ${SECONDS} s`);
  const f = (n) => n.toFixed(1).padStart(8);
  console.log('reader  summaries  summary p50 ms  cheap req  cheap p50 ms  cheap p99 ms  loop delay p50 / p99 / max ms');
  for (const reader of ['inline', 'thread']) {
    const r = await measure(path, reader);
    console.log(
      `${r.reader.padEnd(7)} ${String(r.summaries).padStart(9)} ${f(r.summaryP50).padStart(15)} ${String(r.cheapRequests).padStart(10)} ` +
        `${f(r.cheapP50).padStart(13)} ${f(r.cheapP99).padStart(13)}   ${f(r.loopDelayP50)} / ${f(r.loopDelayP99)} / ${f(r.loopDelayMax)}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
