import { Buffer } from 'node:buffer';
import { ValidationError } from '../core/errors.js';
import { COMMON_TRIPLES } from './trigrams.js';
import { CLASS_TABLE, LATIN, isLetterClass, profileTables, type ProfileTables, type TokenProfile } from './profile.js';

/*
 * A cheap upper bound of a text's BPE token count (cl100k_base / o200k_base): one pass, no vocabulary
 * (a few kilobytes of tables generated from it: letter triples, per-character costs, letter pairs).
 *
 * Why it bounds the real count rather than guessing it:
 * - Both encodings are byte-level BPE: every token covers at least one UTF-8 byte, so the byte length
 *   is a hard ceiling; the result is min(estimate, bytes).
 * - The text is split the way the GPT pre-tokenizer splits it (words, digit groups, whitespace runs,
 *   punctuation runs) and each piece is priced at or above what its worst kind costs: a change of
 *   whitespace or punctuation character a token, a repeat a share of one; a word of common English
 *   letter triples one token per 7 letters or so, a word with uncommon triples (random letters: about
 *   0.6 tokens per letter) more; a non-ASCII character what it costs on its own in the encoding
 *   (profile.ts), a pair of letters that is one token once. The sum is scaled by 1.1.
 * test/tokens/adversarial.test.ts and bench/token-accuracy.js check it against gpt-tokenizer on an
 * adversarial corpus and seeded fuzz (80,000 fuzz strings: 1 under-count, random mixed-case letters).
 *
 * ASCII words: one token up to 7 letters in English-looking text (stop words or code punctuation
 * present), 1 per 2.5 letters beyond; elsewhere 1 per 4 letters beyond 2. Every uncommon letter triple
 * costs RARE_TRIPLE more, a word with RANDOM_WORD of them at least RANDOM_PER a letter, and a text
 * with RANDOM_SHARE of them is priced as random letters. camelCase splits into words; runs mixing
 * letters and digits cost at least OPAQUE per character.
 */

/**
 * Texts longer than this many UTF-16 units (1 Mi, about 250k tokens of English) are estimated up to
 * here and bounded by their UTF-8 length beyond, so no estimate blocks the event loop for long.
 */
export const PRECISE_LIMIT = 1 << 20;
const SCALE = 1.1;
const LINE_START = 0.5; // a word with no space before it at the start of a line splits more often
const GLUED_PREFIX = 0.75; // a single punctuation mark glued to a word ("(foo", ".bar", "'s")
const CAPITAL_LONG = 0.5; // capitalised words of CAPITAL_MIN+ letters (names) split more
const CAPITAL_MIN = 8;
const EN_FREE = 7; // English-looking text: letters per word covered by its first token
const EN_PER = 2.5; // ... and letters per extra token beyond
const OTHER_FREE = 2; // other Latin-script text
const OTHER_PER = 4;
const LONG_WORD = 24; // letters of one sub-word beyond this cost LONG_PER each ('ab' x 2500 is 2,500 tokens)
const LONG_PER = 0.55;
const RARE_TRIPLE = 1; // a letter triple uncommon in English: a likely token boundary
const REPEAT = 0.4; // a letter equal to the one two before, after two such ("ababab")
const RANDOM_WORD = 2; // uncommon triples that make a word priced per letter
const RANDOM_SHARE = 0.3; // text with this share of uncommon triples is random letters (English: 2 %, random: 67 %) ...
const RANDOM_PER = 0.6; // ... priced per letter (random lowercase: about 0.55 tokens per letter)
const SHORT_SEGMENT = 0.7; // a camelCase part of 1-2 letters ("iPhone", or random "fmJiWrBt")
const CAPS_RUN = 0.15; // a capital after a capital (acronyms are short; long capital runs are random)
const STOP_SHARE = 0.15; // English-looking: >= 15 % of words are English stop words ...
const PUNCT_SHARE = 0.4; // ... or >= 0.4 punctuation runs per word (code, JSON) ...
const LATIN_SHARE = 100; // ... and at most one accented letter per this many ASCII letters
const OPAQUE = 0.75; // per character of runs mixing letters and digits (ids, hashes, base64: 0.65-0.78)
// Whitespace: a change of character costs a token; a repeat costs this share of one (' ' x 1000 is 9
// tokens, '\n' or '\t' x 1000 up to 63; '\r', '\v' and '\f' repeat as one token each).
const SPACE_REPEAT = 1 / 64;
const NEWLINE_TAB_REPEAT = 1 / 15;
// Punctuation: a repeated mark costs half a token ('`' x 1000 is 500), a common pair ("=>", "})")
// less, any other change a whole token (random punctuation is 0.7-1 token per character).
const PUNCT_REPEAT = 0.5;
const PUNCT_PAIR = 0.2;
const PUNCT_CHANGE = 0.8;
// A run of non-ASCII characters costs this much more: an isolated rare character can cost its bytes.
const NON_ASCII_RUN = 0.5;

