import { calcPrice } from '@pydantic/genai-prices';
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { estimateCost, estimateCostNanos, resolvePrice } from '../../src/pricing/estimate.js';
import { configurePrices, getPriceTable, resetPrices } from '../../src/pricing/global-prices.js';
import { PriceTable } from '../../src/pricing/price-table.js';
import { costNanos, type Rates } from '../../src/pricing/rates.js';

const M = 1_000_000;
const usage = (promptTokens: number, completionTokens: number) => ({ promptTokens, completionTokens });

function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('precedence: override > catalog > built-in', () => {
  it('serves seed models from the catalog when it agrees with the seed, and grok-4.1 from the built-in table', () => {
    const table = new PriceTable();
    expect(table.resolvePrice('gpt-4o')).toMatchObject({ source: 'catalog', matched: 'gpt-4o', provider: 'openai' });
    expect(table.resolvePrice('claude-opus-4')).toMatchObject({
      source: 'catalog',
      matched: 'claude-opus-4-0',
      inputPerMTok: 15,
      outputPerMTok: 75,
    });
    expect(table.resolvePrice('grok-4.1')).toMatchObject({
      source: 'builtin',
      matched: 'grok-4.1',
      inputPerMTok: 3,
      outputPerMTok: 15,
    });
  });

  it('the catalog agrees with the built-in table on every seed model it knows (guards a catalog upgrade)', () => {
    const withCatalog = new PriceTable();
    const builtinOnly = new PriceTable({ catalog: false });
    for (const model of ['claude-opus-4', 'claude-sonnet-4', 'gpt-4o', 'gpt-4o-mini']) {
      const a = withCatalog.resolvePrice(model)!;
      const b = builtinOnly.resolvePrice(model)!;
      expect(a.source, model).toBe('catalog');
      expect(b.source, model).toBe('builtin');
      expect([a.inputPerMTok, a.outputPerMTok], model).toEqual([b.inputPerMTok, b.outputPerMTok]);
    }
  });

  it('an exact override beats the catalog', () => {
    const table = new PriceTable({ overrides: { 'gpt-4o': { inputPerMTok: 2, outputPerMTok: 8 } } });
    expect(table.estimateCost('gpt-4o', usage(M, M))).toBe(10);
    expect(table.resolvePrice('gpt-4o')).toMatchObject({ source: 'override', matched: 'gpt-4o' });
  });

  it('overrides match exact name first, then the longest prefix', () => {
    const table = new PriceTable({
      overrides: {
        acme: { inputPerMTok: 1, outputPerMTok: 1 },
        'acme-large': { inputPerMTok: 5, outputPerMTok: 5 },
        'acme-large-v2': { inputPerMTok: 7, outputPerMTok: 7 },
      },
    });
    expect(table.resolvePrice('acme-large-v2')?.matched).toBe('acme-large-v2');
    expect(table.resolvePrice('acme-large-v3')?.matched).toBe('acme-large');
    expect(table.resolvePrice('acme-small')?.matched).toBe('acme');
    expect(table.estimateCost('acme-large-2025', usage(M, 0))).toBe(5);
  });

  it('a prefix override also wins over the catalog', () => {
    const table = new PriceTable({ overrides: { 'gpt-4.1': { inputPerMTok: 1, outputPerMTok: 1 } } });
    expect(table.resolvePrice('gpt-4.1-mini')).toMatchObject({ source: 'override', matched: 'gpt-4.1' });
  });

  it('falls back to the built-in table by longest prefix when the catalog lacks the name', () => {
    const table = new PriceTable();
    expect(table.resolvePrice('gpt-4o-custom-deployment')).toMatchObject({ source: 'builtin', matched: 'gpt-4o' });
    expect(table.resolvePrice('grok-4.1-fast')).toMatchObject({
      source: 'builtin',
      matched: 'grok-4.1-fast',
      inputPerMTok: 0.2,
    });
    const builtinOnly = new PriceTable({ catalog: false });
    expect(builtinOnly.resolvePrice('gpt-4o-mini-2024-07-18')?.matched).toBe('gpt-4o-mini');
    expect(builtinOnly.resolvePrice('gpt-4.1')).toBeUndefined();
  });

  it('an override set with { prefix: false } prices only its exact name', () => {
    const table = new PriceTable();
    table.setOverride('gpt-4o', { inputPerMTok: 1, outputPerMTok: 1 }, { prefix: false });
    table.setOverride('house-', { inputPerMTok: 3, outputPerMTok: 3 });
    expect(table.resolvePrice('GPT-4o')).toMatchObject({ source: 'override', matched: 'gpt-4o', inputPerMTok: 1 });
    expect(table.resolvePrice('gpt-4o-mini')).toMatchObject({ source: 'catalog', matched: 'gpt-4o-mini' });
    expect(table.resolvePrice('house-model')).toMatchObject({ source: 'override', matched: 'house-' });
    // Replacing it as a prefix (the default) extends it to longer names again.
    table.setOverride('gpt-4o', { inputPerMTok: 1, outputPerMTok: 1 });
    expect(table.resolvePrice('gpt-4o-mini')).toMatchObject({ source: 'override', matched: 'gpt-4o' });
    expect(validationError(() => table.setOverride('x', { inputPerMTok: 1, outputPerMTok: 1 }, { prefix: 'no' as never })).field).toBe('prefix');
  });

  it('removing an override restores the catalog price', () => {
    const table = new PriceTable();
    table.setOverride('o3', { inputPerMTok: 100, outputPerMTok: 100 });
    expect(table.estimateCost('o3', usage(M, 0))).toBe(100);
    expect(table.removeOverride('o3')).toBe(true);
    expect(table.removeOverride('o3')).toBe(false);
    expect(table.estimateCost('o3', usage(M, 0))).toBe(2);
  });

  it('matches names case-insensitively and ignores surrounding spaces', () => {
    const table = new PriceTable();
    expect(table.estimateCost('GPT-4o', usage(M, M))).toBe(12.5);
    expect(table.estimateCost(' Grok-4.1 ', usage(M, M))).toBe(18);
  });

  it('never guesses: unknown names, near misses and unrelated prefixes have no price', () => {
    const table = new PriceTable();
    for (const model of ['unknown-model', 'gpt', 'grok', 'claude-opus', 'my-llm']) {
      expect(table.resolvePrice(model), model).toBeUndefined();
      expect(table.estimateCost(model, usage(10, 10)), model).toBeUndefined();
    }
  });
});

