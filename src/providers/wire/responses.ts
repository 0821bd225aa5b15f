import { isPlainObject } from '../../core/objects.js';
import type { ForwardEvent, TokenUsage } from '../../core/types.js';
import { errorMessage, eventType, isBlank, modelOf, parseEventData, passed, type SseInput } from './common.js';
import type { WireReader, WireStreamReader } from './types.js';

/**
 * Reads the usage object of OpenAI's Responses API: `input_tokens`, `output_tokens`,
 * `input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`. `undefined` unless
 * input and output are numbers; numbers as sent (the router judges them).
 *
 * @example
 * responsesUsage({ input_tokens: 20, output_tokens: 5 }); // { promptTokens: 20, completionTokens: 5, totalTokens: 25 }
 */
export function responsesUsage(raw: unknown): TokenUsage | undefined {
  if (!isPlainObject(raw)) return undefined;
  const input = raw.input_tokens;
  const output = raw.output_tokens;
  if (typeof input !== 'number' || typeof output !== 'number') return undefined;
  const usage: TokenUsage = { promptTokens: input, completionTokens: output, totalTokens: input + output };
  const cached = isPlainObject(raw.input_tokens_details) ? raw.input_tokens_details.cached_tokens : undefined;
  if (typeof cached === 'number') usage.cachedPromptTokens = cached;
  const reasoning = isPlainObject(raw.output_tokens_details) ? raw.output_tokens_details.reasoning_tokens : undefined;
  if (typeof reasoning === 'number') usage.reasoningTokens = reasoning;
  return usage;
}

/** Events whose `delta` string is output the model generated. */
const TEXT_DELTAS: ReadonlySet<string> = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
  'response.custom_tool_call_input.delta',
  'response.reasoning_summary_text.delta',
  'response.reasoning_text.delta',
  'response.code_interpreter_call_code.delta',
  'response.mcp_call_arguments.delta',
  'response.audio.transcript.delta',
]);

/** Events that end the answer; each carries the final `response` (with its usage, when reported). */
const TERMINAL: ReadonlySet<string> = new Set(['response.completed', 'response.incomplete', 'response.failed']);

function failedMessage(response: unknown): string {
  const error = isPlainObject(response) ? response.error : undefined;
  return error === undefined || error === null ? 'the response failed' : errorMessage(error);
}

function readResponsesEvent(ev: SseInput): ForwardEvent {
  const out = passed(ev);
  if (isBlank(ev.data)) return out;
  const json = parseEventData(ev.data);
  const type = eventType(ev, json);
  if (type === undefined) return out;
  if (TEXT_DELTAS.has(type)) {
    if (typeof json.delta === 'string' && json.delta) out.text = json.delta;
  } else if (TERMINAL.has(type)) {
    out.done = true;
    const response = json.response;
    const usage = isPlainObject(response) ? responsesUsage(response.usage) : undefined;
    if (usage) out.usage = usage;
    if (type === 'response.failed') out.error = failedMessage(response);
  } else if (type === 'error') {
    out.error = errorMessage(json);
  }
  return out;
}

const responsesStream: WireStreamReader = { read: readResponsesEvent };

/**
 * The reader of OpenAI's Responses API (`POST /responses`). Its stream names every event (`event:` and
 * the data's `type`): text from the output, refusal, tool-argument and reasoning `*.delta` events; usage
 * and the end from `response.completed`, `response.incomplete` and `response.failed` (the last also an
 * error); `error` events are errors. It keeps no state, so every stream shares one reader.
 *
 * @example
 * responsesReader.stream().read({ event: 'response.output_text.delta', data: '{"type":"response.output_text.delta","delta":"Hi"}' }).text; // 'Hi'
 */
export const responsesReader: WireReader = {
  usage: (body) => (isPlainObject(body) ? responsesUsage(body.usage) : undefined),
  model: modelOf,
  stream: () => responsesStream,
};
