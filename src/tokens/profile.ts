import { ValidationError } from '../core/errors.js';
import { CHAR_COST_RUNS, LETTER_PAIRS } from './vocab-tables.js';

/**
 * Calibration profile. `conservative` (the default) holds for cl100k_base, the costlier of OpenAI's
 * encodings on non-Latin text, and is used for every model not known to use o200k_base (Claude, Grok,
 * Gemini, open-weight and unknown models get it too, as a safety margin: their tokenizers were not
 * measured); `o200k` is tighter on non-Latin scripts and is picked for GPT-4o, GPT-4.1, GPT-4.5, GPT-5
 * and o-series models.
 */
export type TokenProfile = 'conservative' | 'o200k';

// Character classes of the BMP (non-ASCII). Letters continue words; the others form symbol runs.
export const SYMBOL = 0; // 2-byte punctuation, symbols and C1 controls
export const LATIN = 1;
export const GREEK = 2;
export const CYRILLIC = 3;
export const MIDDLE_EAST = 4; // Armenian, Hebrew, Arabic, Syriac, Thaana, ...
export const BRAHMIC = 5; // Indic, Thai, Lao, Tibetan, Myanmar, Georgian, Ethiopic, Khmer, ...
export const HANGUL = 6;
export const CJK = 7;
export const CJK_PUNCT = 8; // first non-letter class
export const COMBINING = 9; // combining marks (Zalgo), variation selectors, ZWJ
export const SYMBOL_3BYTE = 10; // general punctuation, arrows, math, box drawing, dingbats, ...
export const PRIVATE = 11; // private use, specials, noncharacters: byte-level fallback in both encodings
// Astral code points, as their two UTF-16 units (see SURROGATE_TENTHS).
export const EMOJI_HIGH = 12;
export const HIGH_SURROGATE = 13;
export const LOW_SURROGATE = 14;
export const CONTROL = 15; // C1 controls

/**
 * What a profile charges per non-ASCII UTF-16 unit, in tenths of a token, and which letter pairs it
 * charges as one token. Decoded on first use from vocab-tables.ts, generated from the real
 * encodings: a character costs what it costs on its own (1-3 tokens; `conservative` takes the higher
 * of cl100k_base and o200k_base), a pair of letters below U+1000 that is one token costs 1.
 */
export interface ProfileTables {
  costs: Uint8Array;
  /** Pairs as (first << 16) | second. */
  pairs: Set<number>;
}

// Astral code points are priced on their two UTF-16 units, in tenths: an emoji (high surrogate of
// U+1F000-1FFFF) at its worst case of about 3 tokens (cl100k; 2.6 for o200k), any other (rare Han,
// tags, private use: byte-level in both encodings) at its 4 bytes; a lone surrogate becomes U+FFFD.
const SURROGATE_TENTHS: Record<TokenProfile, Record<number, number>> = {
  conservative: { [EMOJI_HIGH]: 20, [HIGH_SURROGATE]: 30, [LOW_SURROGATE]: 10 },
  o200k: { [EMOJI_HIGH]: 16, [HIGH_SURROGATE]: 30, [LOW_SURROGATE]: 10 },
};

const PROFILES: readonly TokenProfile[] = ['conservative', 'o200k'];
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const decoded = new Map<TokenProfile, ProfileTables>();

function decodeTables(profile: TokenProfile): ProfileTables {
  const costs = new Uint8Array(0x10000);
  let c = 0x80;
  for (const ch of CHAR_COST_RUNS[profile]) {
    const v = B64.indexOf(ch);
    const value = v >> 4; // 0: a surrogate, priced by class
    for (let end = c + (v & 15) + 1; c < end; c++) {
      costs[c] = value === 0 ? SURROGATE_TENTHS[profile][CLASS_TABLE[c]!]! : value * 10;
    }
  }
  const pairs = new Set<number>();
  const packed = LETTER_PAIRS[profile];
  for (let i = 0; i + 4 <= packed.length; i += 4) {
    let key = 0;
    for (let k = 0; k < 4; k++) key = key * 64 + B64.indexOf(packed[i + k]!);
    pairs.add((((key >> 12) + 0x80) << 16) | ((key & 0xfff) + 0x80));
  }
  return { costs, pairs };
}