describe('catalog coverage', () => {
  it.each([
    ['claude-3-5-haiku', 0.8, 4, 'anthropic'],
    ['claude-3-5-haiku-20241022', 0.8, 4, 'anthropic'],
    ['gpt-4.1', 2, 8, 'openai'],
    ['o3', 2, 8, 'openai'],
    ['gemini-2.5-flash', 0.3, 2.5, 'google'],
    ['mistral-large-latest', 2, 6, 'mistral'],
    ['grok-4', 3, 15, 'x-ai'],
  ])('%s is priced by the catalog', (model, input, output, provider) => {
    expect(resolvePrice(model)).toMatchObject({ source: 'catalog', inputPerMTok: input, outputPerMTok: output, provider });
  });

  it('accepts provider/model names, using the provider as a hint', () => {
    expect(resolvePrice('openai/gpt-4o')).toMatchObject({ source: 'catalog', matched: 'gpt-4o', provider: 'openai' });
    expect(resolvePrice('perplexity/sonar')).toMatchObject({ source: 'catalog', provider: 'perplexity' });
    // Hosting providers' models are found only with the provider named.
    expect(resolvePrice('llama-3.3-70b-versatile')).toBeUndefined();
    expect(resolvePrice('groq/llama-3.3-70b-versatile')).toMatchObject({ source: 'catalog', provider: 'groq' });
  });

  // Our integer arithmetic must agree with the catalog's own calculator.
  it.each([
    ['gpt-4o', 12_345, 678, 4_000, 0],
    ['claude-sonnet-4', 50_000, 2_000, 30_000, 10_000],
    ['claude-3-5-haiku', 9_999, 1, 0, 9_999],
    ['o3', 1_000, 5_000, 500, 0],
    ['gemini-2.5-pro', 150_000, 1_000, 20_000, 0],
    ['gemini-2.5-pro', 250_000, 1_000, 20_000, 0],
    ['claude-sonnet-4-5', 250_001, 3_000, 100_000, 50_000],
  ])('%s: %i prompt / %i completion / %i cached / %i cache-write matches calcPrice', (model, p, c, cached, write) => {
    const ours = estimateCost(model, { promptTokens: p, completionTokens: c, cachedPromptTokens: cached, cacheWriteTokens: write });
    const theirs = calcPrice(
      { input_tokens: p, output_tokens: c, cache_read_tokens: cached, cache_write_tokens: write },
      model,
    )!.total_price;
    expect(ours).toBeCloseTo(theirs, 9);
  });

  it('applies long-prompt tiers above the threshold only', () => {
    const price = resolvePrice('gemini-2.5-pro')!;
    expect(price.inputPerMTok).toBe(1.25);
    expect(price.tiers).toEqual([
      { aboveInputTokens: 200_000, inputPerMTok: 2.5, outputPerMTok: 15, cachedInputPerMTok: 0.25 },
    ]);
    expect(estimateCostNanos('gemini-2.5-pro', usage(200_000, 0))).toBe(250_000_000);
    expect(estimateCostNanos('gemini-2.5-pro', usage(200_001, 0))).toBe(500_002_500);
  });

  it('prices reasoning tokens at the catalog rate when it has one, and as output otherwise', () => {
    const deep = { promptTokens: M, completionTokens: M, reasoningTokens: 600_000 };
    const theirs = calcPrice(
      { input_tokens: M, output_tokens: M, output_reasoning_tokens: 600_000 },
      'sonar-deep-research',
      { providerId: 'perplexity' },
    )!.total_price;
    expect(estimateCost('perplexity/sonar-deep-research', deep)).toBeCloseTo(theirs, 9);
    expect(estimateCost('perplexity/sonar-deep-research', deep)).toBe(7);
    expect(estimateCost('o3', { promptTokens: 0, completionTokens: 1000, reasoningTokens: 800 })).toBe(
      estimateCost('o3', usage(0, 1000)),
    );
  });

  it('adds per-request fees the catalog states', () => {
    expect(resolvePrice('perplexity/sonar')?.perThousandRequests).toBe(12);
    expect(estimateCost('perplexity/sonar', usage(M, M))).toBe(2.012);
  });

  it('picks time-of-day prices with the injected clock or the usage timestamp', () => {
    const peak = Date.parse('2025-06-01T12:00:00Z');
    const offPeak = Date.parse('2025-06-01T20:00:00Z');
    let now = peak;
    const table = new PriceTable({ now: () => now });
    expect(table.estimateCost('deepseek-chat', usage(M, M))).toBe(1.37);
    expect(table.resolvePrice('deepseek-chat')).toMatchObject({ inputPerMTok: 0.27, variesByTime: true });
    now = offPeak;
    expect(table.estimateCost('deepseek-chat', usage(M, M))).toBe(0.685);
    expect(table.estimateCost('deepseek-chat', { ...usage(M, M), timestamp: peak })).toBe(1.37);
    for (const at of [peak, offPeak]) {
      const theirs = calcPrice({ input_tokens: M, output_tokens: M }, 'deepseek-chat', { timestamp: new Date(at) });
      expect(table.estimateCost('deepseek-chat', { ...usage(M, M), timestamp: at })).toBeCloseTo(theirs!.total_price, 9);
    }
  });
});

