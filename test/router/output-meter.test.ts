/**
 * The stream cut counts tokens from below, so it never cuts an honest stream: on every kind of text the
 * meter's count stays at or under the real cl100k and o200k counts, delta by delta.
 */
import { countTokens as countCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { OutputMeter } from '../../src/router/output-meter.js';
import { prng as rng } from '../tokens/fixtures/adversarial.js';


const ALPHABET = [' ', '  ', '\n', '\t', '\r\n', 'a', 'Z', 'the', ' of', '9', '123456', '.', '...', '-', '_', '=', '{', '"', ':',
  '日本', '語', 'é', '\u0301', '😀', '👩‍👩‍👧', 'Привет', 'مرحبا', '\u00a0', '\u3000', 'aGVsbG8=', '    ', '\n\n\n', '/*', '=>'];

const SAMPLES = [
  'The quick brown fox jumps over the lazy dog. '.repeat(20),
  'function add(a, b) {\n    return a + b;\n}\n'.repeat(10),
  ' \n\t '.repeat(200),
  '='.repeat(500),
  ' '.repeat(1000) + 'x',
  '{"location":"Paris","unit":"celsius","days":[1,2,3]}'.repeat(8),
  '日本語のテキストです。'.repeat(30),
  '😀👍🏽👩‍👩‍👧'.repeat(30),
  'e\u0301'.repeat(200),
  'SGVsbG8gd29ybGQhIFRoaXMgaXMgYmFzZTY0Lg=='.repeat(10),
];

function check(text: string, pieces: string[]): void {
  const meter = new OutputMeter(1);
  for (const piece of pieces) meter.add(piece);
  expect(meter.text).toBe(text);
  const real = Math.min(countCl100k(text), countO200k(text));
  expect(meter.minimumTokens, JSON.stringify(text.slice(0, 60))).toBeLessThanOrEqual(real);
}

describe('OutputMeter', () => {
  it('never counts more tokens than the real tokenizers on typical and adversarial text', () => {
    for (const text of SAMPLES) check(text, text.match(/[\s\S]{1,7}/g) ?? []);
  });

  it('never counts more tokens than the real tokenizers on 300 random texts in random deltas', () => {
    const random = rng(11);
    for (let i = 0; i < 300; i++) {
      const pieces: string[] = [];
      const n = 1 + Math.floor(random() * 120);
      for (let j = 0; j < n; j++) pieces.push(ALPHABET[Math.floor(random() * ALPHABET.length)]!);
      check(pieces.join(''), pieces);
    }
  });

  it('cuts only past twice the cap plus 16', () => {
    const meter = new OutputMeter(20);
    meter.add('w '.repeat(56));
    expect(meter.pastCap).toBe(false);
    meter.add('w');
    expect(meter.pastCap).toBe(true);
  });
});
