import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import { attemptScopeOf } from '../core/abort.js';
import type { Backend, BackendRequest, EmbeddingBackendRequest, EmbeddingResponse, ForwardEvent, ForwardRequest, ForwardResponse, LLMResponse, StreamChunk, TokenUsage, ToolCall, WireApi } from '../core/types.js';
import { forwardJson, forwardSse } from './http/forward.js';
import { resolveBaseUrl, resolveHttpOptions, type HttpBackendOptions } from './backend-options.js';
import { abortError, describeTarget, redactSecrets } from './call-errors.js';
import { malformed, parseEventObject, streamTruncated } from './http/errors.js';
import { postJson, postStream } from './http/post.js';
import type { HttpTarget } from './http/target.js';
import { isPlainObject } from '../core/objects.js';
import { parseSse } from './sse.js';
import { chatUsage } from './wire/chat.js';

/** Options of {@link OpenAICompatibleBackend}. */
export interface OpenAICompatibleBackendOptions extends HttpBackendOptions {
  /** API base URL, e.g. `https://api.openai.com/v1`; requests go to `{baseUrl}/chat/completions`. */
  baseUrl: string;
  /** Provider word for usage events and errors: `openai` (default), `xai`, `ollama`, `vllm`, ... */
  provider?: string;
  /** Body field carrying the completion cap. Default `max_tokens`; OpenAI's reasoning models want `max_completion_tokens`. */
  maxTokensParam?: 'max_tokens' | 'max_completion_tokens';
}

/** Paths under the base URL of the APIs passed through. */
const OPENAI_PATHS: Partial<Record<WireApi, string>> = { chat: 'chat/completions', responses: 'responses', completions: 'completions', embeddings: 'embeddings' };

const PROVIDER_WORD = 'must be a provider word such as "openai" or "xai"';

/**
 * The options only this adapter takes; the common ones are checked by resolveHttpOptions, between these
 * two (the order of the checks, so the option named first, is as it always was).
 */
const ProviderOptionSchema = z.object(
  {
    provider: z
      .string({ error: PROVIDER_WORD })
      .regex(/^[a-z0-9][a-z0-9_.-]*$/i, { error: PROVIDER_WORD })
      .default('openai'),
  },
  { error: 'must be an object' },
);
const MaxTokensParamSchema = z.object({
  maxTokensParam: z
    .enum(['max_tokens', 'max_completion_tokens'], { error: 'must be "max_tokens" or "max_completion_tokens"' })
    .default('max_tokens'),
});

/**
 * A backend speaking OpenAI's chat-completions protocol: OpenAI, xAI, Ollama's `/v1`, vLLM, or any
 * compatible base URL. Tools and tool_choice pass through unchanged; usage (including cached prompt
 * and reasoning tokens) is mapped to {@link TokenUsage}.
 *
 * @example
 * ```ts
 * const openai = new OpenAICompatibleBackend({
 *   name: 'openai', baseUrl: 'https://api.openai.com/v1', apiKey: process.env.OPENAI_API_KEY, models: ['gpt-4o*'],
 * });
 * const res = await openai.complete({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
 * for await (const chunk of openai.stream({ model: 'gpt-4o-mini', messages })) { ... }
 * ```
 */
export class OpenAICompatibleBackend implements Backend {
  readonly name: string;
  readonly provider: string;
  priority: number;
  load = 0;
  readonly baseUrl: string;
  /** Model patterns served (exact names, prefixes ending in `*`, or `'*'`), as configured. */
  readonly models: readonly string[];
  /** The OpenAI APIs passed through unchanged: `/chat/completions`, `/responses`, `/completions`, `/embeddings`. */
  readonly apis: readonly WireApi[] = ['chat', 'responses', 'completions', 'embeddings'];
  readonly #apiKey: string | undefined;
  readonly #headers: Record<string, string>;
  readonly #target: HttpTarget;
  readonly #serves: (model: string) => boolean;
  readonly #maxTokensParam: 'max_tokens' | 'max_completion_tokens';

