// The Vercel AI SDK under a tokenwarden thread budget, offline. The provider is a stand-in for OpenAI:
// tokenwarden's own gateway over its mock provider, on a local port, spoken to by the real @ai-sdk/openai.
// Run: npm run build && node examples/ai-sdk.js
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, wrapLanguageModel } from 'ai';
import { BudgetExhaustedError, LLMRouter, MemoryBudgetLedger, MockBackend, UsageTracker } from 'tokenwarden';
import { tokenwardenBudget } from 'tokenwarden/ai-sdk';
import { createGateway } from 'tokenwarden/gateway';

const mock = createGateway({ router: new LLMRouter({ backends: [new MockBackend({ models: ['*'], seed: 7 })], tracker: new UsageTracker() }) });
const { port } = await mock.listen(0, '127.0.0.1');
const openai = createOpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'offline' });

// What the example is about: a ledger of thread budgets, a tracker of usage events, and the middleware.
const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 400 });
const tracker = new UsageTracker();
tracker.subscribe((e) => console.log(`  usage event: ${e.agentId} ${e.model} ${e.promptTokens}+${e.completionTokens} tokens, $${e.estimatedCost?.toFixed(6)}`));
const model = wrapLanguageModel({
  model: openai.chat('gpt-4o-mini'),
  middleware: tokenwardenBudget({ ledger, tracker, agentId: 'writer' }),
});
const perCall = { tokenwarden: { threadId: 'demo' } }; // the thread of each call (or `threadId` in the options)

const stream = streamText({ model, prompt: 'Write one line about tea.', maxOutputTokens: 120, providerOptions: perCall });
let streamed = '';
for await (const piece of stream.textStream) streamed += piece;
console.log(`tea (streamed): ${streamed.slice(0, 60)}...`);

for (const topic of ['rivers', 'owls', 'clocks', 'glaciers', 'maps', 'lighthouses']) {
  try {
    const { text } = await generateText({ model, prompt: `Write one line about ${topic}.`, maxOutputTokens: 120, providerOptions: perCall });
    console.log(`${topic}: ${text.slice(0, 60)}...`);
  } catch (err) {
    if (!(err instanceof BudgetExhaustedError)) throw err;
    console.log(`${topic}: refused before reaching the provider: ${err.message}`);
  }
}
console.log('thread usage:', await ledger.usage('demo'));
console.log('totals:', tracker.getTotals());
await mock.close();
