// Router overhead: LLMRouter.complete()/stream() against calling the same in-process MockBackend directly.
// The mock has no latency, so the figures isolate what the router adds (selection, reservation,
// settlement, the usage event, abort plumbing).
import { heading, opsPerSecond, row } from './lib.js';
import { MockBackend } from '../dist/providers/mock.js';
import { LLMRouter } from '../dist/router/router.js';
import { MemoryBudgetLedger } from '../dist/budget/memory-ledger.js';
import { UsageTracker } from '../dist/usage/tracker.js';

const messages = [
  { role: 'system', content: 'You are a concise assistant inside a multi-agent pipeline.' },
  { role: 'user', content: 'Summarise the budget status of this thread in one sentence.' },
];
const model = 'mock-1';
const THREADS = 64;

function makeRouter(limits) {
  const backend = new MockBackend({ name: 'mock', seed: 1 });
  const router = new LLMRouter({
    ledger: new MemoryBudgetLedger({ maxTokensPerThread: 1_000_000_000_000 }),
    tracker: new UsageTracker(),
  });
  router.addBackend(backend, limits ?? {});
  return router;
}

async function drain(iterable) {
  let n = 0;
  for await (const _chunk of iterable) n++;
  return n;
}

export async function run() {
  heading('router: overhead per call vs calling the MockBackend directly');
  const direct = new MockBackend({ name: 'direct', seed: 1 });
  const baseline = await opsPerSecond(() => direct.complete({ model, messages }), { batch: 200 });
  row('MockBackend.complete() direct (baseline)', baseline);

  const plain = makeRouter();
  row('router.complete() without threadId', await opsPerSecond(() => plain.complete({ model, messages }), { batch: 200 }), baseline);

  const budgeted = makeRouter();
  row(
    'router.complete() with threadId (reserve+settle)',
    await opsPerSecond((i) => budgeted.complete({ model, messages, threadId: `t${i % THREADS}`, maxTokens: 256 }), { batch: 200 }),
    baseline,
  );

  const limited = makeRouter({ maxConcurrent: 64, tokensPerMinute: 1_000_000_000, timeoutMs: 30_000 });
  row(
    'router.complete() threadId + concurrency/TPM limits',
    await opsPerSecond((i) => limited.complete({ model, messages, threadId: `t${i % THREADS}`, maxTokens: 256 }), { batch: 200 }),
    baseline,
  );

  const concurrent = makeRouter({ maxConcurrent: 16 });
  const BURST = 64;
  const burstOps = await opsPerSecond(
    async (i) => {
      const calls = [];
      for (let k = 0; k < BURST; k++) calls.push(concurrent.complete({ model, messages, threadId: `t${(i + k) % THREADS}`, maxTokens: 256 }));
      await Promise.all(calls);
    },
    { batch: 4 },
  );
  row(`router.complete() ${BURST} concurrent, maxConcurrent 16 (calls/s)`, burstOps * BURST, baseline);

  heading('router: streaming overhead vs MockBackend.stream() directly');
  const streamBase = await opsPerSecond(() => drain(direct.stream({ model, messages })), { batch: 100 });
  row('MockBackend.stream() drained directly (baseline)', streamBase);
  const streamer = makeRouter();
  row(
    'router.stream() drained, with threadId',
    await opsPerSecond((i) => drain(streamer.stream({ model, messages, threadId: `t${i % THREADS}`, maxTokens: 256 })), { batch: 100 }),
    streamBase,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
