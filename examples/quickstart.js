// The library in one screen: a router over the offline mock provider, a thread budget, a refused call
// and the usage totals. Run with `npm run example` (builds first).
import { LLMRouter, MockBackend, ThreadBudgetRegistry, UsageTracker, BudgetExhaustedError } from '../dist/index.js';

const registry = new ThreadBudgetRegistry({ maxTokensPerThread: 300 });
const tracker = new UsageTracker();
tracker.subscribe((e) => console.log(`  usage event ${e.id}: ${e.agentId} ${e.model} ${e.totalTokens} tokens, $${e.estimatedCost?.toFixed(6)}`));
registry.onThreshold((t) => console.log(`  ${t.severity}: thread ${t.threadId} at ${t.percentUsed}% (${t.remainingTokens} left)`));

const router = new LLMRouter({ registry, tracker, backends: [new MockBackend({ seed: 7 })] });
const ask = (content) =>
  router.complete({ model: 'gpt-4o-mini', threadId: 'demo', agentId: 'writer', maxTokens: 60, messages: [{ role: 'user', content }] });

for (const topic of ['tea', 'rivers', 'owls', 'clocks', 'glaciers', 'maps']) {
  try {
    const res = await ask(`Write one line about ${topic}.`);
    console.log(`${topic}: ${res.content.slice(0, 60)}...`);
  } catch (err) {
    if (!(err instanceof BudgetExhaustedError)) throw err;
    console.log(`${topic}: refused before reaching the provider: ${err.message}`);
  }
}
console.log('thread usage:', registry.getUsage('demo'));
console.log('totals:', tracker.getTotals());
