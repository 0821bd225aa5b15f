import { z } from 'zod';
import { isPlainObject } from '../core/objects.js';
import type { ModelPrice } from '../pricing/types.js';
import { mapping, mustBe } from './schema-parts.js';

/**
 * One entry of the `prices:` section: a model name (exact) or a prefix (the key written `name-*`), and
 * its price in USD per 1M tokens.
 */
export interface ConfiguredPrice {
  /** The key as written in the file, e.g. `my-llama-*`. */
  key: string;
  /** The name or prefix without the trailing `*`, e.g. `my-llama-`. */
  model: string;
  /** True for a key written with a trailing `*`: it prices every name starting with `model`. */
  prefix: boolean;
  price: ModelPrice;
}

const USD = 'must be a finite number >= 0 (USD per 1M tokens)';
const usd = () =>
  z
    .number({ error: mustBe(USD) })
    .refine((n) => Number.isFinite(n) && n >= 0, { error: mustBe(USD) });

const entry = mapping(
  { input: usd(), output: usd(), cache_read: usd().optional(), cache_write: usd().optional() },
  { ifNull: 'must be a mapping { input, output, cache_read, cache_write } (got null)' },
);

/** What a `prices:` key stands for: the lower-cased name or prefix the price table matches, or a problem. */
function keyOf(key: string): { model: string; prefix: boolean } | { problem: string } {
  const prefix = key.endsWith('*');
  const model = (prefix ? key.slice(0, -1) : key).trim().toLowerCase();
  if (model.includes('*')) return { problem: 'a key may hold "*" only at its end (a prefix, like "my-llama-*")' };
  if (model.length === 0) return { problem: 'must name a model, or a prefix followed by "*" (a bare "*" would price every model)' };
  return { model, prefix };
}

/** Bad keys, and two keys naming the same name or prefix (`My-Model` and `my-model`, `a-*` and `a-`). */
function checkKeys(section: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const seen = new Map<string, string>();
  for (const key of Object.keys(section)) {
    const found = keyOf(key);
    if ('problem' in found) {
      ctx.addIssue({ code: 'custom', path: [key], message: found.problem });
      continue;
    }
    const before = seen.get(found.model);
    if (before !== undefined) {
      ctx.addIssue({ code: 'custom', path: [key], message: `prices the same name as prices[${JSON.stringify(before)}] (keys are matched case-insensitively; "*" marks a prefix)` });
    }
    seen.set(found.model, key);
  }
}

/**
 * `prices:`: USD per 1M tokens for models the catalog does not know, or at rates it does not have
 * (self-hosted, fine-tuned, negotiated). A key is an exact model name (`my-model` prices `my-model` only),
 * or a prefix written with a trailing `*` (`my-llama-*` prices every name starting with `my-llama-`; the
 * longest matching prefix wins). Names are matched case-insensitively. These prices win over the catalog.
 *
 * @example
 * ```yaml
 * prices:
 *   my-llama-*: { input: 0.2, output: 0.6 }
 *   gpt-4o: { input: 2, output: 8, cache_read: 1, cache_write: 2 }
 * ```
 */
export const PricesSection = z
  .record(z.string(), entry, { error: mustBe('must be a mapping of model name (or "prefix-*") to { input, output, cache_read, cache_write }') })
  .superRefine(checkKeys, { when: (payload) => isPlainObject(payload.value) })
  .transform((section): ConfiguredPrice[] =>
    Object.entries(section).map(([key, p]) => {
      const { model, prefix } = keyOf(key) as { model: string; prefix: boolean };
      const price: ModelPrice = { inputPerMTok: p.input, outputPerMTok: p.output };
      if (p.cache_read !== undefined) price.cachedInputPerMTok = p.cache_read;
      if (p.cache_write !== undefined) price.cacheWritePerMTok = p.cache_write;
      return { key, model, prefix, price };
    }),
  );
