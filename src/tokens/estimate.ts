import { ValidationError } from '../errors.js';
import type { ChatMessage } from '../types.js';

/**
 * Cheap token estimates (no BPE, no vocabulary, one pass over the text) for budget reservations.
 * Tuned to rarely under-count OpenAI's tokenizers; see docs/pricing.md ("Token estimates") and bench/token-accuracy.js
 * for measured accuracy per kind of text.
 *
 * How a text is priced, mirroring the GPT pre-tokenizer's pieces:
 * - ASCII words: one token up to 7 letters in English-looking text (stop words or code punctuation
 *   present), growing 1 per 2.5 letters beyond; elsewhere (e.g. Dutch, Spanish) 1 token per 4 letters
 *   beyond 2. Capitalised long words, words at a line start, and words glued to a punctuation mark
 *   cost a little more. camelCase splits into words; runs mixing letters and digits (hashes, base64)
 *   cost 0.65 per character.
 * - Digits: one token per 3 digits. Whitespace: runs containing a newline and indentation are a token
 *   each; a single space before a word is free.
 * - Punctuation runs: 1 token plus 0.2 per extra character.
 * - Other scripts: a weight per character by script (CJK ≈ 1.3, Hangul 1.25, Cyrillic 0.55, …),
 *   halved or so for the o200k profile; emoji ≈ 3 (2 for o200k) per astral code point.
 * - The sum is scaled by 1.1 and rounded up.
 */

/**
 * Calibration profile. `conservative` (the default) holds for cl100k_base, the costlier of OpenAI's
 * encodings on non-Latin text, and is used for every model not known to use o200k_base; `o200k` is
 * tighter on non-Latin scripts and is picked for GPT-4o, GPT-4.1, GPT-4.5, GPT-5 and o-series models.
 */
export type TokenProfile = 'conservative' | 'o200k';

/** Options of {@link estimateTokens}. */
export interface EstimateTokensOptions {
  /** Model the messages are for; selects the profile (see {@link tokenProfileForModel}). */
  model?: string;
  /** Profile to use; wins over `model`. Default: from `model`, else `conservative`. */
  profile?: TokenProfile;
  /** Tokens charged per image part that is not `detail: 'low'`. Default 1600. */
  imageTokens?: number;
}

// Character classes of the BMP (non-ASCII). Letters continue words; symbols form punctuation runs.
const SYMBOL = 0;
const LATIN = 1;
const GREEK = 2;
const CYRILLIC = 3;
const MIDDLE_EAST = 4; // Armenian, Hebrew, Arabic, Syriac, Thaana, ...
const BRAHMIC = 5; // Indic, Thai, Lao, Tibetan, Myanmar, Georgian, Ethiopic, Khmer, ...
const HANGUL = 6;
const CJK = 7;
const CJK_PUNCT = 8;
const VARIATION_SELECTOR = 9;
const ZWJ = 10;
const SYMBOL_3BYTE = 11;
const SURROGATE = 12;
const CLASS_COUNT = 13;
const FIRST_SYMBOL_CLASS = CJK_PUNCT;

interface Profile {
  /** Weight per UTF-16 unit, by class. */
  weights: Float64Array;
}

function makeProfile(w: Record<number, number>): Profile {
  const weights = new Float64Array(CLASS_COUNT);
  for (const [k, v] of Object.entries(w)) weights[Number(k)] = v;
  return { weights };
}

