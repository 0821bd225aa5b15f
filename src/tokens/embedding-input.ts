import { estimateTextTokens, tokenProfileForModel } from './estimate.js';

function isTokenIds(value: unknown): value is number[] {
  return Array.isArray(value) && value.length > 0 && value.every((t) => typeof t === 'number' && Number.isSafeInteger(t) && t >= 0);
}

/**
 * The input tokens of an embeddings request's `input` (OpenAI's shapes): token ids are counted exactly,
 * strings estimated (an upper bound, as for chat prompts). `undefined` when `input` is none of a non-empty
 * string, a non-empty array of strings, of token ids, or of non-empty arrays of token ids.
 *
 * @example
 * ```ts
 * embeddingInputTokens([[1, 2], [3]], 'text-embedding-3-small'); // 3
 * ```
 */
export function embeddingInputTokens(input: unknown, model: string): number | undefined {
  const profile = tokenProfileForModel(model);
  const text = (s: string): number => Math.max(1, estimateTextTokens(s, profile));
  if (typeof input === 'string') return input.length > 0 ? text(input) : undefined;
  if (!Array.isArray(input) || input.length === 0) return undefined;
  if (input.every((s) => typeof s === 'string' && s.length > 0)) return (input as string[]).reduce((n, s) => n + text(s), 0);
  if (isTokenIds(input)) return input.length;
  if (input.every(isTokenIds)) return (input as number[][]).reduce((n, ids) => n + ids.length, 0);
  return undefined;
}