describe('cache pricing', () => {
  it('prices cache reads and writes at the catalog cache rates (subsets of the prompt)', () => {
    // claude-sonnet-4: $3 input, $0.30 cache read, $3.75 cache write per 1M.
    const nanos = estimateCostNanos('claude-sonnet-4', {
      promptTokens: M,
      completionTokens: 0,
      cachedPromptTokens: 400_000,
      cacheWriteTokens: 100_000,
    });
    expect(nanos).toBe(1_500_000_000 + 120_000_000 + 375_000_000);
    expect(resolvePrice('claude-sonnet-4')).toMatchObject({ cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 });
  });

  it('prices cached tokens as input when the price has no cache rate', () => {
    const table = new PriceTable({ overrides: { plain: { inputPerMTok: 4, outputPerMTok: 8 } } });
    expect(table.estimateCost('plain', { promptTokens: M, completionTokens: 0, cachedPromptTokens: M })).toBe(4);
    expect(table.resolvePrice('plain')?.cachedInputPerMTok).toBeUndefined();
  });

  it('uses override cache and reasoning rates', () => {
    const table = new PriceTable({
      overrides: {
        mine: { inputPerMTok: 4, outputPerMTok: 8, cachedInputPerMTok: 1, cacheWritePerMTok: 5, reasoningPerMTok: 2 },
      },
    });
    const nanos = table.estimateCostNanos('mine', {
      promptTokens: 3 * M,
      completionTokens: 2 * M,
      cachedPromptTokens: M,
      cacheWriteTokens: M,
      reasoningTokens: M,
    });
    expect(nanos).toBe((4 + 1 + 5 + 8 + 2) * 1e9);
  });
});