const PROFILES: Record<TokenProfile, Profile> = {
  conservative: makeProfile({
    [SYMBOL]: 1,
    [LATIN]: 1.1,
    [GREEK]: 1,
    [CYRILLIC]: 0.55,
    [MIDDLE_EAST]: 1.05,
    [BRAHMIC]: 1.15,
    [HANGUL]: 1.25,
    [CJK]: 1.3,
    [CJK_PUNCT]: 0.75,
    [VARIATION_SELECTOR]: 1,
    [ZWJ]: 0.75,
    [SYMBOL_3BYTE]: 1,
    [SURROGATE]: 1.5, // 3 per astral code point (emoji)
  }),
  o200k: makeProfile({
    [SYMBOL]: 1,
    [LATIN]: 1.1,
    [GREEK]: 0.4,
    [CYRILLIC]: 0.3,
    [MIDDLE_EAST]: 0.4,
    [BRAHMIC]: 0.4,
    [HANGUL]: 0.75,
    [CJK]: 0.85,
    [CJK_PUNCT]: 0.75,
    [VARIATION_SELECTOR]: 0.5,
    [ZWJ]: 0.75,
    [SYMBOL_3BYTE]: 1,
    [SURROGATE]: 1, // 2 per astral code point
  }),
};

// Shared ASCII calibration (measured against both encodings; they agree closely on ASCII text).
const SCALE = 1.1;
const LINE_START = 0.5; // a word with no space before it at the start of a line splits more often
const GLUED_PREFIX = 0.75; // a single punctuation mark glued to a word ("(foo", ".bar", "'s")
const CAPITAL_LONG = 0.5; // capitalised words of CAPITAL_MIN+ letters (names) split more
const CAPITAL_MIN = 8;
const EN_FREE = 7; // English-looking text: letters per word covered by its first token
const EN_PER = 2.5; // ... and letters per extra token beyond
const OTHER_FREE = 2; // other Latin-script text
const OTHER_PER = 4;
const STOP_SHARE = 0.15; // English-looking: >= 15 % of words are English stop words ...
const PUNCT_SHARE = 0.4; // ... or >= 0.4 punctuation runs per word (code, JSON)
const PUNCT_EXTRA = 0.2; // each punctuation character after the first in a run
const OPAQUE = 0.65; // per character of runs mixing letters and digits (ids, hashes, base64)
const WHITESPACE_CHUNK = 16; // one more token per this many whitespace characters in a run

const CLASS_TABLE = buildClassTable();

function buildClassTable(): Uint8Array {
  const table = new Uint8Array(0x10000);
  for (let c = 0x80; c < 0x10000; c++) table[c] = classify(c);
  return table;
}

