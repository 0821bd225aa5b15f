/**
 * `POST /v1/chat/completions` body -> the router's wire-neutral request, for a model whose backend does not
 * speak the chat API (an Anthropic backend, a library backend with only `complete()`/`stream()`).
 */
import { isPlainObject } from '../../core/objects.js';
import type { CompletionRequest } from '../../core/types.js';
import { bodyModel, bodyUser, fail } from '../body-fields.js';
import { parseChatMessage } from './chat-messages.js';
import { Untranslatable, isEmpty, typeDetail } from './untranslatable.js';

/** What the translation paths hand the router (the gateway adds thread, agent, metadata, signal). */
export type NeutralRequest = Pick<
  CompletionRequest,
  'model' | 'messages' | 'maxTokens' | 'temperature' | 'topP' | 'stop' | 'tools' | 'toolChoice'
>;

/** A chat-completions body read for the neutral path. */
export interface ChatTranslation {
  request: NeutralRequest;
  stream: boolean;
  /** `stream_options.include_usage`: end the stream with a usage chunk. */
  includeUsage: boolean;
  /** OpenAI's `user` field (the gateway meters by it). */
  user?: string;
}

const MAX_MESSAGES = 100_000;
/**
 * Body fields the neutral request carries. `prompt_cache_key` and `prompt_cache_retention` are hints for
 * OpenAI's prompt cache, which asks for nothing in the answer and which another backend does not have:
 * accepted and not carried (as Anthropic's `cache_control` is on the Messages side).
 */
const TRANSLATED: ReadonlySet<string> = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'stop', 'tools', 'tool_choice',
  'stream', 'stream_options', 'user', 'n', 'prompt_cache_key', 'prompt_cache_retention',
]);
/** Fields sent at the value that asks for nothing: honoured by leaving them out. */
const INERT: Readonly<Record<string, (v: unknown) => boolean>> = {
  logprobs: (v) => v === false,
  top_logprobs: (v) => v === 0,
  frequency_penalty: (v) => v === 0,
  presence_penalty: (v) => v === 0,
  parallel_tool_calls: (v) => v === true,
  store: (v) => v === false,
  logit_bias: isEmpty,
  metadata: isEmpty,
  modalities: (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text',
  service_tier: (v) => v === 'auto' || v === 'default',
};
/**
 * `include_obfuscation` pads stream chunks against a length side channel; it changes no token of the
 * answer, and the translated stream is the gateway's own, so it is accepted and not acted on.
 */
const STREAM_OPTION_KEYS: ReadonlySet<string> = new Set(['include_usage', 'include_obfuscation']);
const FUNCTION_KEYS: ReadonlySet<string> = new Set(['name', 'description', 'parameters', 'strict']);

/**
 * Reads a chat-completions body for a backend that does not speak the chat API. Every field is either
 * translated or named: a malformed field is a 400 naming it (`messages[2].role: must be one of ...`), and
 * every present field the neutral path cannot carry is listed in ONE 400 (`code: 'unsupported_parameter'`,
 * `param` the first), e.g. `response_format, seed: the model is served by backend "claude" (anthropic),
 * which cannot honour these fields; send them to a model on an OpenAI-compatible backend, or leave them
 * out`. Fields sent at their no-op value (`logprobs: false`, `parallel_tool_calls: true`, ...) pass.
 *
 * @param backend  the serving backend as named in messages ({@link backendLabel})
 * @example
 * ```ts
 * const { request, stream } = chatBodyToRequest(JSON.parse(body), backendLabel(backend));
 * const answer = await router.complete({ ...request, threadId });
 * ```
 */
export function chatBodyToRequest(body: unknown, backend: string): ChatTranslation {
  if (!isPlainObject(body)) fail('body', 'must be a JSON object', body);
  const untranslatable = new Untranslatable();
  const model = bodyModel(body);
  untranslatable.addUnknownKeys(body, '', TRANSLATED, INERT); // listed first: the top-level fields lead the message

  const rawMessages = body.messages;
  if (!Array.isArray(rawMessages) || rawMessages.length === 0) fail('messages', 'must be a non-empty array', rawMessages);
  if (rawMessages.length > MAX_MESSAGES) fail('messages', `must have at most ${MAX_MESSAGES} entries`, rawMessages.length);
  const messages = rawMessages.map((m, i) => parseChatMessage(m, i, untranslatable));

  const out: ChatTranslation = { request: { model, messages }, stream: false, includeUsage: false };
  readStreaming(body, out, untranslatable);
  readSampling(body, out.request, backend);
  readTools(body, out.request, untranslatable);
  const user = bodyUser(body);
  if (user !== undefined) out.user = user;

  untranslatable.throwIfAny(backend, 'an OpenAI-compatible');
  return out;
}

/** `stream` and `stream_options`. */
function readStreaming(body: Record<string, unknown>, out: ChatTranslation, untranslatable: Untranslatable): void {
  if (body.stream !== undefined && body.stream !== null) {
    if (typeof body.stream !== 'boolean') fail('stream', 'must be a boolean', body.stream);
    out.stream = body.stream;
  }
  const so = body.stream_options;
  if (so === undefined || so === null) return;
  if (!isPlainObject(so)) fail('stream_options', 'must be an object', so);
  if (so.include_usage !== undefined && so.include_usage !== null) {
    if (typeof so.include_usage !== 'boolean') fail('stream_options.include_usage', 'must be a boolean', so.include_usage);
    out.includeUsage = so.include_usage;
  }
  untranslatable.addUnknownKeys(so, 'stream_options', STREAM_OPTION_KEYS);
}

/** Token cap, `n`, `temperature`, `top_p` and `stop`. */
function readSampling(body: Record<string, unknown>, out: NeutralRequest, backend: string): void {
  for (const field of ['max_completion_tokens', 'max_tokens'] as const) {
    const v = body[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) fail(field, 'must be an integer >= 1', v);
    out.maxTokens ??= v;
  }
  if (body.n !== undefined && body.n !== null) {
    if (typeof body.n !== 'number' || !Number.isInteger(body.n)) fail('n', 'must be an integer', body.n);
    if (body.n !== 1) fail('n', `must be 1: the model is served by backend ${backend}, which answers one choice per call`, body.n);
  }
  const temperature = body.temperature;
  if (temperature !== undefined && temperature !== null) {
    if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0 || temperature > 2) {
      fail('temperature', 'must be a number from 0 to 2', temperature);
    }
    out.temperature = temperature;
  }
  const topP = body.top_p;
  if (topP !== undefined && topP !== null) {
    if (typeof topP !== 'number' || !Number.isFinite(topP) || topP < 0 || topP > 1) fail('top_p', 'must be a number from 0 to 1', topP);
    out.topP = topP;
  }
  const stop = body.stop;
  if (stop !== undefined && stop !== null) {
    if (typeof stop === 'string') out.stop = stop;
    else if (Array.isArray(stop) && stop.length <= 4 && stop.every((s) => typeof s === 'string')) out.stop = stop as string[];
    else fail('stop', 'must be a string or an array of at most 4 strings', stop);
  }
}