describe('exact nano-USD arithmetic', () => {
  it('rounds half-up once per call, not per term', () => {
    const table = new PriceTable({ overrides: { tiny: { inputPerMTok: 0.0004, outputPerMTok: 0.0004 } } });
    expect(table.estimateCostNanos('tiny', usage(1, 0))).toBe(0); // 0.4 nano
    expect(table.estimateCostNanos('tiny', usage(1, 1))).toBe(1); // 0.8 nano
    const half = new PriceTable({ overrides: { half: { inputPerMTok: 0.0005, outputPerMTok: 0 } } });
    expect(half.estimateCostNanos('half', usage(1, 0))).toBe(1); // 0.5 → 1
    expect(half.estimateCostNanos('half', usage(3, 0))).toBe(2); // 1.5 → 2
  });

  it('sums many small calls without float drift', () => {
    let nanos = 0;
    for (let i = 0; i < 10_000; i++) nanos += estimateCostNanos('gpt-4o-mini', usage(7, 3))!;
    expect(nanos).toBe(10_000 * (7 * 150 + 3 * 600));
  });

  it('agrees with a BigInt reference on either side of 2^53 pico-USD', () => {
    let seed = 12345;
    const rand = (max: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * max);
    };
    for (let i = 0; i < 2000; i++) {
      const rates: Rates = {
        input: rand(600_000_000),
        output: rand(600_000_000),
        cacheRead: rand(100_000_000),
        cacheWrite: rand(100_000_000),
        reasoning: rand(600_000_000),
        request: i % 7 === 0 ? rand(20_000_000_000) : 0,
        hasCacheRead: true,
        hasCacheWrite: true,
        hasReasoning: true,
      };
      const scale = [1_000, 1_000_000, 30_000_000, 10_000_000_000][i % 4]!;
      const prompt = rand(scale);
      const cached = rand(prompt + 1);
      const write = rand(prompt - cached + 1);
      const completion = rand(scale);
      const reasoning = rand(completion + 1);
      const pico =
        BigInt(prompt - cached - write) * BigInt(rates.input) +
        BigInt(cached) * BigInt(rates.cacheRead) +
        BigInt(write) * BigInt(rates.cacheWrite) +
        BigInt(completion - reasoning) * BigInt(rates.output) +
        BigInt(reasoning) * BigInt(rates.reasoning) +
        BigInt(rates.request);
      const expected = Number((pico + 500n) / 1000n);
      expect(costNanos(rates, prompt, completion, cached, write, reasoning)).toBe(expected);
    }
  });

  it('is exact at the largest safe pico-USD totals', () => {
    const unit: Rates = {
      input: 1,
      output: 0,
      cacheRead: 1,
      cacheWrite: 1,
      reasoning: 0,
      request: 0,
      hasCacheRead: false,
      hasCacheWrite: false,
      hasReasoning: false,
    };
    for (const pico of [9_007_199_254_740_991, 9_007_199_254_740_499, 9_007_199_254_740_500, 9_007_199_254_739_999]) {
      expect(costNanos(unit, pico, 0, 0, 0, 0)).toBe(Number((BigInt(pico) + 500n) / 1000n));
    }
  });

  it('handles totals beyond 2^53 pico-USD', () => {
    expect(estimateCostNanos('o1-pro', usage(1e10, 0))).toBe(1_500_000_000_000_000);
    expect(estimateCost('o1-pro', usage(1e10, 0))).toBe(1_500_000);
  });

  it('refuses a cost beyond 2^53 nano-USD instead of rounding it (issue 11, finding 4)', () => {
    expect(() => estimateCostNanos('o1-pro', usage(1e12, 0))).toThrow(/costNanos: the cost of this usage must be at most 2\^53 - 1 nano-USD/);
    expect(() => estimateCost('o1-pro', usage(1e12, 0))).toThrow(ValidationError);
  });
});

