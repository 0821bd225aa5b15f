import { countTokens as countCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encodeChat as encodeChatGpt4 } from 'gpt-tokenizer/model/gpt-4';
import { encodeChat as encodeChatGpt4o } from 'gpt-tokenizer/model/gpt-4o';
import { describe, expect, it } from 'vitest';
import { estimateTextTokens, estimateTokens, type TokenProfile } from '../../src/tokens/estimate.js';
import { buildChats, buildCorpus, measure, type AccuracyStats } from './fixtures/build-corpus.js';

// The estimate feeds budget reservations: it must not under-count a real BPE tokenizer (see
// adversarial.test.ts for hostile text), while staying close on typical text. Measured on a fixed corpus (English, code, JSON,
// CJK, Korean, Russian, Arabic, other scripts, emoji, numbers and ids) built deterministically.
const corpus = buildCorpus();

const cases: Array<[string, TokenProfile, (text: string) => number]> = [
  ['cl100k_base, conservative profile', 'conservative', countCl100k],
  ['o200k_base, conservative profile', 'conservative', countO200k],
  ['o200k_base, o200k profile', 'o200k', countO200k],
];

function describeStats(stats: Record<string, AccuracyStats>): string {
  return Object.entries(stats)
    .map(([k, s]) => `${k}: mean ${s.meanRatio.toFixed(2)} under ${(100 * s.underShare).toFixed(1)}%`)
    .join('; ');
}

describe('token estimate accuracy against gpt-tokenizer', () => {
  it('the corpus is deterministic and varied', () => {
    expect(buildCorpus()).toEqual(corpus);
    expect(corpus.length).toBeGreaterThan(1000);
    const categories = new Set(corpus.map((s) => s.category));
    for (const c of ['english', 'code', 'json', 'chinese', 'japanese', 'russian', 'arabic', 'emoji', 'numbers']) {
      expect(categories.has(c), c).toBe(true);
    }
  });

  it.each(cases)('%s: under-counts fewer than 3 in 100 samples overall and 6 in 100 in any category', (_, profile, count) => {
    const stats = measure(corpus, (text) => estimateTextTokens(text, profile), count);
    const detail = describeStats(stats);
    expect(stats.ALL!.underShare, detail).toBeLessThan(0.03);
    for (const [category, s] of Object.entries(stats)) {
      expect(s.underShare, `${category} — ${detail}`).toBeLessThan(0.06);
      expect(s.worstRatio, `${category} worst under-count`).toBeGreaterThanOrEqual(0.7);
    }
  });

  // English, code and JSON stay near 1.4x; other scripts cost more under o200k (it has whole-word
  // tokens the per-character and letter-pair tables cannot see), about 1.3-1.6x under cl100k.
  it('over-counts typical text moderately where the profile matches the encoding', () => {
    for (const [profile, count, overall] of [
      ['conservative', countCl100k, 1.5],
      ['o200k', countO200k, 1.75],
    ] as const) {
      const stats = measure(corpus, (text) => estimateTextTokens(text, profile), count);
      expect(stats.ALL!.meanRatio, describeStats(stats)).toBeLessThan(overall);
      expect(stats.english!.meanRatio).toBeLessThan(1.5);
      expect(stats.code!.meanRatio).toBeLessThan(1.55);
      expect(stats.json!.meanRatio).toBeLessThan(1.5);
      for (const cjk of ['chinese', 'japanese', 'korean']) expect(stats[cjk]!.meanRatio, cjk).toBeLessThan(2);
    }
  });

  it('chat estimates never under-count the chat format on the corpus chats', () => {
    const chats = buildChats(300);
    let under = 0;
    for (const { messages } of chats) {
      if (estimateTokens(messages, { model: 'gpt-4o' }) < encodeChatGpt4o(messages).length) under++;
      if (estimateTokens(messages, { model: 'gpt-4' }) < encodeChatGpt4(messages).length) under++;
    }
    expect(under / (2 * chats.length)).toBeLessThan(0.02);
  });
});
