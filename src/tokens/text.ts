import { Buffer } from 'node:buffer';
import { ValidationError } from '../errors.js';
import { COMMON_PAIRS } from './bigrams.js';
import { CLASS_TABLE, LATIN, isLetterClass, profileWeights, type ClassWeights, type TokenProfile } from './profile.js';

/*
 * A cheap upper bound of a text's BPE token count (cl100k_base / o200k_base): one pass, no vocabulary.
 *
 * Two facts make it an upper bound rather than a guess:
 * - Both encodings are byte-level BPE: every token covers at least one UTF-8 byte, so the byte length
 *   is a hard ceiling; the result is min(estimate, bytes).
 * - The text is split the way the GPT pre-tokenizer splits it (words, digit groups, whitespace runs,
 *   punctuation runs) and each piece is priced at or above what its worst kind costs: a repeated
 *   character less than a change of character, a word of common English letter pairs less than a word
 *   with uncommon pairs (random letters cost about 0.6 tokens per letter), other scripts per character
 *   at or above what random text of that script costs (see profile.ts). bench/token-accuracy.js and
 *   test/tokens/adversarial.test.ts check it against gpt-tokenizer on an adversarial corpus and fuzz.
 *
 * Pricing of ASCII words: one token up to 7 letters in English-looking text (stop words or code
 * punctuation present), 1 per 2.5 letters beyond; elsewhere 1 per 4 letters beyond 2. Every uncommon
 * letter pair costs RARE_PAIR more, every capital after a capital CAPS_RUN. camelCase splits into
 * words; runs mixing letters and digits cost at least OPAQUE per character. The sum is scaled by 1.1.
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
const RARE_PAIR = 1; // a letter pair uncommon in English: a likely token boundary
const CAPS_RUN = 0.35; // a capital after a capital (acronyms are short; long capital runs are random)
const STOP_SHARE = 0.15; // English-looking: >= 15 % of words are English stop words ...
const PUNCT_SHARE = 0.4; // ... or >= 0.4 punctuation runs per word (code, JSON)
const OPAQUE = 0.75; // per character of runs mixing letters and digits (ids, hashes, base64: 0.65-0.78)
// Whitespace: a change of character costs a token; a repeat costs this share of one (' ' x 1000 is 9
// tokens, '\n' or '\t' x 1000 up to 63; '\r', '\v' and '\f' repeat as one token each).
const SPACE_REPEAT = 1 / 64;
const NEWLINE_TAB_REPEAT = 1 / 15;
// Punctuation: a repeated mark costs half a token ('`' x 1000 is 500), a common pair ("=>", "})")
// less, any other change a whole token (random punctuation is 0.7-1 token per character).
const PUNCT_REPEAT = 0.5;
const PUNCT_PAIR = 0.35;
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
  words = 0;
  stopWords = 0;
  punctRuns = 0;
  asciiLetters = 0;
  latinExtra = 0;
}

/** One word (letters and digits of any script) from `i`; returns where it ends. */
function scanWord(text: string, i: number, t: Tally, weights: ClassWeights): number {
  const n = text.length;
  const prev = i === 0 ? 10 : text.charCodeAt(i - 1);
  const lead = prev === 10 || prev === 13 || prev === 9 ? LINE_START : 0;
  let en = 0; // sub-word costs, English model
  let other = 0; // ... other-Latin model
  let penalty = 0; // uncommon letter pairs, capital runs and non-ASCII letters (both models)
  let seg = 0; // letters of the current sub-word
  let segCapital = false;
  let letters = 0;
  let digits = 0;
  let key = 0;
  let last = -1; // previous ASCII letter, lower-cased, or -1
  let lastUpper = false;
  let nonAscii = 0;
  while (i < n) {
    const d = text.charCodeAt(i);
    if (d < 128) {
      if (isDigit(d)) {
        if (seg > 0) {
          en += wordEnglish(seg, segCapital);
          other += wordOther(seg);
          seg = 0;
        }
        let j = i + 1;
        while (j < n && isDigit(text.charCodeAt(j))) j++;
        const chunks = Math.ceil((j - i) / 3); // every 1-3 digit group is one token in both encodings
        en += chunks;
        other += chunks;
        digits += j - i;
        i = j;
        last = -1;
        continue;
      }
      if (!isLetter(d)) break;
      const upper = d <= 90;
      const lower = d | 32;
      if (seg > 0 && upper && !lastUpper) {
        en += wordEnglish(seg, segCapital); // camelCase: a new sub-word
        other += wordOther(seg);
        seg = 0;
      }
      if (last >= 0 && ((COMMON_PAIRS[last - 97]! >>> (lower - 97)) & 1) === 0) penalty += RARE_PAIR;
      if (upper && lastUpper) penalty += CAPS_RUN;
      if (seg === 0) segCapital = upper;
      if (letters < 5) key = key * 32 + (lower - 96);
      last = lower;
      lastUpper = upper;
      seg++;
      letters++;
      i++;
      continue;
    }
    const k = CLASS_TABLE[d]!;
    if (!isLetterClass(k)) break;
    penalty += weights[k]!;
    if (k === LATIN) t.latinExtra++;
    if (last !== -2) nonAscii += NON_ASCII_RUN;
    last = -2;
    i++;
  }
  if (seg > 0) {
    en += wordEnglish(seg, segCapital);
    other += wordOther(seg);
  }
  if (letters > 0 && digits > 0) {
    const opaque = (letters + digits) * OPAQUE;
    if (en + penalty < opaque) en = opaque - penalty;
    if (other + penalty < opaque) other = opaque - penalty;
  }
  if (letters > 0) {
    t.words++;
    if (letters <= 4 && digits === 0 && penalty === 0 && STOP_WORDS.has(key)) t.stopWords++;
  }
  penalty += nonAscii;
  t.asciiLetters += letters;
  t.english += Math.max(1, lead + en + penalty);
  t.other += Math.max(1, lead + other + penalty);
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
  // A last space joins the word or punctuation mark after it (not a digit): " foo", " (".
  if (last === 32 && j < n && !isDigit(text.charCodeAt(j))) cost -= lastCost;
  t.fixed += cost;
  return j;
}