describe('validation', () => {
  it.each([
    ['promptTokens', { promptTokens: -1, completionTokens: 0 }],
    ['promptTokens', { promptTokens: NaN, completionTokens: 0 }],
    ['promptTokens', { promptTokens: 1.5, completionTokens: 0 }],
    ['completionTokens', { promptTokens: 0, completionTokens: Infinity }],
    ['completionTokens', { promptTokens: 0, completionTokens: '5' }],
    ['cachedPromptTokens', { promptTokens: 10, completionTokens: 0, cachedPromptTokens: -2 }],
    ['cacheWriteTokens', { promptTokens: 10, completionTokens: 0, cacheWriteTokens: 0.5 }],
    ['reasoningTokens', { promptTokens: 0, completionTokens: 10, reasoningTokens: NaN }],
    ['cachedPromptTokens', { promptTokens: 10, completionTokens: 0, cachedPromptTokens: 6, cacheWriteTokens: 5 }],
    ['reasoningTokens', { promptTokens: 0, completionTokens: 10, reasoningTokens: 11 }],
  ])('rejects a bad %s, naming it', (field, bad) => {
    const err = validationError(() => estimateCost('gpt-4o', bad as never));
    expect(err.field).toBe(field);
    expect(err.message).toContain(field);
    expect(err.code).toBe('INVALID_ARGUMENT');
  });

  it('validates token counts even for unknown models', () => {
    expect(validationError(() => estimateCost('unknown-model', usage(-5, 0))).field).toBe('promptTokens');
  });

  it('rejects a non-string or empty model name', () => {
    expect(validationError(() => estimateCost('', usage(1, 1))).field).toBe('model');
    expect(validationError(() => estimateCost(42 as never, usage(1, 1))).field).toBe('model');
  });

  it.each([
    ['inputPerMTok', { inputPerMTok: -1, outputPerMTok: 1 }],
    ['outputPerMTok', { inputPerMTok: 1, outputPerMTok: 'ten' }],
    ['outputPerMTok', { inputPerMTok: 1, outputPerMTok: NaN }],
    ['cachedInputPerMTok', { inputPerMTok: 1, outputPerMTok: 1, cachedInputPerMTok: -0.1 }],
    ['reasoningPerMTok', { inputPerMTok: 1, outputPerMTok: 1, reasoningPerMTok: Infinity }],
    ['outputPerMTok', { inputPerMTok: 1 }],
    ['input', { input: 1, inputPerMTok: 1, outputPerMTok: 1 }],
  ])('rejects an override with a bad %s, naming the field', (field, price) => {
    const err = validationError(() => new PriceTable({ overrides: { 'my-model': price as never } }));
    expect(err.field).toBe(`overrides["my-model"].${field}`);
    expect(err.message).toContain(field);
  });

  it('rejects bad options', () => {
    expect(validationError(() => new PriceTable({ cacheSize: 0 })).field).toBe('cacheSize');
    expect(validationError(() => new PriceTable().resolvePrice('deepseek-chat', NaN)).field).toBe('atMs');
    expect(
      validationError(() => estimateCost('deepseek-chat', { promptTokens: 1, completionTokens: 1, timestamp: 'now' as never }))
        .field,
    ).toBe('timestamp');
    expect(validationError(() => new PriceTable({ catalog: 'yes' as never })).field).toBe('catalog');
    expect(validationError(() => new PriceTable({ overrides: [] as never })).field).toBe('overrides');
    expect(validationError(() => new PriceTable().setOverride('  ', { inputPerMTok: 1, outputPerMTok: 1 })).field).toBe(
      'model',
    );
  });
});