function classify(c: number): number {
  if (c >= 0xd800 && c <= 0xdfff) return SURROGATE;
  if (c < 0xc0) return c === 0xaa || c === 0xb5 || c === 0xba ? LATIN : SYMBOL;
  if (c === 0xd7 || c === 0xf7) return SYMBOL;
  if (c < 0x370) return LATIN;
  if (c < 0x400) return GREEK;
  if (c < 0x530) return CYRILLIC;
  if (c < 0x900) return MIDDLE_EAST;
  if (c < 0x1100) return BRAHMIC;
  if (c < 0x1200) return HANGUL;
  if (c < 0x1e00) return BRAHMIC;
  if (c < 0x2000) return LATIN; // Latin Extended Additional (Vietnamese), Greek Extended
  if (c === 0x200d) return ZWJ;
  if (c < 0x2e80) return c < 0x800 ? SYMBOL : SYMBOL_3BYTE; // punctuation, arrows, math, dingbats
  if (c >= 0x3000 && c <= 0x303f) return CJK_PUNCT;
  if (c < 0xa000) return CJK; // radicals, kana, bopomofo, Han
  if (c < 0xac00) return BRAHMIC; // Yi, Lisu, Vai, ... (rare; priced like Indic)
  if (c < 0xd800) return HANGUL;
  if (c >= 0xf900 && c < 0xfb00) return CJK;
  if (c >= 0xfb00 && c < 0xfe00) return MIDDLE_EAST; // presentation forms
  if (c >= 0xfe00 && c <= 0xfe0f) return VARIATION_SELECTOR;
  if (c >= 0xfe70 && c < 0xff00) return MIDDLE_EAST;
  if ((c >= 0xff21 && c <= 0xff3a) || (c >= 0xff41 && c <= 0xff5a) || (c >= 0xff66 && c <= 0xffdc)) return CJK;
  if (c >= 0xff00 && c <= 0xffef) return CJK_PUNCT;
  return SYMBOL_3BYTE;
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

function wordEnglish(letters: number, capital: boolean): number {
  const base = letters <= EN_FREE ? 1 : 1 + (letters - EN_FREE) / EN_PER;
  return capital && letters >= CAPITAL_MIN ? base + CAPITAL_LONG : base;
}

function wordOther(letters: number): number {
  return letters <= OTHER_FREE ? 1 : 1 + (letters - OTHER_FREE) / OTHER_PER;
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);

/**
 * Estimated number of tokens in `text` (no chat overhead). Cheap: one pass, no allocation.
 *
 * @example
 * ```ts
 * estimateTextTokens('The quick brown fox jumps over the lazy dog.'); // 12 (BPE: 10)
 * estimateTextTokens('人工智能正在改变世界', 'o200k');                 // 10 (BPE: 5)
 * ```
 */
export function estimateTextTokens(text: string, profile: TokenProfile = 'conservative'): number {
  if (typeof text !== 'string') throw new ValidationError('text', text, 'must be a string');
  const weights = (PROFILES[profile] ?? invalidProfile(profile)).weights;
  const n = text.length;
  let fixed = 0; // cost of everything but word bodies
  let englishWords = 0; // word costs under the English model
  let otherWords = 0; // word costs under the other-Latin model
  let words = 0;
  let stopWords = 0;
  let punctRuns = 0;
  let asciiLetters = 0;
  let latinExtra = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    const cls = c < 128 ? -1 : CLASS_TABLE[c]!;
    if (c < 128 ? isLetter(c) || isDigit(c) : cls > SYMBOL && cls < FIRST_SYMBOL_CLASS) {
      // A word: ASCII letters/digits and letters of other scripts, split into sub-words at
      // lower→upper case changes and letter/digit boundaries.
      const prev = i === 0 ? 10 : text.charCodeAt(i - 1);
      const lead = prev === 10 || prev === 13 || prev === 9 ? LINE_START : 0;
      let en = 0;
      let other = 0;
      let extra = 0;
      let seg = 0;
      let segCapital = false;
      let letters = 0;
      let digits = 0;
      let key = 0;
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
            const chunks = Math.ceil((j - i) / 3);
            en += chunks;
            other += chunks;
            digits += j - i;
            i = j;
            continue;
          }
          if (!isLetter(d)) break;
          const upper = d <= 90;
          if (seg > 0 && upper && text.charCodeAt(i - 1) >= 97) {
            en += wordEnglish(seg, segCapital);
            other += wordOther(seg);
            seg = 0;
          }
          if (seg === 0) segCapital = upper;
          if (letters < 5) key = key * 32 + ((d | 32) - 96);
          seg++;
          letters++;
          i++;
          continue;
        }
        const k = CLASS_TABLE[d]!;
        if (k === SYMBOL || k >= FIRST_SYMBOL_CLASS) break;
        extra += weights[k]!;
        if (k === LATIN) latinExtra++;
        i++;
      }
      if (seg > 0) {
        en += wordEnglish(seg, segCapital);
        other += wordOther(seg);
      }
      if (letters > 0 && digits > 0) {
        const opaque = (letters + digits) * OPAQUE;
        if (en < opaque) en = opaque;
        if (other < opaque) other = opaque;
      }
      if (letters > 0) {
        words++;
        if (letters <= 4 && digits === 0 && extra === 0 && STOP_WORDS.has(key)) stopWords++;
      }
      asciiLetters += letters;
      englishWords += Math.max(1, lead + en + extra);
      otherWords += Math.max(1, lead + other + extra);
      continue;
    }
    if (c < 128 && isSpace(c)) {
      let j = i + 1;
      let lastNewline = c === 10 || c === 13 ? i : -1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (!isSpace(d)) break;
        if (d === 10 || d === 13) lastNewline = j;
        j++;
      }
      const run = j - i;
      let cost = lastNewline >= 0 ? 1 : 0;
      // Spaces after the last newline: the last one joins a following word or punctuation mark
      // (not a digit); the rest are one indentation token.
      let trailing = j - (lastNewline >= 0 ? lastNewline + 1 : i);
      if (j < n && !isDigit(text.charCodeAt(j))) trailing--;
      if (trailing > 0) cost++;
      fixed += cost + Math.floor(run / WHITESPACE_CHUNK);
      i = j;
      continue;
    }
    // Punctuation and symbols, ASCII or not (emoji included).
    let j = i;
    let cost = 0;
    let count = 0;
    while (j < n) {
      const d = text.charCodeAt(j);
      let w: number;
      if (d < 128) {
        if (isLetter(d) || isDigit(d) || isSpace(d)) break;
        w = count === 0 ? 1 : PUNCT_EXTRA;
      } else {
        const k = CLASS_TABLE[d]!;
        if (k !== SYMBOL && k < FIRST_SYMBOL_CLASS) break;
        w = weights[k]!;
      }
      cost += w;
      count++;
      j++;
    }
    punctRuns++;
    if (count === 1 && c < 128 && j < n && isLetter(text.charCodeAt(j))) fixed += GLUED_PREFIX;
    else fixed += Math.max(1, cost);
    i = j;
  }
  const englishLike =
    (stopWords >= words * STOP_SHARE || punctRuns >= words * PUNCT_SHARE) && latinExtra * 50 <= asciiLetters;
  return Math.ceil((fixed + (englishLike ? englishWords : otherWords)) * SCALE);
}

