import { ValidationError } from '../core/errors.js';
import { assertPositiveInteger, assertTokenCount } from '../core/validate.js';
import { BUILTIN_PRICES } from './builtin-prices.js';
import { lookupCatalog, selectVariant, type CatalogEntry } from './catalog.js';
import { compileModelPrice, costNanos, ratesFor, type Rates, type Schedule } from './rates.js';
import type { CostUsage, ModelPrice, PriceSource, PriceTier, ResolvedPrice } from './types.js';

/** Options of {@link PriceTable}. */
export interface PriceTableOptions {
  /** User prices by model name or prefix; they win over the catalog and the built-in table. */
  overrides?: Record<string, ModelPrice>;
  /** Consult the `@pydantic/genai-prices` catalog. Default `true`. */
  catalog?: boolean;
  /** Most model names whose resolution is cached (unknown names included). Default 1 000. */
  cacheSize?: number;
  /** Clock for time-of-day catalog prices, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/** A user price: `prefix` false prices only the exact name. */
interface Override {
  key: string;
  schedule: Schedule;
  provider: string | undefined;
  prefix: boolean;
}

/** A resolution cached per model name: its source, and how to price it. */
interface Entry {
  source: PriceSource;
  matched: string;
  provider: string | undefined;
  /** Set for override/builtin and single-variant catalog prices: no clock needed. */
  fixed: Schedule | undefined;
  /** Set for catalog prices that vary by date or time of day. */
  catalog: CatalogEntry | undefined;
}

const PRICE_FIELDS = [
  'inputPerMTok',
  'outputPerMTok',
  'cachedInputPerMTok',
  'cacheWritePerMTok',
  'reasoningPerMTok',
  'perThousandRequests',
] as const;
const REQUIRED_FIELDS = new Set<string>(['inputPerMTok', 'outputPerMTok']);

/**
 * Model prices with a fixed precedence (see docs/pricing.md):
 *
 * 1. **user overrides**: exact name, then the longest override key that prefixes the name;
 * 2. **the catalog** shipped in `@pydantic/genai-prices` (bundled data, never fetched);
 * 3. **the built-in table** ({@link BUILTIN_PRICES}), longest-prefix match.
 *
 * A name found nowhere has no price: `estimateCost` returns `undefined`, never a guess. Names are
 * matched case-insensitively after trimming. Resolutions (including misses) are cached in a
 * bounded map, so pricing a call is a map lookup plus a few integer multiplications.
 *
 * @example
 * ```ts
 * const table = new PriceTable({ overrides: { 'my-finetune': { inputPerMTok: 1, outputPerMTok: 2 } } });
 * table.estimateCost('gpt-4o', { promptTokens: 1_000_000, completionTokens: 1_000_000 }); // 12.5
 * table.resolvePrice('my-finetune-v2')?.source; // 'override' (prefix match)
 * table.estimateCost('unknown-model', { promptTokens: 10, completionTokens: 5 }); // undefined
 * ```
 */
export class PriceTable {
  private readonly overrides = new Map<string, Override>();
  private readonly useCatalog: boolean;
  private readonly cacheSize: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, Entry | null>();
  private readonly builtin: ReadonlyArray<{ key: string; schedule: Schedule; provider: string | undefined }>;