describe('resolution cache', () => {
  it('stays within its bound and keeps answering correctly after evictions', () => {
    const table = new PriceTable({ cacheSize: 3 });
    for (let i = 0; i < 50; i++) {
      expect(table.estimateCost(`no-such-model-${i}`, usage(1, 1))).toBeUndefined();
      expect(table.cachedModels).toBeLessThanOrEqual(3);
    }
    expect(table.estimateCost('gpt-4o', usage(M, M))).toBe(12.5);
    expect(table.estimateCost('grok-4.1', usage(M, M))).toBe(18);
    expect(table.cachedModels).toBe(3);
  });

  it('is invalidated by setOverride', () => {
    const table = new PriceTable();
    expect(table.estimateCost('gpt-4o', usage(M, 0))).toBe(2.5);
    table.setOverride('gpt-4o', { inputPerMTok: 1, outputPerMTok: 1 });
    expect(table.estimateCost('gpt-4o', usage(M, 0))).toBe(1);
  });
});

describe('global accessors', () => {
  afterEach(() => resetPrices());

  it('configurePrices installs overrides used by estimateCost; resetPrices drops them', () => {
    const table = configurePrices({ overrides: { 'gpt-4o': { inputPerMTok: 1, outputPerMTok: 1 } } });
    expect(getPriceTable()).toBe(table);
    expect(estimateCost('gpt-4o', usage(M, M))).toBe(2);
    resetPrices();
    expect(getPriceTable()).not.toBe(table);
    expect(estimateCost('gpt-4o', usage(M, M))).toBe(12.5);
  });

  it('a rejected configuration leaves the current table in place', () => {
    const table = configurePrices({ overrides: { mine: { inputPerMTok: 1, outputPerMTok: 1 } } });
    expect(() => configurePrices({ overrides: { bad: { inputPerMTok: -1, outputPerMTok: 1 } } })).toThrow(
      ValidationError,
    );
    expect(getPriceTable()).toBe(table);
    expect(estimateCost('mine', usage(M, 0))).toBe(1);
  });

  it('getPriceTable().setOverride changes global estimates', () => {
    getPriceTable().setOverride('house-model', { inputPerMTok: 0.5, outputPerMTok: 1 });
    expect(estimateCost('house-model', usage(M, M))).toBe(1.5);
    expect(resolvePrice('house-model')?.source).toBe('override');
  });
});
