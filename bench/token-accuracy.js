// How close the cheap token estimate comes to real BPE counts (gpt-tokenizer), per kind of text.
// Corpus: test/tokens/fixtures (hand-written texts in 12 categories, generated JSON, and seeded
// word-aligned slices of 12+ characters), plus held-out text the estimator was not tuned on
// (READMEs and JavaScript from installed packages), plus whole chats against the chat format.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { countTokens as countCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { encodeChat as encodeChatGpt4 } from 'gpt-tokenizer/model/gpt-4';
import { encodeChat as encodeChatGpt4o } from 'gpt-tokenizer/model/gpt-4o';
import { estimateTextTokens, estimateTokens } from '../dist/tokens/estimate.js';
import { buildChats, buildCorpus, measure } from '../test/tokens/fixtures/build-corpus.js';
import { fmt, heading } from './lib.js';

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
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
