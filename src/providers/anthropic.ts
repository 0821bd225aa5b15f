import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import { positiveIntegerOption } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { attemptScopeOf } from '../core/abort.js';
import type { Backend, BackendRequest, ForwardEvent, ForwardRequest, ForwardResponse, LLMResponse, StreamChunk, ToolCall, WireApi } from '../core/types.js';
import { forwardJson, forwardSse } from './http/forward.js';
import { mapStopReason, readUsage, toAnthropicBody, toTokenUsage, type AnthropicUsageCounters } from './anthropic-convert.js';
import { resolveBaseUrl, resolveHttpOptions, type HttpBackendOptions } from './backend-options.js';
import { abortError, describeTarget, redactSecrets } from './call-errors.js';
import { malformed, parseEventObject, streamTruncated } from './http/errors.js';
import { postJson, postStream } from './http/post.js';
import type { HttpTarget } from './http/target.js';
import { isPlainObject } from '../core/objects.js';
import { parseSse } from './sse.js';

/** Default Anthropic API base URL. */
export const ANTHROPIC_BASE_URL = 'https://api.anthropic.com';

/** Options of {@link AnthropicBackend}. */
export interface AnthropicBackendOptions extends HttpBackendOptions {
  /** Default `https://api.anthropic.com`; requests go to `{baseUrl}/v1/messages`. */
  baseUrl?: string;
  /** `max_tokens` sent when the request has no `maxTokens` (Anthropic requires one). Default 4096. */
  defaultMaxTokens?: number;
  /** `anthropic-version` header. Default `2023-06-01`. */
  anthropicVersion?: string;
}

/** Error event types after which another attempt may succeed. */
const RETRYABLE_STREAM_ERRORS = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

const VERSION_WORD = 'must be a non-empty string such as "2023-06-01"';

/** The options only this adapter takes; the common ones are checked by resolveHttpOptions. */
const AnthropicOptionsSchema = z.object({
  defaultMaxTokens: positiveIntegerOption.default(4096),
  anthropicVersion: z.string({ error: VERSION_WORD }).min(1, { error: VERSION_WORD }).default('2023-06-01'),
});

/**
 * A backend speaking Anthropic's Messages API. Requests are converted from the OpenAI shape (system
 * messages lifted into `system`, tools and tool results converted); responses are converted back
 * (text joined, `tool_use` → toolCalls, stop_reason → OpenAI finish reasons). Usage counts cache reads
 * and writes as prompt tokens and reports them as `cachedPromptTokens` / `cacheWriteTokens`.
 *
 * @example
 * ```ts
 * const claude = new AnthropicBackend({ name: 'claude', apiKey: process.env.ANTHROPIC_API_KEY, models: ['claude-*'] });
 * const res = await claude.complete({ model: 'claude-sonnet-4', messages: [{ role: 'user', content: 'Hi' }] });
 * ```
 */
export class AnthropicBackend implements Backend {
  readonly name: string;
  readonly provider = 'anthropic';
  priority: number;
  load = 0;
  readonly baseUrl: string;
  /** Model patterns served (exact names, prefixes ending in `*`, or `'*'`), as configured. */
  readonly models: readonly string[];
  readonly defaultMaxTokens: number;
  readonly anthropicVersion: string;
  /** Anthropic's APIs passed through unchanged: `/v1/messages` and `/v1/messages/count_tokens`. */
  readonly apis: readonly WireApi[] = ['messages', 'count_tokens'];
  readonly #apiKey: string | undefined;
  readonly #headers: Record<string, string>;
  readonly #target: HttpTarget;
  readonly #serves: (model: string) => boolean;

  constructor(options: AnthropicBackendOptions) {
    const resolved = resolveHttpOptions('anthropic', options);
    const { defaultMaxTokens, anthropicVersion } = parseOptions(AnthropicOptionsSchema, options, 'options');
    this.name = resolved.name;
    this.priority = resolved.priority;
    this.models = resolved.models;
    this.baseUrl = resolveBaseUrl(options.baseUrl ?? ANTHROPIC_BASE_URL);
    this.defaultMaxTokens = defaultMaxTokens;
    this.anthropicVersion = anthropicVersion;
    this.#apiKey = resolved.apiKey;
    this.#headers = resolved.headers;
    this.#target = resolved.target;
    this.#serves = resolved.servesModel;
  }

