/**
 * The router's answer -> an Anthropic Messages answer (`type: 'message'`), for a `/v1/messages` call served
 * by a backend that does not speak the Messages API. The streamed form is {@link MessagesStreamTranslator}.
 */
import { randomBytes } from 'node:crypto';
import { isPlainObject } from '../../core/objects.js';
import type { TokenUsage, ToolCall } from '../../core/types.js';

/** What {@link messageJson} reads of a router answer (a `RouterResponse` fits). */
export interface NeutralAnswer {
  content: string | null;
  toolCalls?: ToolCall[];
  finishReason: string | null;
  model: string;
  usage?: TokenUsage;
}

/** Anthropic's usage object of an answer. */
export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/**
 * The key a tool call's arguments are kept under when they are not a JSON object (a model's broken JSON).
 * Anthropic's `input` must be an object; `{}` would hide what the model wrote, so the text is kept: the
 * client's tool check fails on it and says so, and the model sees its own output in the next turn.
 */
export const RAW_ARGUMENTS_KEY = '_raw_arguments';

/** A new Anthropic-style message id, `msg_` and 24 hex digits. */
export function newMessageId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

/** A new Anthropic-style tool-use id, for a tool call that came without one. */
export function newToolUseId(): string {
  return `toolu_${randomBytes(12).toString('hex')}`;
}

/**
 * OpenAI's finish reason -> Anthropic's stop reason: `stop` -> `end_turn`, `length` -> `max_tokens`,
 * `tool_calls` / `function_call` -> `tool_use`, `content_filter` -> `refusal`, anything else `end_turn`.
 * An answer with tool calls that says `stop` (some OpenAI-compatible servers do) is `tool_use`: Anthropic
 * clients run the tools on that word.
 */
export function stopReason(finishReason: string | null | undefined, hasToolCalls: boolean): string {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return hasToolCalls ? 'tool_use' : 'end_turn';
  }
}

/**
 * TokenUsage -> Anthropic's counters. Anthropic's `input_tokens` excludes the tokens read from or written to
 * the cache, which TokenUsage counts inside `promptTokens`; no usage is all zeros.
 */
export function anthropicUsage(usage: TokenUsage | undefined): AnthropicUsage {
  if (!usage) return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const read = usage.cachedPromptTokens ?? 0;
  const write = usage.cacheWriteTokens ?? 0;
  return {
    input_tokens: Math.max(0, usage.promptTokens - read - write),
    output_tokens: usage.completionTokens,
    cache_creation_input_tokens: write,
    cache_read_input_tokens: read,
  };
}

/**
 * A tool call's JSON arguments as an Anthropic `input` object: empty text is `{}`; text that is not a JSON
 * object is kept under {@link RAW_ARGUMENTS_KEY}.
 */
export function toolInput(args: string): Record<string, unknown> {
  if (args.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(args);
    if (isPlainObject(parsed)) return parsed;
  } catch {
    // kept raw below
  }
  return { [RAW_ARGUMENTS_KEY]: args };
}

/**
 * A whole Anthropic Messages answer: a text block (when there is text), one `tool_use` block per tool call,
 * the stop reason, and usage split as Anthropic reports it. `stop_sequence` is null: the chat API does not
 * say which stop sequence ended an answer.
 *
 * @param requestModel  named when the answer names no model
 * @param id  the message id (default: a new `msg_...`)
 * @example
 * ```ts
 * const result = await router.complete(request);
 * sendJson(res, 200, messageJson(result, request.model, `msg_${result.event.id}`));
 * ```
 */
export function messageJson(result: NeutralAnswer, requestModel: string, id = newMessageId()): Record<string, unknown> {
  const content: Record<string, unknown>[] = [];
  if (result.content) content.push({ type: 'text', text: result.content });
  const calls = result.toolCalls ?? [];
  for (const call of calls) {
    content.push({ type: 'tool_use', id: call.id || newToolUseId(), name: call.function.name, input: toolInput(call.function.arguments ?? '') });
  }
  return {
    id,
    type: 'message',
    role: 'assistant',
    model: result.model || requestModel,
    content,
    stop_reason: stopReason(result.finishReason, calls.length > 0),
    stop_sequence: null,
    usage: anthropicUsage(result.usage),
  };
}