/**
 * The calibration profile for `model`: `o200k` for OpenAI models known to use o200k_base
 * (GPT-4o, GPT-4.1, GPT-4.5, GPT-5, o1/o3/o4, gpt-oss), `conservative` for everything else.
 *
 * @example
 * ```ts
 * tokenProfileForModel('gpt-4o-mini'); // 'o200k'
 * tokenProfileForModel('claude-sonnet-4'); // 'conservative'
 * ```
 */
export function tokenProfileForModel(model: string): TokenProfile {
  return O200K_MODELS.test(model) ? 'o200k' : 'conservative';
}

const O200K_MODELS = /^(?:openai\/)?(?:gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o[134](?:$|-)|chatgpt-4o|gpt-oss)/i;

/** Tokens every chat message costs around its content (OpenAI chat format). */
const PER_MESSAGE = 4;
/** Tokens priming the reply. */
const PER_REPLY = 3;
/** Tokens around each tool call besides its id, name and arguments. */
const PER_TOOL_CALL = 8;
const LOW_DETAIL_IMAGE = 85;
const DEFAULT_IMAGE = 1600;

/**
 * Estimated prompt tokens of a chat request: every message's content, name and tool calls, plus
 * OpenAI's chat-format overhead (4 per message + 3). Cheap enough for the hot path; meant for budget
 * reservations, so it leans towards over-counting.
 *
 * Content parts: `text` parts are estimated as text; image parts cost 85 tokens with `detail: 'low'`,
 * else `imageTokens` (1600); any other part (audio, files) is estimated from its JSON, which
 * over-counts base64 payloads heavily rather than guessing low.
 *
 * @example
 * ```ts
 * estimateTokens([
 *   { role: 'system', content: 'You are terse.' },
 *   { role: 'user', content: 'Name three prime numbers.' },
 * ], { model: 'gpt-4o' }); // 26 (BPE: 20)
 * ```
 */
