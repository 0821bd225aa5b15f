import { isPlainObject } from '../../core/objects.js';
import type { ForwardEvent, TokenUsage } from '../../core/types.js';
import { errorMessage, isBlank, modelOf, parseEventData, passed, str, type SseInput } from './common.js';
import type { WireReader, WireStreamReader } from './types.js';

/**
 * Reads OpenAI's usage object of `/chat/completions` (and of the legacy `/completions`):
 * `prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`,
 * `completion_tokens_details.reasoning_tokens`. `undefined` when absent or when prompt or completion is
 * not a number. Numbers are passed on as sent (negative, fractional, beyond 2^53): the router judges
 * them and refuses usage no upstream could honestly report, rather than a reader quietly dropping it.
 *
 * @example
 * chatUsage({ prompt_tokens: 12, completion_tokens: 3 }); // { promptTokens: 12, completionTokens: 3, totalTokens: 15 }
 */
export function chatUsage(raw: unknown): TokenUsage | undefined {
  if (!isPlainObject(raw)) return undefined;
  const prompt = raw.prompt_tokens;
  const completion = raw.completion_tokens;
  if (typeof prompt !== 'number' || typeof completion !== 'number') return undefined;
  const usage: TokenUsage = { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion };
  const cached = isPlainObject(raw.prompt_tokens_details) ? raw.prompt_tokens_details.cached_tokens : undefined;
  if (typeof cached === 'number') usage.cachedPromptTokens = cached;
  const reasoning = isPlainObject(raw.completion_tokens_details) ? raw.completion_tokens_details.reasoning_tokens : undefined;
  if (typeof reasoning === 'number') usage.reasoningTokens = reasoning;
  return usage;
}

/** The output text of one streamed chat choice: content, refusal, reasoning and tool-call name and arguments. */
function chatChoiceText(choice: Record<string, unknown>): string {
  const delta = choice.delta;
  if (!isPlainObject(delta)) return '';
  // DeepSeek and vLLM send reasoning_content; OpenRouter and others reasoning.
  let text = str(delta.content) + str(delta.refusal) + str(delta.reasoning_content) + str(delta.reasoning);
  const calls = delta.tool_calls;
  if (Array.isArray(calls)) {
    for (const call of calls) {
      if (isPlainObject(call) && isPlainObject(call.function)) text += str(call.function.name) + str(call.function.arguments);
    }
  }
  // The deprecated single function call, still sent by some servers.
  const fn = delta.function_call;
  if (isPlainObject(fn)) text += str(fn.name) + str(fn.arguments);
  return text;
}

/**
 * A stream reader of OpenAI-style chunks (`chat.completion.chunk`, legacy `text_completion`), the output
 * text of a choice read by `choiceText`: `[DONE]` ends the stream, a non-null `error` is an error, a
 * `usage` is reported (and `usageOnly` when the chunk has no choices: the `include_usage` chunk).
 */
export function openAIChunkReader(choiceText: (choice: Record<string, unknown>) => string): WireStreamReader {
  return {
    read(ev: SseInput): ForwardEvent {
      const out = passed(ev);
      if (ev.data === '[DONE]') {
        out.done = true;
        return out;
      }
      if (isBlank(ev.data)) return out;
      const json = parseEventData(ev.data);
      if (json.error !== undefined && json.error !== null) out.error = errorMessage(json.error);
      const choices = json.choices;
      let text = '';
      if (Array.isArray(choices)) {
        // n > 1 interleaves the choices' deltas: every one of them is delivered output.
        for (const choice of choices) if (isPlainObject(choice)) text += choiceText(choice);
      }
      if (text) out.text = text;
      const usage = chatUsage(json.usage);
      if (usage) {
        out.usage = usage;
        if (!Array.isArray(choices) || choices.length === 0) out.usageOnly = true;
      }
      return out;
    },
  };
}

/**
 * The reader of OpenAI's `/chat/completions` answers.
 *
 * @example
 * const reader = chatReader.stream();
 * reader.read({ data: '{"choices":[{"index":0,"delta":{"content":"Hi"}}]}' }).text; // 'Hi'
 * reader.read({ data: '[DONE]' }).done; // true
 */
export const chatReader: WireReader = {
  usage: (body) => (isPlainObject(body) ? chatUsage(body.usage) : undefined),
  model: modelOf,
  stream: () => openAIChunkReader(chatChoiceText),
};