/** `tools` (function tools only) and `tool_choice` (a mode word or one named function). */
function readTools(body: Record<string, unknown>, out: NeutralRequest, untranslatable: Untranslatable): void {
  const tools = body.tools;
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) fail('tools', 'must be an array', tools);
    tools.forEach((t, i) => {
      if (!isPlainObject(t) || typeof t.type !== 'string') fail(`tools[${i}]`, 'must be an object with a string "type"', t);
      if (t.type !== 'function') return untranslatable.add(`tools[${i}]`, typeDetail(t));
      if (!isPlainObject(t.function) || typeof t.function.name !== 'string' || t.function.name === '') {
        fail(`tools[${i}].function`, 'must be an object with a non-empty string "name"', t.function);
      }
      untranslatable.addUnknownKeys(t.function, `tools[${i}].function`, FUNCTION_KEYS);
    });
    out.tools = tools;
  }
  const choice = body.tool_choice;
  if (choice === undefined || choice === null) return;
  if (typeof choice === 'string') {
    if (choice !== 'auto' && choice !== 'none' && choice !== 'required') fail('tool_choice', 'must be "auto", "none", "required" or an object', choice);
  } else if (!isPlainObject(choice)) {
    fail('tool_choice', 'must be a string or an object', choice);
  } else if (choice.type !== 'function') {
    untranslatable.add('tool_choice', typeDetail(choice));
  } else if (!isPlainObject(choice.function) || typeof choice.function.name !== 'string') {
    fail('tool_choice.function', 'must be an object with a string "name"', choice.function);
  }
  out.toolChoice = choice;
}
