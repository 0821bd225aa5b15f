import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import { abortableSleep } from '../core/abort.js';
import { parseOptions } from '../core/options.js';
import { estimateTextTokens, estimateTokens, estimateToolsTokens, tokenProfileForModel } from '../tokens/estimate.js';
import type { Backend, BackendRequest, ChatMessage, EmbeddingBackendRequest, EmbeddingResponse, LLMResponse, StreamChunk, TokenUsage } from '../core/types.js';
import { abortError, describeTarget, type CallTarget } from './call-errors.js';
import { positiveIntegerOption } from '../core/option-schemas.js';
import { createModelMatcher, modelList } from './model-match.js';
import { mockEmbeddingAnswer } from './mock-embeddings.js';

/** How a failing mock call fails. `truncated` streams half the reply, then breaks. */
export type MockFailure = '429' | '500' | 'timeout' | 'malformed' | 'truncated';

/** Options of {@link MockBackend}. */
export interface MockBackendOptions {
  /** Default `mock`. */
  name?: string;
  /** Models served (exact names, prefixes ending in `*`, or `'*'`). Default `'*'`. */
  models?: string | string[];
  /** Default 1. */
  priority?: number;
  /** Delay before answering (and before the first stream chunk), in ms. Default 0 (no timers at all). */
  latencyMs?: number;
  /** Delay between stream chunks, in ms. Default 0. */
  chunkDelayMs?: number;
  /** PRNG seed: same seed and same calls give the same replies and failures. Default 42. */
  seed?: number;
  /** Share of calls that fail, 0..1 (drawn from the seeded PRNG, call by call). Default 0. */
  failureRate?: number;
  /** How failing calls fail. Default `'500'`. */
  failWith?: MockFailure;
  /** `retryAfterMs` carried by `'429'` failures. Default none. */
  retryAfterMs?: number;
  /** Produces the reply text. Default: a deterministic reply derived from the request. */
  reply?: (request: BackendRequest) => string;
  /** Completion tokens to report (and, for the default reply, its length in words). Default: counted from the reply. */
  completionTokens?: number;
  /** Report usage (default true). `false` mimics a provider that sends none. */
  reportUsage?: boolean;
}

const NON_NEGATIVE = 'must be a finite number >= 0';
const nonNegative = (): z.ZodNumber => z.number({ error: NON_NEGATIVE }).min(0, { error: NON_NEGATIVE });
const NON_EMPTY_NAME = 'must be a non-empty string';
const FAILURES = ['429', '500', 'timeout', 'malformed', 'truncated'] as const satisfies readonly MockFailure[];

const MockOptionsSchema = z.object(
  {
    name: z.string({ error: NON_EMPTY_NAME }).refine((name) => name.trim() !== '', { error: NON_EMPTY_NAME }).default('mock'),
    // Checked (with its own messages) by createModelMatcher.
    models: z.unknown().default('*'),
    priority: z.number({ error: 'must be a finite number' }).default(1),
    latencyMs: nonNegative().default(0),
    chunkDelayMs: nonNegative().default(0),
    seed: z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' }).default(42),
    failureRate: z.number({ error: 'must be a number from 0 to 1' }).min(0, { error: 'must be a number from 0 to 1' }).max(1, { error: 'must be a number from 0 to 1' }).default(0),
    failWith: z.enum(FAILURES, { error: 'must be one of "429", "500", "timeout", "malformed", "truncated"' }).default('500'),
    retryAfterMs: nonNegative().optional(),
    reply: z.custom<(request: BackendRequest) => string>((value) => typeof value === 'function', { error: 'must be a function (request) => string' }).optional(),
    completionTokens: positiveIntegerOption.optional(),
    reportUsage: z.boolean({ error: 'must be a boolean' }).default(true),
  },
  { error: 'must be an object' },
);

const WORDS = (
  'the a of to and in that it is for on with as this was be at by an are from or have not but all ' +
  'budget token thread agent model call usage limit cost router reply message system value result ' +
  'data request answer check plan step next first then more each time work good new small large'
).split(' ');

