import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { priceTableOf } from '../../src/server/build-runtime.js';
import { InvalidConfigError } from '../../src/server/config-problems.js';
import { loadConfig } from '../../src/server/load-config.js';
import { validateConfig } from '../../src/server/validate-config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tw-prices-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The problems `loadConfig` reports for `yaml`, as `path: problem (line N)` strings. */
async function problemsOf(yaml: string): Promise<Array<{ path: string; problem: string; line?: number }>> {
  const file = join(dir, `bad-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, yaml);
  const err = await loadConfig({ file, env: {} }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidConfigError);
  return [...(err as InvalidConfigError).problems];
}

describe('config: prices', () => {
  it('reads names and "prefix-*" keys into prices per 1M tokens', () => {
    const r = validateConfig({
      prices: {
        'my-llama-*': { input: 0.2, output: 0.6 },
        'GPT-4o': { input: 2, output: 8, cache_read: 1, cache_write: 2.5 },
        free: { input: 0, output: 0 },
      },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.prices).toEqual([
      { key: 'my-llama-*', model: 'my-llama-', prefix: true, price: { inputPerMTok: 0.2, outputPerMTok: 0.6 } },
      { key: 'GPT-4o', model: 'gpt-4o', prefix: false, price: { inputPerMTok: 2, outputPerMTok: 8, cachedInputPerMTok: 1, cacheWritePerMTok: 2.5 } },
      { key: 'free', model: 'free', prefix: false, price: { inputPerMTok: 0, outputPerMTok: 0 } },
    ]);
  });

  it('has no prices without the section', () => {
    const r = validateConfig({});
    expect(r.ok && r.config.prices).toEqual([]);
  });

  it('reports every bad entry with its path and line', async () => {
    const problems = await problemsOf(`server: { port: 4000 }
prices:
  my-model: { input: 1 }
  neg: { input: -1, output: 2 }
  word: { input: 1, output: "cheap" }
  typo: { input: 1, output: 2, cache_reads: 1 }
  inf: { input: .inf, output: 1 }
  "*": { input: 1, output: 1 }
  "a*b": { input: 1, output: 1 }
  nothing:
`);
    const lines = problems.map((p) => `${p.path}: ${p.problem} (line ${p.line})`);
    expect(lines).toEqual(
      expect.arrayContaining([
        'prices.typo.cache_reads: unknown key (did you mean "cache_read"?); allowed: input, output, cache_read, cache_write (line 6)',
        'prices["my-model"].output: must be a finite number >= 0 (USD per 1M tokens) (got undefined) (line 3)',
        'prices.neg.input: must be a finite number >= 0 (USD per 1M tokens) (got -1) (line 4)',
        'prices.word.output: must be a finite number >= 0 (USD per 1M tokens) (got "cheap") (line 5)',
        'prices.inf.input: must be a finite number >= 0 (USD per 1M tokens) (got Infinity) (line 7)',
        'prices["*"]: must name a model, or a prefix followed by "*" (a bare "*" would price every model) (line 8)',
        'prices["a*b"]: a key may hold "*" only at its end (a prefix, like "my-llama-*") (line 9)',
        'prices.nothing: must be a mapping { input, output, cache_read, cache_write } (got null) (line 10)',
      ]),
    );
    expect(problems).toHaveLength(8);
  });

  it('refuses two keys that price the same name or prefix', async () => {
    const problems = await problemsOf(`prices:
  my-model: { input: 1, output: 2 }
  My-Model: { input: 3, output: 4 }
  house-*: { input: 1, output: 2 }
  house-: { input: 1, output: 2 }
`);
    expect(problems.map((p) => [p.path, p.line])).toEqual([
      ['prices["My-Model"]', 3],
      ['prices["house-"]', 5],
    ]);
    expect(problems[0]!.problem).toContain('prices the same name as prices["my-model"]');
  });

  it('reports a section that is not a mapping', async () => {
    const problems = await problemsOf('prices: [1, 2]\n');
    expect(problems).toEqual([
      { path: 'prices', problem: expect.stringContaining('must be a mapping of model name (or "prefix-*")') as unknown, line: 1 },
    ]);
  });
});

describe('priceTableOf', () => {
  const r = validateConfig({
    prices: {
      'my-llama-*': { input: 0.2, output: 0.6 },
      'my-llama-3-70b*': { input: 0.9, output: 0.9 },
      'gpt-4o': { input: 2, output: 8, cache_read: 1 },
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const table = priceTableOf(r.config.prices);

  it('prices a prefix key for every name starting with it, the longest prefix winning', () => {
    expect(table.resolvePrice('my-llama-3-8b')).toMatchObject({ source: 'override', matched: 'my-llama-', inputPerMTok: 0.2, outputPerMTok: 0.6 });
    expect(table.resolvePrice('My-Llama-3-70B-instruct')).toMatchObject({ source: 'override', matched: 'my-llama-3-70b', inputPerMTok: 0.9 });
    expect(table.resolvePrice('my-llama')).toBeUndefined(); // shorter than the prefix
  });

  it('prices an exact key over the catalog for that name only', () => {
    expect(table.resolvePrice('gpt-4o')).toMatchObject({ source: 'override', inputPerMTok: 2, outputPerMTok: 8, cachedInputPerMTok: 1 });
    expect(table.estimateCostNanos('gpt-4o', { promptTokens: 1_000_000, completionTokens: 1_000_000, cachedPromptTokens: 500_000 })).toBe(9_500_000_000);
    expect(table.resolvePrice('gpt-4o-mini')).toMatchObject({ source: 'catalog', matched: 'gpt-4o-mini' });
  });
});
