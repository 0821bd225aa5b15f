// Pricing and token-estimate hot paths, each beside a bare Map get-check-add loop measured in the
// same run (the floor for "a lookup plus a little arithmetic").
import { encodeChat } from 'gpt-tokenizer/model/gpt-4o';
import { estimateCost, estimateCostNanos } from '../dist/pricing/estimate.js';
import { PriceTable } from '../dist/pricing/price-table.js';
import { estimateTokens } from '../dist/tokens/estimate.js';
import { fmt, heading, opsPerSecond, row } from './lib.js';

const PROMPT = [
  { role: 'system', content: 'You are a helpful assistant for an online bookshop. Answer in two sentences at most.' },
  { role: 'user', content: 'Do you have any novels by Ursula K. Le Guin in stock, and how fast is shipping to Berlin?' },
  {
    role: 'assistant',
    content: 'Yes, we have The Dispossessed and A Wizard of Earthsea in stock. Shipping to Germany takes 3-5 working days.',
  },
];

export async function run() {
  heading('pricing: estimateCost / estimateTokens');
  const keys = ['a', 'b', 'c', 'd'];
  const map = new Map();
  const max = Number.MAX_SAFE_INTEGER;
  const baseline = await opsPerSecond((i) => {
    const k = keys[i & 3];
    const v = map.get(k) ?? 0;
    if (v + 1 <= max) map.set(k, v + 1);
  });
  row('bare Map get-check-add (baseline)', baseline);

  const models = ['gpt-4o', 'claude-sonnet-4', 'grok-4.1', 'gpt-4o-mini'];
  const usage = { promptTokens: 1200, completionTokens: 350, cachedPromptTokens: 800 };
  let sink = 0;
  const cost = await opsPerSecond((i) => {
    sink += estimateCost(models[i & 3], usage);
  });
  row('estimateCost (4 models, cached tokens)', cost, baseline);
  const nanos = await opsPerSecond((i) => {
    sink += estimateCostNanos(models[i & 3], usage);
  });
  row('estimateCostNanos (4 models, cached tokens)', nanos, baseline);
  const big = { promptTokens: 2_000_000_000, completionTokens: 900_000_000 };
  const bigint = await opsPerSecond((i) => {
    sink += estimateCostNanos(models[i & 3], big);
  });
  row('estimateCostNanos past 2^53 pico-USD (BigInt)', bigint, baseline);
  const cold = new PriceTable({ cacheSize: 1 });
  let n = 0;
  const miss = await opsPerSecond(() => {
    sink += cold.estimateCost(n++ & 1 ? 'claude-3-5-haiku' : 'o3', usage);
  }, { batch: 20, ms: 500 });
  row('estimateCost, resolution cache miss (catalog)', miss, baseline);

  const tokens = await opsPerSecond(() => {
    sink += estimateTokens(PROMPT, { model: 'gpt-4o' });
  });
  row('estimateTokens, 3-message prompt', tokens, baseline);
  const bpe = await opsPerSecond(() => {
    sink += encodeChat(PROMPT).length;
  }, { batch: 50 });
  row('gpt-tokenizer encodeChat (o200k), same prompt', bpe, baseline);
  console.log(`  estimateTokens is ${fmt(tokens / bpe, 1)}x faster than gpt-tokenizer encodeChat` +
    ` (estimate ${estimateTokens(PROMPT, { model: 'gpt-4o' })} vs actual ${encodeChat(PROMPT).length} tokens)`);
  if (sink === 42) console.log('');
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