/**
 * An offline, deterministic backend for demos, tests and benchmarks. Replies are derived from the
 * request and the seed; prompt tokens come from `estimateTokens`; failures are drawn from a seeded
 * PRNG (no `Math.random`). With `latencyMs: 0` it uses no timers.
 *
 * @example
 * ```ts
 * const mock = new MockBackend({ seed: 7, latencyMs: 20, failureRate: 0.1, failWith: '429' });
 * const res = await mock.complete({ model: 'any', messages: [{ role: 'user', content: 'Hello' }] });
 * res.usage; // { promptTokens: …, completionTokens: …, totalTokens: … }
 * ```
 */
export class MockBackend implements Backend {
  readonly name: string;
  readonly provider = 'mock';
  priority: number;
  load = 0;
  /** Model patterns served (exact names, prefixes ending in `*`, or `'*'`), as configured. */
  readonly models: readonly string[];
  readonly #serves: (model: string) => boolean;
  readonly #latencyMs: number;
  readonly #chunkDelayMs: number;
  readonly #seed: number;
  readonly #failureRate: number;
  readonly #failWith: MockFailure;
  readonly #retryAfterMs: number | undefined;
  readonly #reply: ((request: BackendRequest) => string) | undefined;
  readonly #completionTokens: number | undefined;
  readonly #reportUsage: boolean;
  readonly #failureRng: () => number;
  #calls = 0;

  constructor(options: MockBackendOptions = {}) {
    const o = parseOptions(MockOptionsSchema, options, 'options');
    this.name = o.name;
    this.priority = o.priority;
    this.#serves = createModelMatcher('options.models', o.models);
    this.models = modelList(o.models as string | string[]);
    this.#latencyMs = o.latencyMs;
    this.#chunkDelayMs = o.chunkDelayMs;
    this.#seed = o.seed;
    this.#failureRate = o.failureRate;
    this.#failWith = o.failWith;
    this.#retryAfterMs = o.retryAfterMs;
    this.#reply = o.reply;
    this.#completionTokens = o.completionTokens;
    this.#reportUsage = o.reportUsage;
    this.#failureRng = mulberry32(o.seed);
  }

  /** Calls received so far (complete and stream). */
  get calls(): number {
    return this.#calls;
  }

  servesModel(model: string): boolean {
    return this.#serves(model);
  }

