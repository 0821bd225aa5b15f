import type { LLMResult } from '@langchain/core/outputs';
import type { MeteredUsage } from '../metered-call.js';

/**
 * The usage a LangChain result reports: the first generation message's `usage_metadata` (`input_tokens`
 * with `input_token_details.cache_read`/`cache_creation`, `output_tokens` with
 * `output_token_details.reasoning`), else `llmOutput.tokenUsage` (`promptTokens`, `completionTokens`),
 * else `llmOutput.usage` (Anthropic's `input_tokens`, `output_tokens`). `undefined` when none is reported.
 *
 * @example
 * ```ts
 * resultUsage({ generations: [[{ text: 'hi', message: aiMessageWith({ input_tokens: 12, output_tokens: 3 }) }]] });
 * // { promptTokens: 12, completionTokens: 3 }
 * ```
 */
export function resultUsage(output: LLMResult): MeteredUsage | undefined {
  for (const generation of output.generations.flat()) {
    const usage = record(record(generation as unknown)?.message)?.usage_metadata;
    const read = fromUsageMetadata(record(usage));
    if (read) return read;
  }
  const llmOutput = record(output.llmOutput);
  const tokenUsage = record(llmOutput?.tokenUsage);
  const prompt = count(tokenUsage?.promptTokens);
  const completion = count(tokenUsage?.completionTokens);
  if (prompt !== undefined && completion !== undefined) return { promptTokens: prompt, completionTokens: completion };
  const anthropic = record(llmOutput?.usage);
  const input = count(anthropic?.input_tokens);
  const outputTokens = count(anthropic?.output_tokens);
  if (input !== undefined && outputTokens !== undefined) return { promptTokens: input, completionTokens: outputTokens };
  return undefined;
}

/** The text a result delivered (its generations' text and tool calls), charged when no usage is reported. */
export function resultText(output: LLMResult): string {
  let text = '';
  for (const generation of output.generations.flat()) {
    text += generation.text ?? '';
    const calls = record(record(generation as unknown)?.message)?.tool_calls;
    if (Array.isArray(calls)) for (const call of calls) text += toolCallText(call);
  }
  return text;
}

/** The model that answered, as the result says (`response_metadata.model_name` or `.model`), if it does. */
export function resultModel(output: LLMResult): string | undefined {
  const first = record(record(output.generations[0]?.[0] as unknown)?.message);
  const meta = record(first?.response_metadata);
  const name = meta?.model_name ?? meta?.model ?? record(output.llmOutput)?.model_name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** Name and arguments of a tool call or tool-call chunk as text. */
export function toolCallText(call: unknown): string {
  const c = record(call);
  if (!c) return '';
  const args = typeof c.args === 'string' ? c.args : c.args === undefined ? '' : (JSON.stringify(c.args) ?? '');
  return (typeof c.name === 'string' ? c.name : '') + args;
}

function fromUsageMetadata(usage: Record<string, unknown> | undefined): MeteredUsage | undefined {
  const prompt = count(usage?.input_tokens);
  const completion = count(usage?.output_tokens);
  if (prompt === undefined || completion === undefined) return undefined;
  const out: MeteredUsage = { promptTokens: prompt, completionTokens: completion };
  const input = record(usage?.input_token_details);
  const output = record(usage?.output_token_details);
  const cacheRead = count(input?.cache_read);
  const cacheWrite = count(input?.cache_creation);
  const reasoning = count(output?.reasoning);
  if (cacheRead && cacheRead <= prompt) out.cachedPromptTokens = cacheRead;
  if (cacheWrite && cacheWrite <= prompt) out.cacheWriteTokens = cacheWrite;
  if (reasoning && reasoning <= completion) out.reasoningTokens = reasoning;
  return out;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}