/** One run of punctuation and symbols (ASCII or not, emoji included) from `i`; returns where it ends. */
function scanPunct(text: string, i: number, t: Tally, weights: ClassWeights): number {
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
      else cost += PUNCT_PAIRS.has(last * 128 + d) ? PUNCT_PAIR : 1;
      last = d;
    } else {
      const k = CLASS_TABLE[d]!;
      if (isLetterClass(k)) break;
      cost += weights[k]!;
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
 * estimateTextTokens('The quick brown fox jumps over the lazy dog.'); // 14 (BPE: 10)
 * estimateTextTokens('人工智能正在改变世界', 'o200k');                 // 20 (BPE: 5)
 * ```
 */
export function estimateTextTokens(text: string, profile: TokenProfile = 'conservative'): number {
  if (typeof text !== 'string') throw new ValidationError('text', text, 'must be a string');
  const weights = profileWeights(profile);
  if (text.length <= PRECISE_LIMIT) return Math.min(estimatePrecise(text, weights), Buffer.byteLength(text));
  // A huge text: the head is estimated, the tail bounded by its UTF-8 length (every BPE token covers at
  // least one byte), plus one for a token the cut may split. Keeps a 4 MB prompt to a few milliseconds.
  let cut = PRECISE_LIMIT;
  if ((text.charCodeAt(cut - 1) & 0xfc00) === 0xd800) cut--; // never split a surrogate pair
  const head = text.slice(0, cut);
  return Math.min(estimatePrecise(head, weights), Buffer.byteLength(head)) + Buffer.byteLength(text.slice(cut)) + 1;
}

function estimatePrecise(text: string, weights: ClassWeights): number {
  const n = text.length;
  const t = new Tally();
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c < 128) {
      if (isLetter(c) || isDigit(c)) i = scanWord(text, i, t, weights);
      else if (isSpace(c)) i = scanSpace(text, i, t);
      else i = scanPunct(text, i, t, weights);
    } else if (isLetterClass(CLASS_TABLE[c]!)) {
      i = scanWord(text, i, t, weights);
    } else {
      i = scanPunct(text, i, t, weights);
    }
  }
  const englishLike =
    (t.stopWords >= t.words * STOP_SHARE || t.punctRuns >= t.words * PUNCT_SHARE) && t.latinExtra * 50 <= t.asciiLetters;
  return Math.ceil((t.fixed + (englishLike ? t.english : t.other)) * SCALE);
}
