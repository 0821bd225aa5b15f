import { isPlainObject } from '../../core/objects.js';
import type { ForwardEvent } from '../../core/types.js';
import { readUsage, toTokenUsage, type AnthropicUsageCounters } from '../anthropic-convert.js';
import { errorMessage, eventType, isBlank, modelOf, parseEventData, passed, str, type SseInput } from './common.js';
import type { WireReader, WireStreamReader } from './types.js';

/** The output text a `content_block_start` opens with: a tool's name, or text already in the block. */
function blockStartText(block: unknown): string {
  if (!isPlainObject(block)) return '';
  if (block.type === 'tool_use' || block.type === 'server_tool_use' || block.type === 'mcp_tool_use') return str(block.name);
  if (block.type === 'text') return str(block.text);
  if (block.type === 'thinking') return str(block.thinking);
  return '';
}

/** The output text of a `content_block_delta`: text, tool-input JSON or thinking. */
function blockDeltaText(delta: unknown): string {
  if (!isPlainObject(delta)) return '';
  switch (delta.type) {
    case 'text_delta':
      return str(delta.text);
    case 'input_json_delta':
      return str(delta.partial_json);
    case 'thinking_delta':
      return str(delta.thinking);
    default:
      return '';
  }
}

/**
 * Anthropic splits a stream's usage: `message_start` carries the input and cache counts (and the output
 * so far), each `message_delta` the cumulative output (sometimes input and cache counts again). The
 * reader merges them and reports the running total on every event that carries usage.
 */
class MessagesStreamReader implements WireStreamReader {
  readonly #counters: AnthropicUsageCounters = {};

  read(ev: SseInput): ForwardEvent {
    const out = passed(ev);
    if (isBlank(ev.data)) return out;
    const json = parseEventData(ev.data);
    let text = '';
    let usage: unknown;
    switch (eventType(ev, json)) {
      case 'message_start':
        usage = isPlainObject(json.message) ? json.message.usage : undefined;
        break;
      case 'message_delta':
        usage = json.usage;
        break;
      case 'content_block_start':
        text = blockStartText(json.content_block);
        break;
      case 'content_block_delta':
        text = blockDeltaText(json.delta);
        break;
      case 'message_stop':
        out.done = true;
        break;
      case 'error':
        out.error = errorMessage(json.error ?? json);
        break;
    }
    if (text) out.text = text;
    if (isPlainObject(usage)) {
      readUsage(usage, this.#counters);
      const total = toTokenUsage(this.#counters);
      if (total) out.usage = total;
    }
    return out;
  }
}

/**
 * The reader of Anthropic's `/v1/messages` answers. Usage maps as the Anthropic adapter's does: the
 * prompt counts `input_tokens` plus cache reads and writes; `cachedPromptTokens` is
 * `cache_read_input_tokens`, `cacheWriteTokens` `cache_creation_input_tokens`.
 *
 * @example
 * messagesReader.usage({ usage: { input_tokens: 10, cache_read_input_tokens: 90, output_tokens: 4 } });
 * // { promptTokens: 100, completionTokens: 4, totalTokens: 104, cachedPromptTokens: 90 }
 */
export const messagesReader: WireReader = {
  usage(body) {
    if (!isPlainObject(body)) return undefined;
    const counters: AnthropicUsageCounters = {};
    readUsage(body.usage, counters);
    return toTokenUsage(counters);
  },
  model: modelOf,
  stream: () => new MessagesStreamReader(),
};