  constructor(options: PriceTableOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('options', options, 'must be an object');
    }
    const { overrides = {}, catalog = true, cacheSize = 1000, now = Date.now } = options;
    if (typeof catalog !== 'boolean') throw new ValidationError('catalog', catalog, 'must be a boolean');
    assertPositiveInteger('cacheSize', cacheSize);
    if (typeof now !== 'function') throw new ValidationError('now', now, 'must be a function returning epoch ms');
    if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
      throw new ValidationError('overrides', overrides, 'must be an object of model name → price');
    }
    this.useCatalog = catalog;
    this.cacheSize = cacheSize;
    this.now = now;
    this.builtin = Object.entries(BUILTIN_PRICES)
      .map(([key, price]) => ({ key, schedule: compileModelPrice(price), provider: price.provider }))
      .sort((a, b) => b.key.length - a.key.length);
    for (const [model, price] of Object.entries(overrides)) this.setOverride(model, price);
  }

  /**
   * Sets (or replaces) the price of `model`: it applies to that exact name and, as a prefix, to
   * longer names (`my-model` also prices `my-model-2025`), unless `options.prefix` is `false` (then
   * only the exact name). Validates every field and names the bad one.
   *
   * @example
   * ```ts
   * table.setOverride('gpt-4o', { inputPerMTok: 2, outputPerMTok: 8 }, { prefix: false }); // not gpt-4o-mini
   * ```
   */
  setOverride(model: string, price: ModelPrice, options: { prefix?: boolean } = {}): void {
    const key = normalizeModel('model', model);
    validatePrice(`overrides[${JSON.stringify(model)}]`, price);
    const prefix = options.prefix ?? true;
    if (typeof prefix !== 'boolean') throw new ValidationError('prefix', prefix, 'must be a boolean');
    this.overrides.set(key, { key, schedule: compileModelPrice(price), provider: price.provider, prefix });
    this.cache.clear();
  }

  /** Removes an override; returns whether there was one. */
  removeOverride(model: string): boolean {
    const removed = this.overrides.delete(normalizeModel('model', model));
    if (removed) this.cache.clear();
    return removed;
  }

  /**
   * The rates applied to `model` (at `atMs` for time-varying catalog prices), or `undefined` when no
   * source knows it.
   *
   * @example
   * ```ts
   * table.resolvePrice('claude-opus-4');
   * // { model: 'claude-opus-4', source: 'catalog', matched: 'claude-opus-4-0', provider: 'anthropic',
   * //   inputPerMTok: 15, outputPerMTok: 75, cachedInputPerMTok: 1.5, cacheWritePerMTok: 18.75 }
   * ```
   */
  resolvePrice(model: string, atMs?: number): ResolvedPrice | undefined {
    if (atMs !== undefined && (typeof atMs !== 'number' || !Number.isFinite(atMs))) {
      throw new ValidationError('atMs', atMs, 'must be epoch milliseconds');
    }
    const entry = this.entry(model);
    if (!entry) return undefined;
    const schedule = entry.fixed ?? selectVariant(entry.catalog!, atMs ?? this.now());
    const result: ResolvedPrice = {
      model,
      source: entry.source,
      matched: entry.matched,
      ...describeRates(schedule.rates),
    };
    if (entry.provider !== undefined) result.provider = entry.provider;
    if (schedule.rates.request > 0) result.perThousandRequests = schedule.rates.request / 1e9;
    if (schedule.tiers.length > 0) {
      result.tiers = schedule.tiers.map(
        (tier): PriceTier => ({ aboveInputTokens: tier.above, ...describeRates(tier.rates) }),
      );
    }
    if (entry.fixed === undefined) result.variesByTime = true;
    return result;
  }

  /**
   * Exact cost of a call in integer nano-USD (1e-9 USD), rounded half-up once; `undefined` when the
   * model has no price. Cached and cache-write tokens (subsets of `promptTokens`) and reasoning tokens
   * (a subset of `completionTokens`) are priced at their own rates where known.
   *
   * @example
   * ```ts
   * table.estimateCostNanos('gpt-4o-mini', { promptTokens: 1000, completionTokens: 500 }); // 450_000
   * ```
   */
  estimateCostNanos(model: string, usage: CostUsage): number | undefined {
    if (typeof usage !== 'object' || usage === null) throw new ValidationError('usage', usage, 'must be an object');
    const { promptTokens, completionTokens } = usage;
    const cached = usage.cachedPromptTokens ?? 0;
    const write = usage.cacheWriteTokens ?? 0;
    const reasoning = usage.reasoningTokens ?? 0;
    assertTokenCount('promptTokens', promptTokens);
    assertTokenCount('completionTokens', completionTokens);
    assertTokenCount('cachedPromptTokens', cached);
    assertTokenCount('cacheWriteTokens', write);
    assertTokenCount('reasoningTokens', reasoning);
    if (cached + write > promptTokens) {
      throw new ValidationError(
        'cachedPromptTokens',
        cached,
        `cachedPromptTokens + cacheWriteTokens (${cached} + ${write}) must not exceed promptTokens (${promptTokens})`,
      );
    }
    if (reasoning > completionTokens) {
      throw new ValidationError(
        'reasoningTokens',
        reasoning,
        `must not exceed completionTokens (${completionTokens})`,
      );
    }
    const entry = this.entry(model);
    if (!entry) return undefined;
    let schedule = entry.fixed;
    if (schedule === undefined) {
      const at = usage.timestamp ?? this.now();
      if (typeof at !== 'number' || !Number.isFinite(at)) {
        throw new ValidationError('timestamp', at, 'must be epoch milliseconds');
      }
      schedule = selectVariant(entry.catalog!, at);
    }
    const rates = schedule.tiers.length === 0 ? schedule.rates : ratesFor(schedule, promptTokens);
    return costNanos(rates, promptTokens, completionTokens, cached, write, reasoning);
  }

  /**
   * Cost of a call in USD (`estimateCostNanos / 1e9`), or `undefined` when the model has no price.
   *
   * @example
   * ```ts
   * table.estimateCost('grok-4.1', { promptTokens: 1_000_000, completionTokens: 1_000_000 }); // 18
   * ```
   */
  estimateCost(model: string, usage: CostUsage): number | undefined {
    const nanos = this.estimateCostNanos(model, usage);
    return nanos === undefined ? undefined : nanos / 1e9;
  }

  /** Number of model names whose resolution is cached. */
  get cachedModels(): number {
    return this.cache.size;
  }

  private entry(model: string): Entry | undefined {
    const hit = this.cache.get(model);
    if (hit !== undefined) return hit ?? undefined;
    const entry = this.resolveUncached(normalizeModel('model', model));
    if (this.cache.size >= this.cacheSize) {
      // Evict the oldest resolution; insertion order makes this FIFO, which is enough for a cache
      // whose misses cost one catalog lookup.
      this.cache.delete(this.cache.keys().next().value as string);
    }
    this.cache.set(model, entry ?? null);
    return entry;
  }

  private resolveUncached(key: string): Entry | undefined {
    const exact = this.overrides.get(key);
    const override = exact ?? longestPrefix([...this.overrides.values()].filter((o) => o.prefix), key);
    if (override) return fixedEntry('override', override);
    if (this.useCatalog) {
      const found = lookupCatalog(key);
      if (found) {
        const single = found.variants.length === 1 && found.variants[0]!.when === undefined;
        return {
          source: 'catalog',
          matched: found.modelId,
          provider: found.provider,
          fixed: single ? found.variants[0]!.schedule : undefined,
          catalog: single ? undefined : found,
        };
      }
    }
    const builtin = longestPrefix(this.builtin, key);
    return builtin ? fixedEntry('builtin', builtin) : undefined;
  }
}