  constructor(options: OpenAICompatibleBackendOptions) {
    const { provider } = parseOptions(ProviderOptionSchema, options, 'options');
    const resolved = resolveHttpOptions(provider, options);
    const { maxTokensParam } = parseOptions(MaxTokensParamSchema, options, 'options');
    this.name = resolved.name;
    this.provider = provider;
    this.priority = resolved.priority;
    this.models = resolved.models;
    this.baseUrl = resolveBaseUrl(options.baseUrl);
    this.#apiKey = resolved.apiKey;
    this.#headers = resolved.headers;
    this.#target = resolved.target;
    this.#serves = resolved.servesModel;
    this.#maxTokensParam = maxTokensParam;
  }

  /** This backend's own timeout of one call, ms (the router waits no longer than this for a Retry-After). */
  get timeoutMs(): number {
    return this.#target.timeoutMs;
  }

  servesModel(model: string): boolean {
    return this.#serves(model);
  }

  /** Sends one chat completion. Throws ProviderError (see http/errors.ts for codes) or CallAbortedError. */
  async complete(request: BackendRequest): Promise<LLMResponse> {
    const { status, json } = await postJson(this.#target, this.#url(), this.#requestHeaders(), this.#body(request, false), attemptScopeOf(request) ?? request.signal);
    return parseCompletion(this.#target, status, json, request.model);
  }

  /**
   * Sends one embeddings request (`POST {baseUrl}/embeddings`) with the client's body unchanged; returns
   * the answer's body as sent and its `usage.prompt_tokens`. Throws like {@link complete}.
   */
  async embed(request: EmbeddingBackendRequest): Promise<EmbeddingResponse> {
    const url = `${this.baseUrl}/embeddings`;
    const { status, json } = await postJson(this.#target, url, this.#requestHeaders(), request.body, attemptScopeOf(request) ?? request.signal);
    if (!isPlainObject(json)) throw malformed(this.#target, status, 'the body is not a JSON object');
    const usage = isPlainObject(json.usage) ? json.usage : undefined;
    const prompt = usage?.prompt_tokens;
    return typeof prompt === 'number' ? { body: json, usage: { promptTokens: prompt } } : { body: json };
  }

  /**
   * Streams one chat completion: `delta` chunks (content and/or OpenAI-shaped tool-call deltas), one
   * `finish`, then one `usage` if the provider reported usage. A stream cut before `data: [DONE]` (and
   * before any finish_reason) throws a retryable ProviderError `STREAM_TRUNCATED` after yielding what
   * arrived.
   */
  async *stream(request: BackendRequest): AsyncGenerator<StreamChunk, void, undefined> {
    const target = this.#target;
    const abort = attemptScopeOf(request) ?? request.signal;
    const answer = await postStream(target, this.#url(), this.#requestHeaders(), this.#body(request, true), abort);
    let usage: TokenUsage | undefined;
    let finished = false;
    let done = false;
    try {
      for await (const event of parseSse(answer.body)) {
        // Events already buffered must not outrun the caller's abort.
        if (abort?.aborted) throw abortError(abort, target);
        if (event.data === '[DONE]') {
          done = true;
          break;
        }
        if (event.data.trim() === '') continue;
        const json = parseEventObject(target, answer.status, event.data, 'a stream event');
        if (json.error !== undefined && json.error !== null) throw streamError(target, json.error);
        const chunkUsage = mapUsage(json.usage);
        if (chunkUsage) usage = chunkUsage;
        const choices = Array.isArray(json.choices) ? json.choices : [];
        const choice = choices.find((c: unknown) => isPlainObject(c) && (c.index === undefined || c.index === 0));
        if (!isPlainObject(choice)) continue;
        const delta = isPlainObject(choice.delta) ? choice.delta : {};
        const content = typeof delta.content === 'string' ? delta.content : '';
        const toolCalls = Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0 ? (delta.tool_calls as unknown[]) : undefined;
        if (content || toolCalls) yield toolCalls ? { type: 'delta', content, toolCalls } : { type: 'delta', content };
        if (typeof choice.finish_reason === 'string' && !finished) {
          finished = true;
          yield { type: 'finish', finishReason: choice.finish_reason };
        }
      }
      if (!done && !finished) {
        throw streamTruncated(target, answer.status, 'no finish_reason, no [DONE]');
      }
      if (usage) yield { type: 'usage', usage };
    } finally {
      answer.close();
    }
  }

  /**
   * Sends a request of one of {@link apis} with its body unchanged to `{baseUrl}/{path}` (only the backend's
   * key is added); the answer's body as sent, with its usage and model. Throws like {@link complete}.
   */
  forward(request: ForwardRequest): Promise<ForwardResponse> {
    return forwardJson(this.#target, this.#apiUrl(request), this.#requestHeaders(), request);
  }

  /** Streams a request of one of {@link apis} with its body unchanged: every SSE event as sent, read for metering. */
  forwardStream(request: ForwardRequest): AsyncGenerator<ForwardEvent, void, undefined> {
    return forwardSse(this.#target, this.#apiUrl(request), this.#requestHeaders(), request);
  }

  #url(): string {
    return `${this.baseUrl}/chat/completions`;
  }

  #apiUrl(request: ForwardRequest): string {
    const path = OPENAI_PATHS[request.api];
    if (path === undefined) throw new ProviderError({ code: 'UNSUPPORTED_API', provider: this.provider, backend: this.name, isRetryable: false, message: `backend "${this.name}" does not speak the ${request.api} API` });
    return `${this.baseUrl}/${path}`;
  }

  #requestHeaders(): Record<string, string> {
    return this.#apiKey ? { ...this.#headers, authorization: `Bearer ${this.#apiKey}` } : { ...this.#headers };
  }

  #body(request: BackendRequest, stream: boolean): Record<string, unknown> {
    const body: Record<string, unknown> = { model: request.model, messages: request.messages };
    if (request.maxTokens !== undefined) body[this.#maxTokensParam] = request.maxTokens;
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.topP !== undefined) body.top_p = request.topP;
    if (request.stop !== undefined) body.stop = request.stop;
    if (request.tools !== undefined) body.tools = request.tools;
    if (request.toolChoice !== undefined) body.tool_choice = request.toolChoice;
    if (stream) {
      body.stream = true;
      body.stream_options = { include_usage: true };
    }
    return body;
  }

  /** Never exposes the API key. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, provider: this.provider, baseUrl: this.baseUrl, priority: this.priority };
  }
}

function parseCompletion(target: HttpTarget, status: number, json: unknown, requestedModel: string): LLMResponse {
  if (!isPlainObject(json)) throw malformed(target, status, 'the body is not a JSON object');
  if (!Array.isArray(json.choices)) throw malformed(target, status, 'the body has no "choices" array');
  const choice: unknown = json.choices[0];
  if (!isPlainObject(choice) || !isPlainObject(choice.message)) {
    throw malformed(target, status, 'choices[0].message is missing');
  }
  const message = choice.message;
  const response: LLMResponse = {
    content: contentText(message.content),
    model: typeof json.model === 'string' && json.model ? json.model : requestedModel,
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
  };
  const usage = mapUsage(json.usage);
  if (usage) response.usage = usage;
  if (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) {
    response.toolCalls = message.tool_calls as ToolCall[];
  }
  if (typeof json.id === 'string') response.id = json.id;
  return response;
}

function contentText(content: unknown): string | null {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p: unknown) => (isPlainObject(p) && typeof p.text === 'string' ? p.text : '')).join('');
  }
  return null;
}

/**
 * Maps an OpenAI usage object; `undefined` when absent or without numeric token counts, numbers as sent.
 * The chat wire reader's {@link chatUsage}, kept under this name for its callers.
 */
export const mapUsage: (raw: unknown) => TokenUsage | undefined = chatUsage;

function streamError(target: HttpTarget, error: unknown): ProviderError {
  const obj = isPlainObject(error) ? error : {};
  const text = typeof error === 'string' ? error : typeof obj.message === 'string' ? obj.message : JSON.stringify(error);
  return new ProviderError({
    code: 'PROVIDER_ERROR',
    provider: target.provider,
    backend: target.backend,
    isRetryable: true,
    message: `${describeTarget(target)} reported an error mid-stream: ${redactSecrets(text, target.secrets).slice(0, 500)}`,
  });
}
