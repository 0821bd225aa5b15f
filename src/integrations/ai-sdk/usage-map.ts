import type { MeteredUsage } from '../metered-call.js';
import type { GenerateResult, ModelUsage } from './model-types.js';

/**
 * The tracker's usage from the AI SDK's (`LanguageModelV3Usage`): `inputTokens.total` (else the sum of
 * `noCache`, `cacheRead`, `cacheWrite`) is the prompt, with `cacheRead` as cached and `cacheWrite` as
 * cache-write tokens; `outputTokens.total` (else `text` + `reasoning`) is the completion, with
 * `reasoning` as reasoning tokens. A side the provider did not report is taken from `fallback` (the
 * estimate); `undefined` when neither side was reported.
 *
 * @example
 * ```ts
 * toMeteredUsage({ inputTokens: { total: 12, noCache: 2, cacheRead: 10, cacheWrite: undefined },
 *                  outputTokens: { total: 8, text: 5, reasoning: 3 } }, () => estimate);
 * // { promptTokens: 12, completionTokens: 8, cachedPromptTokens: 10, reasoningTokens: 3 }
 * ```
 */
export function toMeteredUsage(usage: ModelUsage | undefined, fallback: () => MeteredUsage): MeteredUsage | undefined {
  const input = usage?.inputTokens;
  const output = usage?.outputTokens;
  const cacheRead = count(input?.cacheRead);
  const cacheWrite = count(input?.cacheWrite);
  const reasoning = count(output?.reasoning);
  const prompt = count(input?.total) ?? sum(count(input?.noCache), cacheRead, cacheWrite);
  const completion = count(output?.total) ?? sum(count(output?.text), reasoning);
  if (prompt === undefined && completion === undefined) return undefined;
  const out: MeteredUsage = {
    promptTokens: prompt ?? fallback().promptTokens,
    completionTokens: completion ?? fallback().completionTokens,
  };
  if (cacheRead !== undefined && cacheRead <= out.promptTokens) out.cachedPromptTokens = cacheRead;
  if (cacheWrite !== undefined && cacheWrite <= out.promptTokens) out.cacheWriteTokens = cacheWrite;
  if (reasoning !== undefined && reasoning <= out.completionTokens) out.reasoningTokens = reasoning;
  return out;
}

/** The text an answer delivered (text, reasoning, tool calls' names and inputs): what is charged when no usage is reported. */
export function deliveredText(content: GenerateResult['content']): string {
  let text = '';
  for (const part of content) {
    if (part.type === 'text' || part.type === 'reasoning') text += part.text;
    else if (part.type === 'tool-call') text += part.toolName + part.input;
  }
  return text;
}

/** A token count the tracker accepts, or `undefined` (absent or nonsense). */
function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

function sum(...parts: (number | undefined)[]): number | undefined {
  return parts.every((p) => p === undefined) ? undefined : parts.reduce<number>((a, b) => a + (b ?? 0), 0);
}
