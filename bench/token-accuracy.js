// How close the cheap token estimate comes to real BPE counts (gpt-tokenizer), per kind of text.
// Corpus: test/tokens/fixtures (hand-written texts in 12 categories, generated JSON, and seeded
// word-aligned slices of 12+ characters), plus held-out text the estimator was not tuned on
// (READMEs and JavaScript from installed packages), plus whole chats against the chat format, plus the
// adversarial corpus and seeded fuzz strings (where the estimate must never be below the real count).
// Then speed: estimate throughput on 4 MiB prompts beside Buffer.byteLength and gpt-tokenizer.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { countTokens as countCl100k, encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as countO200k, encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encodeChat as encodeChatGpt4 } from 'gpt-tokenizer/model/gpt-4';
import { encodeChat as encodeChatGpt4o } from 'gpt-tokenizer/model/gpt-4o';
import { estimateTextTokens, estimateTokens } from '../dist/tokens/estimate.js';
import { buildAdversarialCorpus, fuzzStrings } from '../test/tokens/fixtures/adversarial.js';
import { buildChats, buildCorpus, measure } from '../test/tokens/fixtures/build-corpus.js';
import { fmt, heading, percentile } from './lib.js';

const PLAIN = { disallowedSpecial: new Set() }; // "<|endoftext|>" in a prompt is text to the API
const realCl100k = (text) => encodeCl100k(text, PLAIN).length;
const realO200k = (text) => encodeO200k(text, PLAIN).length;

const HELD_OUT = {
  'held-out docs': ['ajv', 'better-sqlite3', 'chai', 'debug', 'ioredis', 'pg', 'zod', 'yaml', 'undici', 'vitest'].map(
    (p) => `node_modules/${p}/README.md`,
  ),
  'held-out code': [
    'node_modules/ioredis/built/Command.js',
    'node_modules/yaml/dist/errors.js',
    'node_modules/yaml/dist/index.js',
    'node_modules/pg/lib/client.js',
    'node_modules/debug/src/common.js',
  ],
};

function heldOut() {
  let seed = 7;
  const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const samples = [];
  for (const [category, files] of Object.entries(HELD_OUT)) {
    for (const file of files) {
      let text;
      try {
        text = readFileSync(fileURLToPath(import.meta.resolve(`../${file}`)), 'utf8');
      } catch {
        continue;
      }
      for (let k = 0; k < 40; k++) {
        const len = Math.round(Math.exp(Math.log(12) + rand() * Math.log(Math.min(text.length, 4000) / 12)));
        let start = Math.floor(rand() * (text.length - len));
        let end = start + len;
        while (start > 0 && !/\s/.test(text[start - 1])) start--;
        while (end < text.length && !/\s/.test(text[end])) end++;
        samples.push({ category, text: text.slice(start, end) });
      }
    }
  }
  return samples;
}

function table(title, stats) {
  console.log(`\n  ${title}`);
  console.log(`  ${'category'.padEnd(15)}${'samples'.padStart(8)}${'mean est/actual'.padStart(17)}` +
    `${'total est/actual'.padStart(18)}${'under-counted'.padStart(15)}${'worst under'.padStart(13)}`);
  for (const [name, s] of Object.entries(stats).sort(([a], [b]) => (a === 'ALL') - (b === 'ALL'))) {
    console.log(`  ${name.padEnd(15)}${String(s.n).padStart(8)}${fmt(s.meanRatio, 2).padStart(17)}` +
      `${fmt(s.aggregateRatio, 2).padStart(18)}${(fmt(100 * s.underShare, 1) + ' %').padStart(15)}` +
      `${(s.underShare ? fmt(s.worstRatio, 2) : '-').padStart(13)}`);
  }
}

function ratios(samples, estimate, count) {
  const values = [];
  for (const { text } of samples) {
    const real = count(text);
    if (real > 0) values.push(estimate(text) / real);
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { mean, p95: percentile(values, 95), min: Math.min(...values), under: values.filter((r) => r < 1).length };
}

function summary(title, samples) {
  console.log(`\n  ${title}`);
  for (const [label, profile, count] of [
    ['cl100k_base / conservative', 'conservative', realCl100k],
    ['o200k_base / o200k', 'o200k', realO200k],
  ]) {
    const r = ratios(samples, (text) => estimateTextTokens(text, profile), count);
    console.log(`  ${label.padEnd(28)} samples ${samples.length}  mean ${fmt(r.mean, 2)}  p95 ${fmt(r.p95, 2)}` +
      `  lowest ${fmt(r.min, 2)}  under-counted ${r.under}`);
  }
}

/** `size` UTF-16 units of `texts` joined by newlines, as one flat string. */
function fill(texts, size) {
  const parts = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const text = texts[i % texts.length];
    parts.push(text);
    length += text.length + 1;
  }
  return Buffer.from(parts.join('\n').slice(0, size)).toString();
}

