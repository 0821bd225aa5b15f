/**
 * Wire-format readers: what metering needs (usage, model, streamed text, the end, errors) read from the
 * answers and SSE events of each wire API, which pass through unchanged. Hand-written for the hot path:
 * a stream event costs one JSON.parse and no other allocation beyond the event it returns.
 */
import type { WireApi } from '../../core/types.js';
import { chatReader } from './chat.js';
import { completionsReader } from './completions.js';
import { countTokensReader } from './count-tokens.js';
import { embeddingsReader } from './embeddings.js';
import { messagesReader } from './messages.js';
import { responsesReader } from './responses.js';
import type { WireReader } from './types.js';

export type { SseInput } from './common.js';
export type { WireReader, WireStreamReader } from './types.js';
export { chatUsage } from './chat.js';
export { responsesUsage } from './responses.js';

const READERS: Readonly<Record<WireApi, WireReader>> = {
  chat: chatReader,
  completions: completionsReader,
  responses: responsesReader,
  messages: messagesReader,
  embeddings: embeddingsReader,
  count_tokens: countTokensReader,
};

/**
 * The reader of one wire API's answers.
 *
 * @example
 * const wire = wireReader('chat');
 * wire.usage(body); // { promptTokens, completionTokens, totalTokens, ... } or undefined
 * const reader = wire.stream(); // one per stream
 * for await (const ev of parseSse(answer.body)) yield reader.read(ev); // ForwardEvent: text, usage, done, error
 */
export function wireReader(api: WireApi): WireReader {
  if (!Object.hasOwn(READERS, api)) throw new Error(`unknown wire API "${String(api)}"`);
  return READERS[api];
}
