import type { ModelPrice } from './types.js';

/**
 * The built-in price table, consulted after user overrides and the catalog, by longest-prefix match
 * on the lower-cased model name (`gpt-4o-mini-2024-07-18` matches `gpt-4o-mini`, not `gpt-4o`).
 *
 * It holds the seed's models at the seed's prices, plus names the catalog lacks that would
 * otherwise prefix-match a wrongly priced entry (`grok-4.1-fast` must not cost what `grok-4.1` does).
 * USD per 1M tokens.
 *
 * @example
 * ```ts
 * BUILTIN_PRICES['grok-4.1']; // { inputPerMTok: 3, outputPerMTok: 15, ... }
 * ```
 */
export const BUILTIN_PRICES: Readonly<Record<string, Readonly<ModelPrice>>> = Object.freeze({
  // The seed's table (xml-pipeline). These five prices are pinned by the seed tests.
  'grok-4.1': { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.75, provider: 'xai' },
  'claude-opus-4': {
    inputPerMTok: 15,
    outputPerMTok: 75,
    cachedInputPerMTok: 1.5,
    cacheWritePerMTok: 18.75,
    provider: 'anthropic',
  },
  'claude-sonnet-4': {
    inputPerMTok: 3,
    outputPerMTok: 15,
    cachedInputPerMTok: 0.3,
    cacheWritePerMTok: 3.75,
    provider: 'anthropic',
  },
  'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25, provider: 'openai' },
  'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6, cachedInputPerMTok: 0.075, provider: 'openai' },
  // xAI's fast variant under the seed's dotted naming (the catalog spells it grok-4-1-fast-*).
  'grok-4.1-fast': { inputPerMTok: 0.2, outputPerMTok: 0.5, cachedInputPerMTok: 0.05, provider: 'xai' },
});