function medianMs(fn, runs = 5) {
  fn();
  const times = [];
  for (let k = 0; k < runs; k++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return percentile(times, 50);
}

async function speed() {
  heading('token estimate speed on 4 MiB prompts (median of 5; baseline: Buffer.byteLength, gpt-tokenizer)');
  const size = 4 << 20;
  const typical = fill(buildCorpus({ slicesPerText: 0 }).map((s) => s.text), size);
  const adversarial = fill(buildAdversarialCorpus().map((s) => s.text), size);
  const mib = size / (1 << 20);
  for (const [name, text] of [['typical (corpus texts)', typical], ['adversarial (corpus texts)', adversarial]]) {
    const estimateMs = medianMs(() => estimateTextTokens(text, 'o200k'));
    const precise = text.slice(0, 1 << 20); // up to PRECISE_LIMIT every character goes through the scanner
    const preciseMs = medianMs(() => estimateTextTokens(precise, 'o200k'));
    const bytesMs = medianMs(() => Buffer.byteLength(text));
    const slice = text.slice(0, 256 << 10); // gpt-tokenizer on 256 KiB keeps the bench short
    const bpeMs = (medianMs(() => countO200k(slice, PLAIN), 3) * size) / slice.length;
    const realSlice = realO200k(slice);
    console.log(`\n  ${name}`);
    console.log(`  estimateTextTokens (o200k)  ${fmt(estimateMs, 1).padStart(8)} ms per 4 MiB  ${fmt(mib / (estimateMs / 1000)).padStart(6)} MiB/s`);
    console.log(`  ... its first 1 MiB alone   ${fmt(preciseMs, 1).padStart(8)} ms per 1 MiB  ${fmt(1 / (preciseMs / 1000)).padStart(6)} MiB/s` +
      '  (the scanner; past 1 Mi characters the rest is counted by bytes)');
    console.log(`  Buffer.byteLength           ${fmt(bytesMs, 1).padStart(8)} ms per 4 MiB  ${fmt(mib / (bytesMs / 1000)).padStart(6)} MiB/s` +
      `  (estimate ${fmt(estimateMs / bytesMs, 1)}x its time)`);
    console.log(`  gpt-tokenizer countTokens   ${fmt(bpeMs, 1).padStart(8)} ms per 4 MiB  ${fmt(mib / (bpeMs / 1000)).padStart(6)} MiB/s` +
      `  (estimate ${fmt(bpeMs / estimateMs, 1)}x faster)`);
    console.log(`  first 256 KiB vs o200k_base: estimate/real ${fmt(estimateTextTokens(slice, 'o200k') / realSlice, 2)},` +
      ` bytes/real ${fmt(Buffer.byteLength(slice) / realSlice, 2)}`);
  }
}

export async function run() {
  heading('token estimate accuracy (estimateTextTokens vs gpt-tokenizer)');
  const samples = [...buildCorpus(), ...heldOut()];
  const runs = [
    ['cl100k_base, conservative profile (default for unknown models)', 'conservative', countCl100k],
    ['o200k_base, o200k profile (GPT-4o, 4.1, 5, o-series)', 'o200k', countO200k],
    ['o200k_base, conservative profile', 'conservative', countO200k],
  ];
  for (const [title, profile, count] of runs) {
    table(title, measure(samples, (text) => estimateTextTokens(text, profile), count));
  }
  const chats = buildChats(300);
  for (const [title, model, encode] of [
    ['gpt-4o chat format', 'gpt-4o', encodeChatGpt4o],
    ['gpt-4 chat format', 'gpt-4', encodeChatGpt4],
  ]) {
    const stats = measure(
      chats.map((c, i) => ({ category: 'chats', text: String(i) })),
      (i) => estimateTokens(chats[Number(i)].messages, { model }),
      (i) => encode(chats[Number(i)].messages).length,
    );
    table(`estimateTokens on 300 chats of 1-5 messages, ${title}`, { ALL: stats.ALL });
  }
  const adversarial = buildAdversarialCorpus();
  table('adversarial corpus, cl100k_base, conservative profile',
    measure(adversarial, (text) => estimateTextTokens(text, 'conservative'), realCl100k));
  table('adversarial corpus, o200k_base, o200k profile',
    measure(adversarial, (text) => estimateTextTokens(text, 'o200k'), realO200k));
  const fuzz = fuzzStrings(1, 5000, adversarial.map((c) => c.text)).map((text) => ({ category: 'fuzz', text }));
  summary('5000 seeded fuzz strings (estimate / real)', fuzz);
  summary('typical corpus (estimate / real)', buildCorpus());
  await speed();
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
