import { getPriceTable } from './global-prices.js';
import type { CostUsage, ResolvedPrice } from './types.js';

/**
 * Estimated cost of a call in USD with the process-wide price table, or `undefined` when the model
 * has no known price (never a guess). Precedence: user overrides > `@pydantic/genai-prices` catalog >
 * built-in table (see docs/pricing.md). Throws a `ValidationError` naming the field for negative, NaN
 * or fractional token counts.
 *
 * @example
 * ```ts
 * estimateCost('grok-4.1', { promptTokens: 1_000_000, completionTokens: 1_000_000 }); // 18
 * estimateCost('gpt-4o', { promptTokens: 1200, completionTokens: 300, cachedPromptTokens: 1000 });
 * estimateCost('unknown-model', { promptTokens: 1000, completionTokens: 500 });         // undefined
 * ```
 */
export function estimateCost(model: string, usage: CostUsage): number | undefined {
  return getPriceTable().estimateCost(model, usage);
}

/**
 * Exact cost of a call in integer nano-USD (1e-9 USD), rounded half-up once per call; `undefined`
 * when the model has no known price. Sum these to add money without float drift.
 *
 * @example
 * ```ts
 * estimateCostNanos('gpt-4o-mini', { promptTokens: 1000, completionTokens: 500 }); // 450000
 * ```
 */
export function estimateCostNanos(model: string, usage: CostUsage): number | undefined {
  return getPriceTable().estimateCostNanos(model, usage);
}

/**
 * The price the process-wide table applies to `model`: rates per 1M tokens, the source
 * (`override` | `catalog` | `builtin`) and the matched key; `undefined` when unknown.
 *
 * @example
 * ```ts
 * resolvePrice('grok-4.1'); // { source: 'builtin', matched: 'grok-4.1', inputPerMTok: 3, outputPerMTok: 15, ... }
 * ```
 */
export function resolvePrice(model: string, atMs?: number): ResolvedPrice | undefined {
  return getPriceTable().resolvePrice(model, atMs);
}
