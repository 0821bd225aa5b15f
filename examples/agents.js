// Planner -> researcher -> writer agents in a message pump, on the offline mock provider.
// Each thread gets a small token budget, so the agents are warned as it runs low.
// Run: npm run build && node examples/agents.js
import { z } from 'zod';
import { LLMRouter, MemoryBudgetLedger, MessagePump, MockBackend, UsageTracker } from '../dist/index.js';

const router = new LLMRouter({
  backends: [new MockBackend({ models: ['*'], seed: 7 })],
  ledger: new MemoryBudgetLedger(),
  tracker: new UsageTracker(),
});
const pump = new MessagePump({ router }); // uses the router's ledger

const ask = (ctx, content, maxTokens) =>
  ctx.complete({ model: 'mock-small', messages: [{ role: 'user', content }], maxTokens });

pump.register('planner', {
  // The planner receives the request, then the researcher's notes, then the writer's article.
  schema: z.union([z.object({ topic: z.string() }), z.object({ notes: z.string() }), z.object({ article: z.string() })]),
  peers: ['researcher', 'writer'],
  handler: async (msg, ctx) => {
    if ('topic' in msg) {
      const plan = await ask(ctx, `Plan a short article about ${msg.topic}.`, 40);
      return { to: 'researcher', payload: { question: plan.content } };
    }
    if ('notes' in msg) return { to: 'writer', payload: { notes: msg.notes } };
    return { respond: msg.article };
  },
});

pump.register('researcher', {
  schema: z.object({ question: z.string() }),
  timeoutMs: 5_000,
  handler: async ({ question }, ctx) => {
    const notes = await ask(ctx, `Find facts for: ${question}`, 60);
    return { respond: { notes: notes.content } };
  },
});

pump.register('writer', {
  schema: z.object({ notes: z.string() }),
  concurrency: 2,
  onWarning: (w) => console.log(`  [writer hook, thread ${w.threadId.slice(0, 8)}] ${w.severity} at ${w.threshold}%`),
  handler: async ({ notes }, ctx) => {
    let draft = (await ask(ctx, `Write from these notes: ${notes}`, 60)).content;
    for (let round = 0; round < 3; round++) {
      try {
        draft = (await ask(ctx, `Improve: ${draft}`, 30)).content;
      } catch (err) {
        if (err.code === 'BUDGET_EXHAUSTED') break; // keep the last draft
        throw err;
      }
    }
    return { respond: { article: draft } };
  },
});

for (const [topic, maxTokens] of [['tides', 1000], ['volcanoes', 420], ['honey bees', 320], ['comets', 120]]) {
  console.log(`\n"${topic}" with a budget of ${maxTokens} tokens`);
  const r = await pump.run('planner', { topic }, { maxTokens, metadata: { org_id: 'demo' } });
  console.log(`  thread ${r.threadId.slice(0, 8)}: ${r.status} after ${r.steps} steps`);
  for (const w of r.warnings) console.log(`  warning -> ${w.agent} at ${w.threshold}%: ${w.message}`);
  if (r.error) console.log(`  error: ${r.error.message}`);
  const u = r.usage;
  console.log(`  final usage: ${u?.totalTokens ?? 0} of ${u?.maxTokens ?? maxTokens} tokens in ${u?.requestCount ?? 0} calls`);
}
await pump.close();
