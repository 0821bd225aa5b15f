import type { TokenUsage } from '../../core/types.js';
import type { RouterResponse } from '../../router/router.js';

/** OpenAI's usage object. */
export function openAIUsage(u: TokenUsage): Record<string, unknown> {
  const out: Record<string, unknown> = {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.totalTokens,
  };
  if (u.cachedPromptTokens !== undefined) out.prompt_tokens_details = { cached_tokens: u.cachedPromptTokens };
  if (u.reasoningTokens !== undefined) out.completion_tokens_details = { reasoning_tokens: u.reasoningTokens };
  return out;
}

/** A whole `chat.completion` answer. */
export function completionJson(id: string, created: number, r: RouterResponse): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content: r.content, refusal: null };
  if (r.toolCalls && r.toolCalls.length > 0) message.tool_calls = r.toolCalls;
  return {
    id,
    object: 'chat.completion',
    created,
    model: r.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: r.finishReason ?? 'stop' }],
    usage: openAIUsage(r.usage),
    system_fingerprint: null,
  };
}

/** One SSE event carrying a `chat.completion.chunk`. */
export function chunkJson(id: string, created: number, model: string, choices: unknown[], usage?: Record<string, unknown>): string {
  const o: Record<string, unknown> = { id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices };
  if (usage) o.usage = usage;
  return `data: ${JSON.stringify(o)}\n\n`;
}
