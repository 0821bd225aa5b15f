// `node bench/redis-policies.js` (after `npm run build`): reserve + settle against three budget policies
// plus the thread budget, with RedisPolicyLedger and RedisBudgetLedger on local Redis, 64 concurrent
// callers, beside pipelined INCRBY in the same run. Rounds are interleaved (each round measures every
// variant once, in turn) so that a noisy neighbour hits all of them alike; the medians are reported.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { RedisBudgetLedger, RedisPolicyLedger } from '../dist/stores/ledgers/redis/index.js';
import { windowAt } from '../dist/budget/windows.js';
import { fmt, heading, row } from './lib.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONCURRENCY = 64;
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const MEASURE_MS = Number(process.env.MEASURE_MS ?? 1_500);
const WARMUP_MS = 300;
const TARGET = 30_000;
const USERS = 1_024;
const ORGS = 8;
const KEYS = 32;
const USD = 1e9;

/**
 * Runs `CONCURRENCY` callers, each awaiting `op(caller, i)` in a loop, for a warm-up then `MEASURE_MS`; ops
 * per second, and the CPU each op cost this process and Redis (µs; steadier than ops/s on a busy machine).
 */
async function concurrent(op, redisCpu) {
  const phase = async (ms) => {
    const end = performance.now() + ms;
    let done = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, caller) => {
        for (let i = 0; performance.now() < end; i++) {
          await op(caller, i);
          done++;
        }
      }),
    );
    return done;
  };
  await phase(WARMUP_MS);
  const cpu0 = await redisCpu();
  const node0 = process.cpuUsage();
  const start = performance.now();
  const done = await phase(MEASURE_MS);
  const ops = done / ((performance.now() - start) / 1000);
  const node = process.cpuUsage(node0);
  return { ops, nodeUs: (node.user + node.system) / done, redisUs: (((await redisCpu()) - cpu0) * 1e6) / done };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function deleteKeys(client, prefix) {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

/** The three policies' lines of a call: a user's daily USD, an org's monthly USD + tokens, a key's rpm/tpm. */
function linesOf(caller, i, now) {
  const day = { count: 1, unit: 'd' };
  const month = { count: 1, unit: 'mo' };
  const minute = { count: 1, unit: 'm' };
  const d = windowAt(day, now);
  const mo = windowAt(month, now);
  const m = windowAt(minute, now);
  const user = `u-${(caller * 16 + i) % USERS}`;
  return [
    { policy: 'user-daily', scope: 'user', entity: user, meter: 'budget', windowStart: d.start, resetsAt: d.resetsAt, window: day, limits: { nanos: 1e15 }, priced: true, thresholds: [75, 90, 95] },
    { policy: 'org-monthly', scope: 'org', entity: `org-${caller % ORGS}`, meter: 'budget', windowStart: mo.start, resetsAt: mo.resetsAt, window: month, limits: { nanos: 1e15, tokens: 1e15 }, priced: true, thresholds: [75, 90, 95] },
    { policy: 'key-rate', scope: 'key', entity: `key-${caller % KEYS}`, meter: 'rate', windowStart: m.start, resetsAt: m.resetsAt, window: minute, limits: { requests: 1e12, tokens: 1e15 }, priced: true, thresholds: [] },
  ];
}

/** The thread budget as a lifetime policy line (scope thread, tokens only): one script call for all four. */
function threadLine(caller, i) {
  return { policy: 'thread', scope: 'thread', entity: `t-${(caller * 16 + i) % USERS}`, meter: 'budget', windowStart: 0, resetsAt: null, window: undefined, limits: { tokens: 1e15 }, priced: true, thresholds: [] };
}

export async function run() {
  heading(`redis-policies: RedisPolicyLedger (3 policies) + thread ledger, reserve+settle, ${CONCURRENCY} callers (${URL})`);
  const prefix = `twb${randomUUID().slice(0, 4)}:`; // short, as the default `tw:` is
  const admin = new Redis(URL);
  try {
    await admin.ping();
  } catch (err) {
    console.log(`  skipped: Redis at ${URL} is not reachable (${err.message})`);
    admin.disconnect();
    return;
  }
  // Redis's own CPU time (user + sys, seconds); it counts every client of that Redis, not only this run's.
  const redisCpu = async () => {
    const info = await admin.info('cpu');
    return Number(/used_cpu_user:([\d.]+)/.exec(info)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)[1]);
  };
  const incr = new Redis(URL, { enableAutoPipelining: true });
  const policies = new RedisPolicyLedger({ url: URL, keyPrefix: prefix, onError: () => undefined });
  // The thread ledger on its own client, as a gateway with both would have.
  const threads = new RedisBudgetLedger({ url: URL, keyPrefix: prefix, maxTokensPerThread: 1e15, onError: () => undefined });
  const estimate = { nanos: 2_500_000, tokens: 1_200 };
  const actual = { nanos: 1_900_000, tokens: 1_010 };

  const variants = [
    ['INCRBY (auto-pipelined), one per call', (c) => incr.incrby(`${prefix}incr:${c}`, 1)],
    [
      '3 policies + thread: reserve+settle',
      async (c, i) => {
        const [held, hold] = await Promise.all([policies.reserve(linesOf(c, i, Date.now()), estimate), threads.reserve(`t-${(c * 16 + i) % USERS}`, 1_200)]);
        await Promise.all([policies.settle(held.reservation, actual), threads.settle(hold, { promptTokens: 700, completionTokens: 310 })]);
      },
    ],
    [
      '3 policies + thread as a 4th policy line',
      async (c, i) => {
        const held = await policies.reserve([...linesOf(c, i, Date.now()), threadLine(c, i)], estimate);
        await policies.settle(held.reservation, actual);
      },
    ],
    [
      '3 policies alone: reserve+settle',
      async (c, i) => {
        const held = await policies.reserve(linesOf(c, i, Date.now()), estimate);
        await policies.settle(held.reservation, actual);
      },
    ],
    [
      'thread ledger alone: reserve+settle',
      async (c, i) => {
        const hold = await threads.reserve(`t-${(c * 16 + i) % USERS}`, 1_200);
        await threads.settle(hold, { promptTokens: 700, completionTokens: 310 });
      },
    ],
  ];
  const results = variants.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let v = 0; v < variants.length; v++) results[v].push(await concurrent(variants[v][1], redisCpu));
  }
  const medians = results.map((rs) => median(rs.map((r) => r.ops)));
  const baseline = medians[0];
  for (let v = 0; v < variants.length; v++) {
    row(variants[v][0], medians[v], v === 0 ? undefined : baseline);
    const nodeUs = median(results[v].map((r) => r.nodeUs));
    const redisUs = median(results[v].map((r) => r.redisUs));
    console.log(`    ${''.padEnd(46)} rounds: ${results[v].map((r) => fmt(r.ops)).join(', ')}`);
    console.log(`    ${''.padEnd(46)} CPU per call (medians): this process ${fmt(nodeUs, 1)} µs, Redis ${fmt(redisUs, 1)} µs`);
  }

  // Exactness: every settled call charged the org exactly `actual` and left nothing held.
  const org = linesOf(0, 0, Date.now())[1];
  const s = await policies.standing(org);
  const exact = s.reservedNanos === 0 && s.reservedRequests === 0 && s.spentNanos === s.requests * actual.nanos;
  console.log(`  org-0 after the run: ${fmt(s.requests)} calls, ${fmt(s.spentNanos / USD, 3)} USD, ${s.reservedRequests} held -> ${exact ? 'exact' : 'NOT EXACT'}`);
  const both = medians[1];
  console.log(`  target ${fmt(TARGET)} reserve+settle/s (3 policies + thread, ${CONCURRENCY} callers): ${both >= TARGET ? 'met' : 'NOT met'} ` +
    `(${fmt(both)}/s, ${fmt(both / baseline, 2)}x pipelined INCRBY at ${fmt(baseline)}/s)`);

  await Promise.all([policies.close(), threads.close()]);
  await deleteKeys(admin, prefix);
  await Promise.all([incr.quit(), admin.quit()]);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
