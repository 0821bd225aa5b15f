import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encodeChat as encodeChatGpt4 } from 'gpt-tokenizer/model/gpt-4';
import { encodeChat as encodeChatGpt4o } from 'gpt-tokenizer/model/gpt-4o';
import { describe, expect, it } from 'vitest';
import { estimateTextTokens, estimateTokens } from '../../src/tokens/estimate.js';
import type { ChatMessage } from '../../src/core/types.js';
import { buildAdversarialCorpus, fuzzStrings } from './fixtures/adversarial.js';

// The estimate is the prompt part of a budget reservation: it must never count below the real
// tokenizer, whatever the text. Special-token look-alikes ("<|endoftext|>") are plain text to the API.
const PLAIN = { disallowedSpecial: new Set<string>() };
const cl100k = (text: string) => encodeCl100k(text, PLAIN).length;
const o200k = (text: string) => encodeO200k(text, PLAIN).length;
const chatGpt4 = (messages: ChatMessage[]) => encodeChatGpt4(messages as never, undefined, PLAIN).length;
const chatGpt4o = (messages: ChatMessage[]) => encodeChatGpt4o(messages as never, undefined, PLAIN).length;

const corpus = buildAdversarialCorpus();
const FUZZ_COUNT = 3000;

function show(text: string): string {
  const escaped = JSON.stringify(text.slice(0, 80)).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `${escaped} (${text.length} chars)`;
}

/** Texts whose estimate is below the real count, with both figures, for a readable failure. */
function underCounted(texts: string[]): string[] {
  const out: string[] = [];
  for (const text of texts) {
    const realCl = cl100k(text);
    const realO = o200k(text);
    const conservative = estimateTextTokens(text, 'conservative');
    const tight = estimateTextTokens(text, 'o200k');
    if (conservative < Math.max(realCl, realO)) out.push(`conservative ${conservative} < ${Math.max(realCl, realO)}: ${show(text)}`);
    if (tight < realO) out.push(`o200k ${tight} < ${realO}: ${show(text)}`);
  }
  return out;
}

function chatUnderCounted(texts: string[]): string[] {
  const out: string[] = [];
  for (const text of texts) {
    const messages: ChatMessage[] = [
      { role: 'system', content: text.slice(0, 40) },
      { role: 'user', content: text },
    ];
    const gpt4 = estimateTokens(messages, { model: 'gpt-4' });
    const gpt4o = estimateTokens(messages, { model: 'gpt-4o' });
    if (gpt4 < chatGpt4(messages)) out.push(`gpt-4 chat ${gpt4} < ${chatGpt4(messages)}: ${show(text)}`);
    if (gpt4o < chatGpt4o(messages)) out.push(`gpt-4o chat ${gpt4o} < ${chatGpt4o(messages)}: ${show(text)}`);
  }
  return out;
}

describe('token estimate on adversarial text', () => {
  it('the corpus is deterministic and covers every kind of hostile text', () => {
    expect(buildAdversarialCorpus()).toEqual(corpus);
    const categories = new Set(corpus.map((c) => c.category));
    for (const c of ['whitespace', 'punctuation', 'crlf', 'zalgo', 'scripts', 'emoji', 'base64', 'hex', 'digits',
      'minified', 'url', 'bytes', 'surrogates', 'long-word', 'random-words']) {
      expect(categories.has(c), c).toBe(true);
    }
    expect(corpus.some((c) => c.text === ' \n\t '.repeat(500))).toBe(true);
  });

  it('never counts below cl100k_base or o200k_base on any corpus text', () => {
    expect(underCounted(corpus.map((c) => c.text))).toEqual([]);
  });

  it('never counts below the chat encoding of gpt-4 and gpt-4o with corpus texts as messages', () => {
    expect(chatUnderCounted(corpus.map((c) => c.text))).toEqual([]);
  });

  it(`never counts below either encoding on ${FUZZ_COUNT} seeded fuzz strings`, () => {
    const texts = fuzzStrings(20261130, FUZZ_COUNT, corpus.map((c) => c.text));
    expect(fuzzStrings(20261130, FUZZ_COUNT, corpus.map((c) => c.text))).toEqual(texts);
    expect(underCounted(texts)).toEqual([]);
    expect(chatUnderCounted(texts.filter((_, i) => i % 5 === 0))).toEqual([]);
  });

  it('is never above the UTF-8 byte length, the hard ceiling of a byte-level BPE', () => {
    for (const { text } of corpus) {
      expect(estimateTextTokens(text), show(text)).toBeLessThanOrEqual(Buffer.byteLength(text));
    }
  });
});
