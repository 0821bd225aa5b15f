import type { BaseMessage } from '@langchain/core/messages';
import type { ChatMessage, ContentPart, ToolCall } from '../../core/types.js';
import { estimateTokens, estimateToolsTokens } from '../../tokens/estimate.js';

const ROLES: Record<string, ChatMessage['role']> = { human: 'user', ai: 'assistant', system: 'system', developer: 'developer', tool: 'tool', function: 'tool' };

/**
 * An upper bound of the prompt tokens of a LangChain chat call, with the estimator the router uses
 * (`estimateTokens`): the messages in OpenAI's shape (text blocks as text, image blocks at the full image
 * allowance, other blocks as their JSON; an AI message's tool calls; a tool message's call id), plus the
 * tool definitions the model was bound with (`invocation_params.tools`).
 *
 * @example
 * ```ts
 * estimateLangChainPrompt([new HumanMessage('Hi')], { tools: [] }, 'gpt-4o-mini');
 * ```
 */
export function estimateLangChainPrompt(messages: readonly BaseMessage[], invocation: Record<string, unknown>, model: string): number {
  const chat = messages.map(toChatMessage);
  let total = estimateTokens(chat, { model });
  const tools = invocation.tools;
  if (Array.isArray(tools) && tools.length > 0) total += estimateToolsTokens(tools, { model });
  return total;
}

/** Prompts of a text-completion LLM (`handleLLMStart`), estimated as user messages. */
export function estimateTextPrompts(prompts: readonly string[], model: string): number {
  return estimateTokens(prompts.map((content) => ({ role: 'user' as const, content })), { model });
}

function toChatMessage(message: BaseMessage): ChatMessage {
  const loose = message as unknown as Record<string, unknown>;
  const type = typeof loose.type === 'string' ? loose.type : message._getType();
  const role = ROLES[type] ?? 'user';
  const out: ChatMessage = { role, content: content(message.content) };
  if (role !== 'user' && role !== 'system' && typeof loose.name === 'string' && loose.name) out.name = loose.name;
  if (typeof loose.tool_call_id === 'string') out.tool_call_id = loose.tool_call_id;
  const calls = loose.tool_calls;
  if (Array.isArray(calls) && calls.length > 0) out.tool_calls = calls.map(toolCall);
  return out;
}

function content(value: unknown): ChatMessage['content'] {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return value === undefined || value === null ? null : JSON.stringify(value);
  return value.map((block): ContentPart => {
    if (typeof block === 'string') return { type: 'text', text: block };
    const b = (typeof block === 'object' && block !== null ? block : {}) as Record<string, unknown>;
    if (b.type === 'text' && typeof b.text === 'string') return { type: 'text', text: b.text };
    if (b.type === 'image_url' || b.type === 'image') return { type: 'image' };
    return { type: 'text', text: JSON.stringify(block) ?? '' };
  });
}

function toolCall(call: unknown): ToolCall {
  const c = (typeof call === 'object' && call !== null ? call : {}) as Record<string, unknown>;
  const args = typeof c.args === 'string' ? c.args : (JSON.stringify(c.args ?? {}) ?? '');
  return { id: typeof c.id === 'string' ? c.id : '', type: 'function', function: { name: typeof c.name === 'string' ? c.name : '', arguments: args } };
}