  /** This backend's own timeout of one call, ms (the router waits no longer than this for a Retry-After). */
  get timeoutMs(): number {
    return this.#target.timeoutMs;
  }

  servesModel(model: string): boolean {
    return this.#serves(model);
  }

  /** Sends one message. Throws ProviderError (see http/errors.ts for codes), CallAbortedError or ValidationError. */
  async complete(request: BackendRequest): Promise<LLMResponse> {
    const body = toAnthropicBody(request, this.defaultMaxTokens);
    const { status, json } = await postJson(this.#target, this.#url(), this.#requestHeaders(), body, attemptScopeOf(request) ?? request.signal);
    return parseMessage(this.#target, status, json, request.model);
  }

  /**
   * Streams one message: text and OpenAI-shaped tool-call deltas, one `finish`, then one `usage`
   * (from message_start and message_delta) when the provider reported it. An `error` event throws a
   * ProviderError (retryable for overloaded/api/rate-limit errors); a stream cut before message_stop
   * (and before any stop_reason) throws a retryable `STREAM_TRUNCATED`, after yielding what arrived.
   */
  async *stream(request: BackendRequest): AsyncGenerator<StreamChunk, void, undefined> {
    const target = this.#target;
    const body = { ...toAnthropicBody(request, this.defaultMaxTokens), stream: true };
    const abort = attemptScopeOf(request) ?? request.signal;
    const answer = await postStream(target, this.#url(), this.#requestHeaders(), body, abort);
    const counters: AnthropicUsageCounters = {};
    const toolIndexByBlock = new Map<number, number>();
    let finished = false;
    let stopped = false;
    try {
      for await (const event of parseSse(answer.body)) {
        // Events already buffered must not outrun the caller's abort.
        if (abort?.aborted) throw abortError(abort, target);
        if (event.event === 'ping' || event.data.trim() === '') continue;
        const json = parseEventObject(target, answer.status, event.data, `the data of a "${event.event}" event`);
        const type = typeof json.type === 'string' ? json.type : event.event;
        if (type === 'message_start') {
          if (isPlainObject(json.message)) readUsage(json.message.usage, counters);
        } else if (type === 'content_block_start') {
          const chunk = blockStartChunk(json, toolIndexByBlock);
          if (chunk) yield chunk;
        } else if (type === 'content_block_delta') {
          const chunk = blockDeltaChunk(json, toolIndexByBlock);
          if (chunk) yield chunk;
        } else if (type === 'message_delta') {
          readUsage(json.usage, counters);
          const delta = isPlainObject(json.delta) ? json.delta : {};
          if (delta.stop_reason !== undefined && delta.stop_reason !== null && !finished) {
            finished = true;
            yield { type: 'finish', finishReason: mapStopReason(delta.stop_reason) };
          }
        } else if (type === 'message_stop') {
          stopped = true;
          break;
        } else if (type === 'error') {
          throw streamError(target, answer.status, json.error);
        }
      }
      if (!stopped && !finished) {
        throw streamTruncated(target, answer.status, 'no stop_reason, no message_stop');
      }
      const usage = toTokenUsage(counters);
      if (usage) yield { type: 'usage', usage };
    } finally {
      answer.close();
    }
  }

  /**
   * Sends a Messages (or count_tokens) request with its body unchanged, with the backend's key and the
   * client's `anthropic-version` (else the backend's) and `anthropic-beta`; the answer as sent, with its usage.
   */
  forward(request: ForwardRequest): Promise<ForwardResponse> {
    return forwardJson(this.#target, this.#forwardUrl(request), this.#forwardHeaders(request), request);
  }

  /** Streams a Messages request with its body unchanged: every SSE event as sent, read for metering. */
  forwardStream(request: ForwardRequest): AsyncGenerator<ForwardEvent, void, undefined> {
    return forwardSse(this.#target, this.#forwardUrl(request), this.#forwardHeaders(request), request);
  }

  #url(): string {
    return `${this.baseUrl}/v1/messages`;
  }

  #forwardUrl(request: ForwardRequest): string {
    if (request.api === 'count_tokens') return `${this.baseUrl}/v1/messages/count_tokens`;
    if (request.api === 'messages') return this.#url();
    throw new ProviderError({ code: 'UNSUPPORTED_API', provider: this.provider, backend: this.name, isRetryable: false, message: `backend "${this.name}" does not speak the ${request.api} API` });
  }

  #forwardHeaders(request: ForwardRequest): Record<string, string> {
    const headers = this.#requestHeaders();
    const version = request.headers?.['anthropic-version'];
    if (version !== undefined) headers['anthropic-version'] = version;
    const beta = request.headers?.['anthropic-beta'];
    if (beta !== undefined) headers['anthropic-beta'] = beta;
    return headers;
  }

  #requestHeaders(): Record<string, string> {
    const headers: Record<string, string> = { ...this.#headers, 'anthropic-version': this.anthropicVersion };
    if (this.#apiKey) headers['x-api-key'] = this.#apiKey;
    return headers;
  }

  /** Never exposes the API key. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, provider: this.provider, baseUrl: this.baseUrl, priority: this.priority };
  }
}

/** The delta a `content_block_start` event carries: a tool call's head, or a text block's first text. */
function blockStartChunk(json: Record<string, unknown>, toolIndexByBlock: Map<number, number>): StreamChunk | undefined {
  const block = isPlainObject(json.content_block) ? json.content_block : {};
  const index = typeof json.index === 'number' ? json.index : 0;
  if (block.type === 'tool_use') {
    const toolIndex = toolIndexByBlock.size;
    toolIndexByBlock.set(index, toolIndex);
    const call = { index: toolIndex, id: block.id, type: 'function', function: { name: block.name, arguments: '' } };
    return { type: 'delta', content: '', toolCalls: [call] };
  }
  if (block.type === 'text' && typeof block.text === 'string' && block.text) return { type: 'delta', content: block.text };
  return undefined;
}

/** The delta a `content_block_delta` event carries: text, or a piece of a tool call's JSON arguments. */
function blockDeltaChunk(json: Record<string, unknown>, toolIndexByBlock: Map<number, number>): StreamChunk | undefined {
  const delta = isPlainObject(json.delta) ? json.delta : {};
  if (delta.type === 'text_delta' && typeof delta.text === 'string') {
    return delta.text ? { type: 'delta', content: delta.text } : undefined;
  }
  if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
    const toolIndex = toolIndexByBlock.get(typeof json.index === 'number' ? json.index : -1);
    if (toolIndex !== undefined && delta.partial_json) {
      return { type: 'delta', content: '', toolCalls: [{ index: toolIndex, function: { arguments: delta.partial_json } }] };
    }
  }
  return undefined;
}

function parseMessage(target: HttpTarget, status: number, json: unknown, requestedModel: string): LLMResponse {
  if (!isPlainObject(json)) throw malformed(target, status, 'the body is not a JSON object');
  if (!Array.isArray(json.content)) throw malformed(target, status, 'the body has no "content" array');
  const texts: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of json.content as unknown[]) {
    if (!isPlainObject(block)) continue;
    if (block.type === 'text' && typeof block.text === 'string') texts.push(block.text);
    else if (block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string') {
      toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    }
  }
  const response: LLMResponse = {
    content: texts.length > 0 ? texts.join('') : null,
    model: typeof json.model === 'string' && json.model ? json.model : requestedModel,
    finishReason: mapStopReason(json.stop_reason),
  };
  const counters: AnthropicUsageCounters = {};
  readUsage(json.usage, counters);
  const usage = toTokenUsage(counters);
  if (usage) response.usage = usage;
  if (toolCalls.length > 0) response.toolCalls = toolCalls;
  if (typeof json.id === 'string') response.id = json.id;
  return response;
}

function streamError(target: HttpTarget, status: number, error: unknown): ProviderError {
  const obj = isPlainObject(error) ? error : {};
  const type = typeof obj.type === 'string' ? obj.type : 'error';
  const text = typeof obj.message === 'string' ? obj.message : '';
  return new ProviderError({
    code: type === 'rate_limit_error' ? 'RATE_LIMITED' : type === 'overloaded_error' ? 'PROVIDER_UNAVAILABLE' : 'PROVIDER_ERROR',
    provider: target.provider,
    backend: target.backend,
    status,
    isRetryable: RETRYABLE_STREAM_ERRORS.has(type),
    message: `${describeTarget(target)} sent a stream error event: ${type}${text ? `: ${redactSecrets(text, target.secrets).slice(0, 500)}` : ''}`,
  });
}