export function estimateTokens(messages: ChatMessage[], options: EstimateTokensOptions = {}): number {
  if (!Array.isArray(messages)) throw new ValidationError('messages', messages, 'must be an array of chat messages');
  const profile = resolveProfile(options);
  const imageTokens = options.imageTokens ?? DEFAULT_IMAGE;
  if (!Number.isInteger(imageTokens) || imageTokens < 0) {
    throw new ValidationError('imageTokens', imageTokens, 'must be an integer >= 0');
  }
  let total = PER_REPLY;
  for (let m = 0; m < messages.length; m++) {
    const message = messages[m];
    if (typeof message !== 'object' || message === null) {
      throw new ValidationError(`messages[${m}]`, message, 'must be a chat message object');
    }
    total += PER_MESSAGE + contentTokens(message.content, m, profile, imageTokens);
    if (message.name) total += 1 + estimateTextTokens(String(message.name), profile);
    if (message.tool_call_id) total += estimateTextTokens(String(message.tool_call_id), profile);
    const calls = message.tool_calls;
    if (calls !== undefined && calls !== null) {
      if (!Array.isArray(calls)) {
        throw new ValidationError(`messages[${m}].tool_calls`, calls, 'must be an array');
      }
      for (const call of calls as unknown[]) total += toolCallTokens(call, profile);
    }
  }
  return total;
}

/**
 * Estimated tokens of the tool (function) definitions sent with a request, from their JSON.
 *
 * @example
 * ```ts
 * estimateToolsTokens([{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }]);
 * ```
 */
export function estimateToolsTokens(tools: readonly unknown[] | undefined, options: EstimateTokensOptions = {}): number {
  if (tools === undefined || tools.length === 0) return 0;
  if (!Array.isArray(tools)) throw new ValidationError('tools', tools, 'must be an array');
  return estimateTextTokens(JSON.stringify(tools), resolveProfile(options)) + PER_REPLY * 3;
}

function resolveProfile(options: EstimateTokensOptions): TokenProfile {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('options', options, 'must be an object');
  }
  if (options.profile !== undefined) {
    if (!(options.profile in PROFILES)) invalidProfile(options.profile);
    return options.profile;
  }
  if (options.model !== undefined) {
    if (typeof options.model !== 'string') throw new ValidationError('model', options.model, 'must be a string');
    return tokenProfileForModel(options.model);
  }
  return 'conservative';
}

function contentTokens(content: unknown, m: number, profile: TokenProfile, imageTokens: number): number {
  if (content === null || content === undefined) return 0;
  if (typeof content === 'string') return estimateTextTokens(content, profile);
  if (!Array.isArray(content)) {
    throw new ValidationError(`messages[${m}].content`, content, 'must be a string, an array of parts, or null');
  }
  let total = 0;
  for (let p = 0; p < content.length; p++) {
    const part: unknown = content[p];
    if (typeof part !== 'object' || part === null) {
      throw new ValidationError(`messages[${m}].content[${p}]`, part, 'must be a content part object');
    }
    const record = part as Record<string, unknown>;
    if (typeof record.text === 'string' && (record.type === 'text' || record.type === 'input_text')) {
      total += estimateTextTokens(record.text, profile);
    } else if (record.type === 'image_url' || record.type === 'image' || record.type === 'input_image') {
      total += imageDetail(record) === 'low' ? LOW_DETAIL_IMAGE : imageTokens;
    } else {
      total += estimateTextTokens(JSON.stringify(record), profile);
    }
  }
  return total;
}

function imageDetail(part: Record<string, unknown>): unknown {
  const image = part.image_url;
  if (typeof image === 'object' && image !== null) return (image as Record<string, unknown>).detail;
  return part.detail;
}

function toolCallTokens(call: unknown, profile: TokenProfile): number {
  if (typeof call !== 'object' || call === null) return PER_TOOL_CALL;
  const record = call as Record<string, unknown>;
  let total = PER_TOOL_CALL;
  if (typeof record.id === 'string') total += estimateTextTokens(record.id, profile);
  const fn = record.function;
  if (typeof fn === 'object' && fn !== null) {
    const { name, arguments: args } = fn as Record<string, unknown>;
    if (typeof name === 'string') total += estimateTextTokens(name, profile);
    if (typeof args === 'string') total += estimateTextTokens(args, profile);
    else if (args !== undefined) total += estimateTextTokens(JSON.stringify(args), profile);
  }
  return total;
}

function invalidProfile(profile: unknown): never {
  throw new ValidationError('profile', profile, "must be 'conservative' or 'o200k'");
}