/** Whether `profile` names a profile. */
export function isTokenProfile(profile: unknown): profile is TokenProfile {
  return PROFILES.includes(profile as TokenProfile);
}

/** The tables of `profile`, or a ValidationError naming `profile`. */
export function profileTables(profile: TokenProfile): ProfileTables {
  let tables = decoded.get(profile);
  if (tables === undefined) {
    if (!isTokenProfile(profile)) throw new ValidationError('profile', profile, "must be 'conservative' or 'o200k'");
    tables = decodeTables(profile);
    decoded.set(profile, tables);
  }
  return tables;
}

/** Class of every BMP code unit >= 0x80. */
export const CLASS_TABLE = buildClassTable();

function buildClassTable(): Uint8Array {
  const table = new Uint8Array(0x10000);
  for (let c = 0x80; c < 0x10000; c++) table[c] = classify(c);
  return table;
}

function isCombining(c: number): boolean {
  return (
    (c >= 0x300 && c < 0x370) || (c >= 0x483 && c < 0x48a) || (c >= 0x1ab0 && c < 0x1b00) ||
    (c >= 0x1dc0 && c < 0x1e00) || (c >= 0x20d0 && c < 0x2100) || (c >= 0xfe00 && c < 0xfe10) ||
    (c >= 0xfe20 && c < 0xfe30) || c === 0x200d || c === 0x200c
  );
}

function classify(c: number): number {
  if (c >= 0xd83c && c <= 0xd83f) return EMOJI_HIGH;
  if (c >= 0xd800 && c <= 0xdbff) return HIGH_SURROGATE;
  if (c >= 0xdc00 && c <= 0xdfff) return LOW_SURROGATE;
  if (isCombining(c)) return COMBINING;
  if (c < 0xa0) return CONTROL;
  if (c < 0xc0) return c === 0xaa || c === 0xb5 || c === 0xba ? LATIN : SYMBOL;
  if (c === 0xd7 || c === 0xf7) return SYMBOL;
  if (c < 0x370) return LATIN;
  if (c < 0x400) return GREEK;
  if (c < 0x530) return CYRILLIC;
  if (c < 0x800) return MIDDLE_EAST;
  if (c < 0x900) return SYMBOL_3BYTE; // Samaritan, Mandaic, ...: rare 3-byte letters
  if (c < 0x1100) return BRAHMIC;
  if (c < 0x1200) return PRIVATE; // Hangul Jamo: rare in text (syllables are precomposed), byte-level
  if (c < 0x1e00) return BRAHMIC;
  if (c < 0x2000) return LATIN; // Latin Extended Additional (Vietnamese), Greek Extended
  if (c < 0x2e80) return SYMBOL_3BYTE; // punctuation, arrows, math, box drawing, dingbats
  if (c >= 0x3000 && c <= 0x303f) return CJK_PUNCT;
  if (c < 0xa000) return CJK; // radicals, kana, bopomofo, Han
  if (c < 0xac00) return BRAHMIC; // Yi, Lisu, Vai, ... (rare; priced like Indic)
  if (c < 0xd800) return HANGUL;
  if (c >= 0xe000 && c < 0xf900) return PRIVATE;
  if (c >= 0xf900 && c < 0xfb00) return CJK;
  if (c >= 0xfb00 && c < 0xfe00) return MIDDLE_EAST; // presentation forms
  if (c >= 0xfe70 && c < 0xff00) return MIDDLE_EAST;
  if ((c >= 0xff21 && c <= 0xff3a) || (c >= 0xff41 && c <= 0xff5a) || (c >= 0xff66 && c <= 0xffdc)) return CJK;
  if (c >= 0xff00 && c <= 0xffef) return CJK_PUNCT;
  if (c >= 0xfff0) return PRIVATE;
  return SYMBOL_3BYTE;
}

/** Whether a class continues a word (letters of a script) rather than a symbol run. */
export function isLetterClass(cls: number): boolean {
  return cls > SYMBOL && cls < CJK_PUNCT;
}

const O200K_MODELS = /^(?:openai\/)?(?:gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o[134](?:$|-)|chatgpt-4o|gpt-oss)/i;

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
