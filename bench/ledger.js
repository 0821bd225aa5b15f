// `npm run bench ledger`: RedisBudgetLedger reserve+settle pairs per second against local Redis with 64
// concurrent callers, beside a pipelined INCRBY baseline measured in the same run.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { RedisBudgetLedger } from '../dist/stores/ledgers/redis/index.js';
import { fmt, heading, percentile, row } from './lib.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONCURRENCY = 64;
const MEASURE_MS = 2_500;
const WARMUP_MS = 400;
const TARGET = 50_000;

/**
 * Runs `CONCURRENCY` callers, each awaiting `op(caller, i)` in a loop, for a warm-up and then
 * `MEASURE_MS`. Returns completed ops per second and per-op latency percentiles (ms).
 */
async function concurrent(op, redisCpu) {
  const phase = async (ms, latencies) => {
    const end = performance.now() + ms;
    let done = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, caller) => {
        for (let i = 0; performance.now() < end; i++) {
          const t0 = latencies && (i & 7) === 0 ? performance.now() : 0;
          await op(caller, i);
          if (t0) latencies.push(performance.now() - t0);
          done++;
        }
      }),
    );
    return done;
  };
  await phase(WARMUP_MS);
  const latencies = [];
  const cpu0 = await redisCpu();
  const node0 = process.cpuUsage();
  const start = performance.now();
  const done = await phase(MEASURE_MS, latencies);
  const ops = done / ((performance.now() - start) / 1000);
  const node = process.cpuUsage(node0);
  const redisUs = ((await redisCpu()) - cpu0) * 1e6 / done;
  const nodeUs = (node.user + node.system) / done;
  return { ops, p50: percentile(latencies, 50), p99: percentile(latencies, 99), redisUs, nodeUs };
}

async function deleteKeys(client, prefix) {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

export async function run() {
  heading(`ledger: RedisBudgetLedger reserve+settle, ${CONCURRENCY} concurrent callers (${URL})`);
  const prefix = `tw-bench:${randomUUID().slice(0, 8)}:`;
  const admin = new Redis(URL);
  try {
    await admin.ping();
  } catch (err) {
    console.log(`  skipped: Redis at ${URL} is not reachable (${err.message})`);
    admin.disconnect();
    return;
  }

  // Redis's own CPU time (user + sys, seconds): per-op cost that does not depend on the load of the machine.
  const redisCpu = async () => {
    const info = await admin.info('cpu');
    return Number(/used_cpu_user:([\d.]+)/.exec(info)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)[1]);
  };
  const results = [];
  const measure = async (name, op) => {
    const r = await concurrent(op, redisCpu);
    results.push({ name, ...r });
    return r;
  };

  // Baselines: one INCRBY per op, with and without auto-pipelining.
  const incrPiped = new Redis(URL, { enableAutoPipelining: true });
  const incrPlain = new Redis(URL);
  const baseline = await measure('INCRBY baseline (auto-pipelined)', (c) => incrPiped.incrby(`${prefix}incr:${c}`, 1));
  await measure('INCRBY (no pipelining)', (c) => incrPlain.incrby(`${prefix}incr:${c}`, 1));

  const ledgerOptions = { url: URL, keyPrefix: prefix, maxTokensPerThread: 1e15, onError: () => undefined };
  const batched = new RedisBudgetLedger(ledgerOptions); // defaults: calls of one tick batched into one script call
  const piped = new RedisBudgetLedger({ ...ledgerOptions, maxBatch: 1, autoPipelining: true });
  const single = new RedisBudgetLedger({ ...ledgerOptions, maxBatch: 1 });
  const pair = async (ledger, thread) => {
    const hold = await ledger.reserve(thread, 100);
    await ledger.settle(hold, { promptTokens: 60, completionTokens: 30 });
  };
  const THREADS = 1_024;
  const spreadThread = (c, i) => `spread-${(c * 16 + i) % THREADS}`;
  const spread = await measure(`ledger, ${THREADS} threads`, (c, i) => pair(batched, spreadThread(c, i)));
  const one = await measure('ledger, all callers on one thread', () => pair(batched, 'one'));
  await measure(`  unbatched, auto-pipelined, ${THREADS} threads`, (c, i) => pair(piped, spreadThread(c, i)));
  await measure(`  unbatched, no pipelining, ${THREADS} threads`, (c, i) => pair(single, spreadThread(c, i)));

  for (const r of results) {
    row(r.name, r.ops, r.name.startsWith('INCRBY baseline') ? undefined : baseline.ops);
    console.log(
      `    ${''.padEnd(46)} latency p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms; ` +
        `CPU per op: Redis ${fmt(r.redisUs, 1)} µs (ceiling ${fmt(1e6 / r.redisUs)}/s on one core), ` +
        `this process ${fmt(r.nodeUs, 1)} µs`,
    );
  }

  // Exactness check on the contended thread: every settled pair charged 90 tokens and freed its hold.
  const usage = await batched.usage('one');
  const exact = usage.reservedTokens === 0 && usage.totalTokens === usage.requestCount * 90;
  console.log(`  one-thread ledger after the run: ${fmt(usage.requestCount)} requests, ${fmt(usage.totalTokens)} tokens, ` +
    `${usage.reservedTokens} held -> ${exact ? 'exact' : 'NOT EXACT'}`);
  const worst = Math.min(spread.ops, one.ops);
  console.log(`  ratio to the INCRBY baseline (${fmt(baseline.ops)}/s): ${THREADS} threads ${fmt(spread.ops / baseline.ops, 2)}, ` +
    `one thread ${fmt(one.ops / baseline.ops, 2)}`);
  console.log(`  target ${fmt(TARGET)} reserve+settle/s with ${CONCURRENCY} callers: ${worst >= TARGET ? 'met' : 'NOT met'} ` +
    `(${THREADS} threads ${fmt(spread.ops)}/s, one thread ${fmt(one.ops)}/s)`);

  await Promise.all([batched.close(), piped.close(), single.close()]);
  await deleteKeys(admin, prefix);
  await Promise.all([incrPiped.quit(), incrPlain.quit(), admin.quit()]);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
