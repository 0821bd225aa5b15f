// LangChain.js under a tokenwarden thread budget, offline: a small agent loop (LangGraph-style: one
// thread, several calls) with ChatOpenAI. The provider is a stand-in for OpenAI: tokenwarden's own
// gateway over its mock provider, on a local port.
// Run: npm run build && node examples/langchain.js
import { HumanMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { BudgetExhaustedError, LLMRouter, MemoryBudgetLedger, MockBackend, UsageTracker } from 'tokenwarden';
import { createGateway } from 'tokenwarden/gateway';
import { TokenwardenCallbackHandler } from 'tokenwarden/langchain';

const mock = createGateway({ router: new LLMRouter({ backends: [new MockBackend({ models: ['*'], seed: 7 })], tracker: new UsageTracker() }) });
const { port } = await mock.listen(0, '127.0.0.1');

// What the example is about: a ledger of thread budgets, a tracker of usage events, and the handler.
const ledger = new MemoryBudgetLedger({ maxTokensPerThread: 600 });
const tracker = new UsageTracker();
tracker.subscribe((e) => console.log(`  usage event: ${e.agentId} on ${e.threadId}: ${e.promptTokens}+${e.completionTokens} tokens, $${e.estimatedCost?.toFixed(6)}`));
const budget = new TokenwardenCallbackHandler({ ledger, tracker, agentId: 'researcher' });
const model = new ChatOpenAI({
  model: 'gpt-4o-mini',
  maxTokens: 80, // the output cap is what each call reserves on top of its prompt
  apiKey: 'offline',
  configuration: { baseURL: `http://127.0.0.1:${port}/v1` },
  callbacks: [budget],
});
// The thread of each call, as LangGraph passes it (configurable.thread_id lands in the run's metadata).
const config = { metadata: { thread_id: 'research-7' } };

const history = [new HumanMessage('Find three facts about owls.')];
try {
  for (let step = 1; ; step++) {
    const reply = step % 2 === 0 ? await streamed(history) : await model.invoke(history, config);
    console.log(`step ${step}: ${String(reply.content).slice(0, 60)}...`);
    history.push(reply, new HumanMessage('Go on.'));
  }
} catch (err) {
  if (!(err instanceof BudgetExhaustedError)) throw err;
  console.log(`refused before reaching the provider: ${err.message}`);
}
console.log('thread usage:', await ledger.usage('research-7'));
await mock.close();

/** Every other step streams: the handler settles it to the usage chunk at its end. */
async function streamed(messages) {
  let reply;
  for await (const chunk of await model.stream(messages, config)) reply = reply === undefined ? chunk : reply.concat(chunk);
  return reply;
}