  async complete(request: BackendRequest): Promise<LLMResponse> {
    const call = this.#begin(request);
    if (this.#latencyMs > 0) await sleep(this.#latencyMs, request.signal, this.#who());
    if (call.failure) throw this.#failure(call.failure, 'complete');
    const answer = this.#answer(request);
    const response: LLMResponse = {
      content: answer.text,
      model: request.model,
      finishReason: answer.finishReason,
      id: `mock-${call.number}`,
    };
    if (this.#reportUsage) response.usage = answer.usage;
    return response;
  }

  async *stream(request: BackendRequest): AsyncGenerator<StreamChunk, void, undefined> {
    const call = this.#begin(request);
    if (this.#latencyMs > 0) await sleep(this.#latencyMs, request.signal, this.#who());
    if (call.failure && call.failure !== 'truncated') throw this.#failure(call.failure, 'stream');
    const answer = this.#answer(request);
    const pieces = answer.text.match(/\s*\S+/g) ?? [];
    const limit = call.failure === 'truncated' ? Math.floor(pieces.length / 2) : pieces.length;
    for (let i = 0; i < limit; i++) {
      if (i > 0 && this.#chunkDelayMs > 0) await sleep(this.#chunkDelayMs, request.signal, this.#who());
      if (request.signal?.aborted) throw abortError(request.signal, this.#who());
      yield { type: 'delta', content: pieces[i] as string };
    }
    if (call.failure === 'truncated') throw this.#failure('truncated', 'stream');
    yield { type: 'finish', finishReason: answer.finishReason };
    if (this.#reportUsage) yield { type: 'usage', usage: answer.usage };
  }

  /** Embeddings: one deterministic vector per input (see mock-embeddings.ts); fails and waits like `complete`. */
  async embed(request: EmbeddingBackendRequest): Promise<EmbeddingResponse> {
    const call = this.#begin(request);
    if (this.#latencyMs > 0) await sleep(this.#latencyMs, request.signal, this.#who());
    if (call.failure) throw this.#failure(call.failure, 'complete');
    return mockEmbeddingAnswer(request.body, request.model, this.#seed);
  }

  #who(): CallTarget {
    return { provider: this.provider, backend: this.name };
  }

  #begin(request: { signal?: AbortSignal }): { number: number; failure: MockFailure | undefined } {
    if (request.signal?.aborted) throw abortError(request.signal, this.#who());
    const number = ++this.#calls;
    const failure = this.#failureRate > 0 && this.#failureRng() < this.#failureRate ? this.#failWith : undefined;
    return { number, failure };
  }

  #answer(request: BackendRequest): { text: string; finishReason: string; usage: TokenUsage } {
    const cap = request.maxTokens;
    let text: string;
    let completionTokens: number;
    if (this.#reply) {
      text = this.#reply(request);
      completionTokens = this.#completionTokens ?? countText(text, request.model);
    } else {
      const rng = mulberry32(this.#seed ^ hashRequest(request));
      const wanted = this.#completionTokens ?? 12 + Math.floor(rng() * 36);
      text = defaultReply(request.messages, wanted, rng);
      completionTokens = this.#completionTokens ?? countText(text, request.model);
    }
    let finishReason = 'stop';
    if (cap !== undefined && completionTokens > cap) {
      finishReason = 'length';
      const words = text.match(/\s*\S+/g) ?? [];
      text = words.slice(0, Math.max(0, Math.floor((words.length * cap) / completionTokens))).join('');
      completionTokens = cap;
    }
    const options = { model: request.model };
    const promptTokens = estimateTokens(request.messages, options) + estimateToolsTokens(request.tools, options);
    return { text, finishReason, usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens } };
  }

  #failure(kind: MockFailure, phase: 'complete' | 'stream'): ProviderError {
    const base = this.#who();
    const who = describeTarget(base);
    switch (kind) {
      case '429':
        return new ProviderError({
          ...base,
          code: 'RATE_LIMITED',
          status: 429,
          isRetryable: true,
          retryAfterMs: this.#retryAfterMs,
          message: `${who} answered HTTP 429: simulated rate limit`,
        });
      case '500':
        return new ProviderError({
          ...base,
          code: 'PROVIDER_UNAVAILABLE',
          status: 500,
          isRetryable: true,
          message: `${who} answered HTTP 500: simulated server error`,
        });
      case 'timeout':
        return new ProviderError({ ...base, code: 'TIMEOUT', isRetryable: true, message: `${who} did not answer (simulated timeout)` });
      case 'malformed':
        return new ProviderError({
          ...base,
          code: 'MALFORMED_RESPONSE',
          status: 200,
          isRetryable: false,
          message: `${who} sent a malformed response (HTTP 200): simulated`,
        });
      case 'truncated':
        return new ProviderError({
          ...base,
          code: phase === 'stream' ? 'STREAM_TRUNCATED' : 'CONNECTION_ERROR',
          isRetryable: true,
          message:
            phase === 'stream'
              ? `${who} stream ended before its final event (simulated)`
              : `${who} connection failed while reading the response (simulated)`,
        });
    }
  }
}

function countText(text: string, model: string): number {
  return text ? Math.max(1, estimateTextTokens(text, tokenProfileForModel(model))) : 0;
}

function defaultReply(messages: ChatMessage[], words: number, rng: () => number): string {
  const last = [...messages].reverse().find((m) => m.role === 'user');
  const topic = textOf(last?.content)
    .replace(/[^\w\s'-]/g, '')
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 6);
  const out: string[] = topic.length ? ['Re:', ...topic.slice(0, -1), `${topic[topic.length - 1]}.`] : ['Mock', 'reply.'];
  while (out.length < words) out.push(WORDS[Math.floor(rng() * WORDS.length)] as string);
  return out.slice(0, Math.max(1, words)).join(' ');
}

function textOf(content: ChatMessage['content'] | undefined): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p.text === 'string' ? p.text : '')).join(' ');
  return '';
}

/** FNV-1a over the model and messages: the same request always gets the same reply. */
function hashRequest(request: BackendRequest): number {
  let h = 0x811c9dc5;
  const feed = (s: string): void => {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  };
  feed(request.model);
  for (const m of request.messages) {
    feed(m.role);
    feed(textOf(m.content));
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sleeps `ms`; an abort rejects with the CallAbortedError a provider call gives. */
async function sleep(ms: number, signal: AbortSignal | undefined, who: CallTarget): Promise<void> {
  try {
    await abortableSleep(ms, signal);
  } catch {
    throw abortError(signal as AbortSignal, who);
  }
}
