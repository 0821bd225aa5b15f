// Message pump: messages/s through the pump with trivial handlers (baseline: the same handlers called
// directly in a loop), threads started+ended/s (baseline: handler + ledger setBudget/endThread without
// the pump), and heap after 100 000 completed threads vs before. The heap figure runs in a child
// process started with `node --expose-gc` (or directly: `node --expose-gc bench/pump.js --heap`). Run alone:
// `node bench/pump.js`.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { fmt, heading, row } from './lib.js';
import { MessagePump } from '../dist/pump/pump.js';
import { MemoryBudgetLedger } from '../dist/budget/memory-ledger.js';

const HOPS = 100; // messages per thread in the throughput test
const WINDOW = 256; // threads kept in flight
const Hop = z.object({ n: z.number() });

// Trivial handlers: ping sends to pong until HOPS messages were delivered; pong answers.
const ping = (p) => (p.n >= HOPS ? { respond: p } : { to: 'pong', payload: { n: p.n + 1 } });
const pong = (p) => ({ respond: { n: p.n + 1 } });
const noop = () => undefined;

function makePump(ledger) {
  const pump = new MessagePump({ ledger, maxConcurrentThreads: WINDOW, maxQueue: WINDOW * 4 });
  pump.register('ping', { schema: Hop, peers: ['pong'], handler: ping });
  pump.register('pong', { schema: Hop, handler: pong });
  pump.register('noop', { schema: Hop, handler: noop });
  return pump;
}

/** Runs `total` threads, keeping `WINDOW` in flight; returns seconds taken. */
async function runThreads(pump, agent, total, n = 0, options = {}) {
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      const r = await pump.run(agent, { n }, options);
      if (r.status !== 'completed') throw new Error(`thread ${r.status}: ${r.error?.message}`);
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  return (performance.now() - start) / 1000;
}

/** The same handlers called directly: parse, call, follow the result, as the pump would. */
function directMessages(total) {
  const ctx = Object.freeze({ threadId: 't', from: 'external', self: 'ping', kind: 'request', depth: 0 });
  const start = performance.now();
  let delivered = 0;
  while (delivered < total) {
    let p = Hop.parse({ n: 0 });
    let r = ping(p, ctx);
    delivered++;
    while (r.to) {
      p = Hop.parse(pong(Hop.parse(r.payload), ctx).respond);
      r = ping(p, ctx);
      delivered += 2;
    }
  }
  return delivered / ((performance.now() - start) / 1000);
}

async function directThreads(ledger, total) {
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const id = `t${i}`;
    await ledger.setBudget(id, 1000);
    noop(Hop.parse({ n: 0 }));
    await ledger.endThread(id);
  }
  return total / ((performance.now() - start) / 1000);
}

export async function run() {
  heading('pump: messages and threads (baseline: the same handlers called directly)');
  const ledger = new MemoryBudgetLedger();
  const pump = makePump(ledger);
  await runThreads(pump, 'ping', 500); // warm-up

  const direct = directMessages(2_000_000);
  row('direct handler calls (messages)', direct);
  const threads = 4_000;
  const seconds = await runThreads(pump, 'ping', threads);
  const messages = (threads * (HOPS + 1)) / seconds;
  row(`pump messages (${HOPS + 1}-message threads, ${WINDOW} in flight)`, messages, direct);

  const directT = await directThreads(ledger, 100_000);
  row('direct handler + ledger setBudget/endThread', directT);
  const tSeconds = await runThreads(pump, 'noop', 100_000, 0, { maxTokens: 1000 });
  row(`pump threads started+ended, own budget (${WINDOW} in flight)`, 100_000 / tSeconds, directT);
  const s = pump.stats();
  if (s.threads || s.timers || s.inFlightCalls) throw new Error(`pump not idle after the bench: ${JSON.stringify(s)}`);

  const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--heap'], { encoding: 'utf8' });
  process.stdout.write(child.stdout);
  if (child.status !== 0) process.stderr.write(child.stderr);
}

async function heap() {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      globalThis.gc();
      await new Promise((r) => globalThis.setImmediate(r));
    }
    return process.memoryUsage().heapUsed;
  };
  const ledger = new MemoryBudgetLedger();
  const pump = makePump(ledger);
  await runThreads(pump, 'ping', 1_000, HOPS - 2); // warm-up: JIT, zod caches
  const before = await settle();
  const start = performance.now();
  await runThreads(pump, 'ping', 100_000, HOPS - 2); // 3 messages each: ping -> pong -> ping
  const seconds = (performance.now() - start) / 1000;
  const after = await settle();
  const mb = (n) => `${fmt(n / 1024 / 1024, 2)} MB`;
  console.log(
    `  heap after 100,000 completed threads (3 messages each, ${fmt(seconds, 1)} s): ` +
      `${mb(after)} vs ${mb(before)} before (${after >= before ? '+' : ''}${mb(after - before)}); ` +
      `budgets left ${ledger.registry.size}, pump threads left ${pump.stats().threads}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv.includes('--heap')) await heap();
  else await run(); // `node bench/pump.js` on its own (after `npm run build`)
}
