// The AI SDK middleware's added time per call: generateText()/streamText() on an in-process mock model
// (ai/test's MockLanguageModelV3, no network), unwrapped (baseline) and wrapped by tokenwardenBudget over a
// memory ledger with a thread, in the same run. The mock answers instantly, so the difference is what the
// middleware adds (prompt estimate, reserve, usage event, settle; for streams the metering stream too).
import { ReadableStream } from 'node:stream/web';
import { generateText, streamText, wrapLanguageModel } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { heading, opsPerSecond, row, fmt } from './lib.js';
import { MemoryBudgetLedger } from '../dist/budget/memory-ledger.js';
import { UsageTracker } from '../dist/usage/tracker.js';
import { tokenwardenBudget } from '../dist/integrations/ai-sdk/index.js';

const usage = { inputTokens: { total: 40, noCache: 40, cacheRead: undefined, cacheWrite: undefined }, outputTokens: { total: 12, text: 12, reasoning: undefined } };
const finishReason = { unified: 'stop', raw: 'stop' };
const parts = [
  { type: 'stream-start', warnings: [] },
  { type: 'text-start', id: '1' },
  ...'The thread has most of its budget left.'.split(' ').map((w) => ({ type: 'text-delta', id: '1', delta: `${w} ` })),
  { type: 'text-end', id: '1' },
  { type: 'finish', usage, finishReason },
];

function mockModel() {
  return new MockLanguageModelV3({
    modelId: 'gpt-4o-mini',
    doGenerate: async () => ({ content: [{ type: 'text', text: 'The thread has most of its budget left.' }], finishReason, usage, warnings: [] }),
    doStream: async () => ({
      stream: new ReadableStream({
        start(c) {
          for (const p of parts) c.enqueue(p);
          c.close();
        },
      }),
    }),
  });
}

const prompt = 'Summarise the budget status of this thread in one sentence.';

export async function run() {
  heading('ai-sdk: tokenwardenBudget middleware, added time per call (in-process mock model)');
  const plain = mockModel();
  // wrapLanguageModel with a middleware that does nothing: what the AI SDK's own wrapping costs.
  const empty = wrapLanguageModel({ model: mockModel(), middleware: { specificationVersion: 'v3' } });
  const wrapped = wrapLanguageModel({
    model: mockModel(),
    middleware: tokenwardenBudget({ ledger: new MemoryBudgetLedger({ maxTokensPerThread: 1e15 }), tracker: new UsageTracker(), threadId: 'bench' }),
  });
  const gen = (model) => () => generateText({ model, prompt, maxOutputTokens: 256 });
  const stream = (model) => async () => {
    const r = streamText({ model, prompt, maxOutputTokens: 256 });
    for await (const _ of r.textStream);
  };
  for (const [name, make] of [['generateText', gen], ['streamText', stream]]) {
    // Interleaved rounds (the order rotates each round, so a GC left by one variant does not always land
    // on the same next one); the added time is the median of the per-round differences, which a noisy
    // neighbour shifts far less than either figure alone.
    const runs = { plain: [], empty: [], wrapped: [] };
    const models = { plain, empty, wrapped };
    const keys = Object.keys(runs);
    for (let round = 0; round < 11; round++) {
      for (let i = 0; i < keys.length; i++) {
        const key = keys[(i + round) % keys.length];
        runs[key].push(await opsPerSecond(make(models[key]), { batch: 25, ms: 400, warmupMs: 100 }));
      }
    }
    const [baseline, bare, ops] = [median(runs.plain), median(runs.empty), median(runs.wrapped)];
    const added = median(runs.wrapped.map((o, r) => 1e6 / o - 1e6 / runs.plain[r]));
    const overEmpty = median(runs.wrapped.map((o, r) => 1e6 / o - 1e6 / runs.empty[r]));
    row(`${name}() unwrapped (baseline)`, baseline);
    row(`${name}() wrapped, empty middleware`, bare, baseline);
    row(`${name}() wrapped, tokenwardenBudget`, ops, baseline);
    console.log(`  ${'  tokenwardenBudget adds'.padEnd(48)} ${fmt(added, 1)} µs per call, median of per-round differences (${fmt(overEmpty, 1)} µs over an empty middleware)`);
  }
}

function median(values) {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