/** Common pairs of ASCII punctuation marks (code, markup, JSON), as c1 * 128 + c2. */
const PUNCT_PAIRS = new Set(
  (
    '() {} [] => -> == != <= >= // /* */ :: :/ </ /> <! !- ); ), }, ], ", ": \', \') ") `) ?. ?? && || ' +
    '++ -- += -= *= /= ${ }) )) ]] [[ }; ]; "] \'] (" (\' [" [\' {" "} ([ ]) (( {{ }} .. ., .) ." .\' ,\' ," ' +
    '#! #[ @{ %> <% <= :" \'; "; ); ]] ?> <? ** *. .* _( )_ ${ }` `$ `, ,` .( (. "/ /" \'/ /\' ~/ #{ ={ =" =\''
  )
    .split(' ')
    .map((p) => p.charCodeAt(0) * 128 + p.charCodeAt(1)),
);

const START = 26; // the start of a word in a letter triple
/** COMMON_TRIPLES unpacked: one byte per triple, 1 when common. */
const COMMON = unpackTriples(COMMON_TRIPLES);

function unpackTriples(packed: string): Uint8Array {
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const out = new Uint8Array(27 * 27 * 27);
  for (let i = 0; i < out.length; i++) out[i] = (B64.indexOf(packed[(i / 6) | 0]!) >> (5 - (i % 6))) & 1;
  return out;
}

/** English stop words of up to 4 letters, packed 5 bits per letter. */
const STOP_WORDS = new Set(
  (
    'the of and to a in is it that for was on are with as be at by this have from or an not but we ' +
    'you they he she his her can will all if has had our your one more when what so no do about ' +
    'than into some its only then who them any may been were out up also how my me us just like get new use'
  )
    .split(' ')
    .map((word) => [...word].reduce((key, ch) => key * 32 + (ch.charCodeAt(0) - 96), 0)),
);

const isDigit = (c: number) => c >= 48 && c <= 57;
const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);

function longWord(letters: number): number {
  return letters > LONG_WORD ? (letters - LONG_WORD) * LONG_PER : 0;
}

function wordEnglish(letters: number, capital: boolean): number {
  const base = (letters <= EN_FREE ? 1 : 1 + (letters - EN_FREE) / EN_PER) + longWord(letters);
  return capital && letters >= CAPITAL_MIN ? base + CAPITAL_LONG : base;
}

function wordOther(letters: number): number {
  return (letters <= OTHER_FREE ? 1 : 1 + (letters - OTHER_FREE) / OTHER_PER) + longWord(letters);
}

/** Running totals of one text; the word totals are kept under both word models until the end. */
class Tally {
  fixed = 0; // everything but word bodies
  english = 0; // word costs under the English model
  other = 0; // word costs under the other-Latin model
  random = 0; // word costs under the random-letters model
  triples = 0; // ASCII letter triples checked
  rareTriples = 0; // ... of which uncommon in English
  words = 0;
  stopWords = 0;
  punctRuns = 0;
  asciiLetters = 0;
  latinExtra = 0;
}

/** The state of one word while it is scanned (one instance reused for every word). */
class WordScan {
  en = 0; // sub-word costs, English model
  other = 0; // ... other-Latin model
  penalty = 0; // uncommon letter triples, capital runs and non-ASCII letters (both models)
  rare = 0; // uncommon letter triples
  triples = 0; // letter triples checked
  seg = 0; // letters of the current sub-word
  segCapital = false;
  letters = 0;
  digits = 0;
  key = 0;
  last = -1; // previous ASCII letter, lower-cased, or -1
  before = START; // the letter before `prior` (0-25), or START
  prior = -1; // the previous ASCII letter of this sub-word (0-25), or -1
  repeats = 0; // letters in a row equal to the one two before
  lastUpper = false;
  nonAscii = 0;
  pending = -1; // a non-ASCII letter below U+1000 that may pair with the next one

  reset(): void {
    this.en = 0;
    this.other = 0;
    this.penalty = 0;
    this.rare = 0;
    this.triples = 0;
    this.seg = 0;
    this.segCapital = false;
    this.letters = 0;
    this.digits = 0;
    this.key = 0;
    this.last = -1;
    this.before = START;
    this.prior = -1;
    this.repeats = 0;
    this.lastUpper = false;
    this.nonAscii = 0;
    this.pending = -1;
  }