function fixedEntry(
  source: PriceSource,
  found: { key: string; schedule: Schedule; provider: string | undefined },
): Entry {
  return { source, matched: found.key, provider: found.provider, fixed: found.schedule, catalog: undefined };
}

function longestPrefix<T extends { key: string }>(candidates: Iterable<T>, name: string): T | undefined {
  let best: T | undefined;
  for (const candidate of candidates) {
    if (name.startsWith(candidate.key) && (!best || candidate.key.length > best.key.length)) best = candidate;
  }
  return best;
}

function normalizeModel(field: string, model: unknown): string {
  if (typeof model !== 'string') throw new ValidationError(field, model, 'must be a string');
  const key = model.trim().toLowerCase();
  if (key.length === 0) throw new ValidationError(field, model, 'must not be empty');
  return key;
}

function validatePrice(field: string, price: unknown): asserts price is ModelPrice {
  if (typeof price !== 'object' || price === null || Array.isArray(price)) {
    throw new ValidationError(field, price, 'must be an object like { inputPerMTok, outputPerMTok }');
  }
  const record = price as Record<string, unknown>;
  for (const [name, value] of Object.entries(record)) {
    if (name === 'provider') {
      if (value !== undefined && typeof value !== 'string') {
        throw new ValidationError(`${field}.provider`, value, 'must be a string');
      }
      continue;
    }
    if (!(PRICE_FIELDS as readonly string[]).includes(name)) {
      throw new ValidationError(
        `${field}.${name}`,
        value,
        `is not a price field (expected one of ${PRICE_FIELDS.join(', ')}, provider)`,
      );
    }
    if (value === undefined && !REQUIRED_FIELDS.has(name)) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ValidationError(`${field}.${name}`, value, 'must be a finite number >= 0 (USD)');
    }
  }
  for (const name of REQUIRED_FIELDS) {
    if (record[name] === undefined) throw new ValidationError(`${field}.${name}`, undefined, 'is required');
  }
}

function describeRates(rates: Rates): Omit<PriceTier, 'aboveInputTokens'> {
  const out: Omit<PriceTier, 'aboveInputTokens'> = {
    inputPerMTok: rates.input / 1e6,
    outputPerMTok: rates.output / 1e6,
  };
  if (rates.hasCacheRead) out.cachedInputPerMTok = rates.cacheRead / 1e6;
  if (rates.hasCacheWrite) out.cacheWritePerMTok = rates.cacheWrite / 1e6;
  if (rates.hasReasoning) out.reasoningPerMTok = rates.reasoning / 1e6;
  return out;
}
