import { estimateTextTokens, tokenProfileForModel } from '../tokens/estimate.js';
import type { TokenUsage, ToolCall } from '../core/types.js';

/** Estimated usage of a call: the prompt estimate plus the counted tokens of what was delivered. */
export function estimatedUsage(promptTokens: number, deliveredText: string, model?: string): TokenUsage {
  const profile = model === undefined ? undefined : tokenProfileForModel(model);
  const completionTokens = deliveredText.length === 0 ? 0 : estimateTextTokens(deliveredText, profile);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

/** The text a completion delivered, tool-call names and arguments included (they cost tokens too). */
export function deliveredText(content: unknown, toolCalls: unknown): string {
  let text = typeof content === 'string' ? content : '';
  // A custom backend may answer anything here: what is not a list adds no text.
  if (Array.isArray(toolCalls)) for (const call of toolCalls) text += toolCallText(call);
  return text;
}

/** Name and arguments of a tool call (full or streamed fragment) as text. */
export function toolCallText(call: unknown): string {
  if (typeof call !== 'object' || call === null) return '';
  const fn = (call as Partial<ToolCall>).function as { name?: unknown; arguments?: unknown } | undefined;
  if (!fn || typeof fn !== 'object') return '';
  return (typeof fn.name === 'string' ? fn.name : '') + (typeof fn.arguments === 'string' ? fn.arguments : '');
}