  endSegment(): void {
    this.en += wordEnglish(this.seg, this.segCapital);
    this.other += wordOther(this.seg);
    this.seg = 0;
  }

  /** A run of ASCII digits from `i`; returns where it ends. */
  digitRun(text: string, i: number): number {
    if (this.seg > 0) this.endSegment();
    let j = i + 1;
    while (j < text.length && isDigit(text.charCodeAt(j))) j++;
    const chunks = Math.ceil((j - i) / 3); // every 1-3 digit group is one token in both encodings
    this.en += chunks;
    this.other += chunks;
    this.digits += j - i;
    this.last = -1;
    this.prior = -1;
    return j;
  }

  asciiLetter(d: number): void {
    const upper = d <= 90;
    const lower = d | 32;
    if (this.seg > 0 && upper && !this.lastUpper) {
      if (this.seg <= 2) this.penalty += SHORT_SEGMENT;
      this.endSegment(); // camelCase: a new sub-word
      this.prior = -1;
    }
    const letter = lower - 97;
    if (this.prior >= 0) this.triple(letter);
    else this.before = START;
    this.prior = letter;
    if (upper && this.lastUpper) this.penalty += CAPS_RUN;
    if (this.seg === 0) this.segCapital = upper;
    if (this.letters < 5) this.key = this.key * 32 + (lower - 96);
    this.last = lower;
    this.lastUpper = upper;
    this.seg++;
    this.letters++;
  }

  triple(letter: number): void {
    this.triples++;
    if (COMMON[(this.before * 27 + this.prior) * 27 + letter] === 0) {
      this.penalty += RARE_TRIPLE;
      this.rare++;
    }
    // "ababab": BPE has few tokens for long repeats ("ere", "anan" are common and cheap).
    this.repeats = letter === this.before ? this.repeats + 1 : 0;
    if (this.repeats >= 2) this.penalty += REPEAT;
    this.before = this.prior;
  }

  otherLetter(d: number, k: number, t: Tally, tables: ProfileTables): void {
    if (this.last !== -2) {
      this.nonAscii += NON_ASCII_RUN;
      this.pending = -1;
    }
    this.prior = -1;
    if (this.pending >= 0 && d < 0x1000 && tables.pairs.has((this.pending << 16) | d)) {
      this.pending = -1; // one token with the letter before, already paid for
    } else {
      this.penalty += tables.costs[d]! * 0.1;
      this.pending = d < 0x1000 ? d : -1;
    }
    if (k === LATIN) t.latinExtra++;
    this.last = -2;
  }

  finish(t: Tally, lead: number): void {
    if (this.seg > 0) this.endSegment();
    const { letters, digits, rare } = this;
    let { en, other, penalty } = this;
    if (letters > 0 && digits > 0) {
      const opaque = (letters + digits) * OPAQUE;
      if (en + penalty < opaque) en = opaque - penalty;
      if (other + penalty < opaque) other = opaque - penalty;
    }
    if (letters > 0) {
      t.words++;
      if (letters <= 4 && digits === 0 && penalty === 0 && STOP_WORDS.has(this.key)) t.stopWords++;
    }
    penalty += this.nonAscii;
    t.asciiLetters += letters;
    // Two uncommon triples: not an English word (random letters, a rare name): priced per letter.
    t.english += Math.max(1, lead + (rare >= RANDOM_WORD ? Math.max(en, letters * RANDOM_PER) : en) + penalty);
    t.other += Math.max(1, lead + other + penalty);
    t.random += Math.max(1, lead + Math.max(other, letters * RANDOM_PER) + penalty);
    t.rareTriples += rare;
    t.triples += this.triples;
  }
}

// One scanner for every word: estimates run synchronously and scanWord never nests. Split into methods
// at no measured cost (CPU time per 1 MiB, bench texts of bench/token-accuracy.js: typical 22.5 ms
// before and after, adversarial 20.6 -> 20.4 ms; V8 inlines them).
const word = new WordScan();

/** One word (letters and digits of any script) from `i`; returns where it ends. */
function scanWord(text: string, i: number, t: Tally, tables: ProfileTables): number {
  const n = text.length;
  const prev = i === 0 ? 10 : text.charCodeAt(i - 1);
  const lead = prev === 10 || prev === 13 || prev === 9 ? LINE_START : 0;
  word.reset();
  while (i < n) {
    const d = text.charCodeAt(i);
    if (d < 128) {
      if (isDigit(d)) {
        i = word.digitRun(text, i);
        continue;
      }
      if (!isLetter(d)) break;
      word.asciiLetter(d);
      i++;
      continue;
    }
    const k = CLASS_TABLE[d]!;
    if (!isLetterClass(k)) break;
    word.otherLetter(d, k, t, tables);
    i++;
  }
  word.finish(t, lead);
  return i;
}

