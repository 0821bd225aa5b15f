/**
 * Types of the pricing module: what a caller passes in (prices, token usage) and what a lookup
 * returns. All prices are USD per one million tokens, the unit every provider publishes.
 */

/** Where a resolved price came from. See docs/pricing.md for the precedence. */
export type PriceSource = 'override' | 'catalog' | 'builtin';

/** USD per million tokens of each kind. */
export interface PriceRates {
  /** Uncached prompt tokens. */
  inputPerMTok: number;
  /** Completion tokens. */
  outputPerMTok: number;
  /** Prompt tokens read from the provider's cache. Default: `inputPerMTok`. */
  cachedInputPerMTok?: number;
  /** Prompt tokens written to the provider's cache. Default: `inputPerMTok`. */
  cacheWritePerMTok?: number;
  /** Reasoning tokens (a subset of completion tokens). Default: `outputPerMTok`. */
  reasoningPerMTok?: number;
}

/**
 * A model's price as a user (override) or the built-in table states it, in USD per 1M tokens.
 *
 * @example
 * ```ts
 * const price: ModelPrice = { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3 };
 * ```
 */
export interface ModelPrice extends PriceRates {
  /** Flat fee per 1 000 calls, in USD. Default: none. */
  perThousandRequests?: number;
  /** Provider name shown by `tokenwarden prices` (informational). */
  provider?: string;
}

/** A price tier that replaces every rate once a call's prompt exceeds `aboveInputTokens`. */
export interface PriceTier extends PriceRates {
  aboveInputTokens: number;
}

/**
 * The answer of `resolvePrice(model)`: the rates applied to `model`, where they came from and
 * which key matched (override key, catalog model id, or built-in prefix).
 */
export interface ResolvedPrice extends PriceRates {
  /** The model name that was looked up, as given. */
  model: string;
  source: PriceSource;
  /** The key that matched: the override or built-in key, or the catalog's model id. */
  matched: string;
  perThousandRequests?: number;
  provider?: string;
  /** Long-prompt tiers (e.g. Gemini 2.5 Pro above 200k prompt tokens), ascending. */
  tiers?: PriceTier[];
  /** True when the catalog prices this model differently by date or time of day. */
  variesByTime?: boolean;
}

/**
 * Token counts of one call, as `estimateCost` takes them. Cache and reasoning counts are subsets:
 * `cachedPromptTokens + cacheWriteTokens <= promptTokens`, `reasoningTokens <= completionTokens`.
 */
export interface CostUsage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens read from the provider's cache. */
  cachedPromptTokens?: number;
  /** Prompt tokens written to the provider's cache (Anthropic). */
  cacheWriteTokens?: number;
  /** Completion tokens spent on reasoning. */
  reasoningTokens?: number;
  /** When the call happened (epoch ms); matters only for time-of-day prices. Default: the table's clock. */
  timestamp?: number;
}