/** One run of ASCII whitespace from `i`; returns where it ends. */
function scanSpace(text: string, i: number, t: Tally): number {
  const n = text.length;
  let cost = 0;
  let last = 0;
  let lastCost = 0;
  let j = i;
  for (; j < n; j++) {
    const d = text.charCodeAt(j);
    if (!isSpace(d)) break;
    if (d !== last) lastCost = 1;
    else lastCost = d === 32 ? SPACE_REPEAT : d === 10 || d === 9 ? NEWLINE_TAB_REPEAT : 1;
    cost += lastCost;
    last = d;
  }
  // A last space joins the word or punctuation mark after it: " foo", " (". Before a digit it stays a
  // token of its own, apart from the rest of the run.
  if (last === 32 && j < n) cost += isDigit(text.charCodeAt(j)) ? 1 - lastCost : -lastCost;
  t.fixed += cost;
  return j;
}

/** One run of punctuation and symbols (ASCII or not, emoji included) from `i`; returns where it ends. */
function scanPunct(text: string, i: number, t: Tally, tables: ProfileTables): number {
  const n = text.length;
  let cost = 0;
  let last = -1;
  let j = i;
  for (; j < n; j++) {
    const d = text.charCodeAt(j);
    if (d < 128) {
      if (isLetter(d) || isDigit(d) || isSpace(d)) break;
      if (d < 32 || d === 127 || last < 0) cost += 1; // control characters are one token each
      else if (d === last) cost += PUNCT_REPEAT;
      else cost += PUNCT_PAIRS.has(last * 128 + d) ? PUNCT_PAIR : PUNCT_CHANGE;
      last = d;
    } else {
      const k = CLASS_TABLE[d]!;
      if (isLetterClass(k)) break;
      cost += tables.costs[d]! * 0.1;
      if (last !== 0) cost += NON_ASCII_RUN;
      last = 0;
    }
  }
  t.punctRuns++;
  const single = j === i + 1 && text.charCodeAt(i) < 128;
  if (single && j < n && isLetter(text.charCodeAt(j))) t.fixed += GLUED_PREFIX;
  else t.fixed += Math.max(1, cost);
  return j;
}

/**
 * Estimated number of tokens in `text` (no chat overhead): an upper bound of its cl100k_base and
 * o200k_base BPE count (see above), within about 1.3x of it on typical English, code and JSON.
 * Cheap: one pass, no allocation; past {@link PRECISE_LIMIT} characters the rest is counted by bytes.
 *
 * @example
 * ```ts
 * estimateTextTokens('The quick brown fox jumps over the lazy dog.'); // 12 (BPE: 10)
 * estimateTextTokens('人工智能正在改变世界', 'o200k');                 // 13 (BPE: 5)
 * ```
 */
export function estimateTextTokens(text: string, profile: TokenProfile = 'conservative'): number {
  if (typeof text !== 'string') throw new ValidationError('text', text, 'must be a string');
  const tables = profileTables(profile);
  if (text.length <= PRECISE_LIMIT) return Math.min(estimatePrecise(text, tables), Buffer.byteLength(text));
  // A huge text: the head is estimated, the tail bounded by its UTF-8 length (every BPE token covers at
  // least one byte), plus one for a token the cut may split. Keeps a 4 MB prompt to a few milliseconds.
  let cut = PRECISE_LIMIT;
  if ((text.charCodeAt(cut - 1) & 0xfc00) === 0xd800) cut--; // never split a surrogate pair
  const head = text.slice(0, cut);
  return Math.min(estimatePrecise(head, tables), Buffer.byteLength(head)) + Buffer.byteLength(text.slice(cut)) + 1;
}

function estimatePrecise(text: string, tables: ProfileTables): number {
  const n = text.length;
  const t = new Tally();
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c < 128) {
      if (isLetter(c) || isDigit(c)) i = scanWord(text, i, t, tables);
      else if (isSpace(c)) i = scanSpace(text, i, t);
      else i = scanPunct(text, i, t, tables);
    } else if (isLetterClass(CLASS_TABLE[c]!)) {
      i = scanWord(text, i, t, tables);
    } else {
      i = scanPunct(text, i, t, tables);
    }
  }
  const englishLike =
    (t.stopWords >= t.words * STOP_SHARE || t.punctRuns >= t.words * PUNCT_SHARE) && t.latinExtra * LATIN_SHARE <= t.asciiLetters;
  const words = t.rareTriples > 0 && t.rareTriples >= t.triples * RANDOM_SHARE ? t.random : englishLike ? t.english : t.other;
  return Math.ceil((t.fixed + words) * SCALE);
}
