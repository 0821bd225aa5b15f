import { z } from 'zod';
import { ProviderError } from '../core/errors.js';
import { abortableSleep } from '../core/abort.js';
import { parseOptions } from '../core/options.js';
import { estimateTokens, estimateToolsTokens } from '../tokens/estimate.js';
import type {
  Backend,
  BackendRequest,
  EmbeddingBackendRequest,
  EmbeddingResponse,
  ForwardEvent,
  ForwardRequest,
  ForwardResponse,
  LLMResponse,
  StreamChunk,
  TokenUsage,
  WireApi,
} from '../core/types.js';
import { WIRE_APIS } from '../core/types.js';
import { abortError, describeTarget, type CallTarget } from './call-errors.js';
import { positiveIntegerOption } from '../core/option-schemas.js';
import { createModelMatcher, modelList } from './model-match.js';
import { mockEmbeddingAnswer } from './mock-embeddings.js';
import { readPrompt, type MockOutput } from './mock-prompt.js';
import { countText, defaultReply, hashRequest, mulberry32 } from './mock-reply.js';
import { mockSchemaValue } from './mock-schema.js';
import type { MockChoice, MockTurn } from './mock-turn.js';
import { MOCK_STREAM_APIS, mockWireBody, mockWireEvents } from './mock-wire.js';

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
/** OpenAI's limit on `n`. */
const MAX_CHOICES = 128;
const TEXT: MockOutput = { kind: 'text' };
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


/**
 * An offline, deterministic backend for demos, tests and benchmarks. Replies are derived from the
 * request and the seed; prompt tokens come from `estimateTokens`; failures are drawn from a seeded
 * PRNG (no `Math.random`). With `latencyMs: 0` it uses no timers.
 *
 * It speaks every wire API natively (`apis`): `forward` / `forwardStream` answer OpenAI chat completions,
 * Responses, legacy completions and embeddings and Anthropic Messages and count_tokens in each API's own
 * format, well enough for the official clients (`openai`, `@anthropic-ai/sdk`, the Vercel AI SDK, LangChain)
 * to parse: `n` choices, logprobs, forced tool calls and JSON-schema answers with schema-valid values,
 * output caps (finish reasons `length` / `max_tokens` / `incomplete`) and the streams' real event sequences.
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

  /** Every wire API: the mock answers each in its own format through `forward` / `forwardStream`. */
  readonly apis: readonly WireApi[] = WIRE_APIS;

  /** Calls received so far (complete, stream, embed, forward and forwardStream). */
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

  /**
   * Answers a request of any wire API in that API's own format (see {@link apis}): the body as the API's
   * official clients parse it, and its usage. Fails and waits like `complete`.
   *
   * @example
   * ```ts
   * const res = await new MockBackend().forward({ api: 'messages', model: 'claude-x', body: { model: 'claude-x', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] } });
   * (res.body as { type: string }).type; // 'message'
   * ```
   */
  async forward(request: ForwardRequest): Promise<ForwardResponse> {
    const call = this.#begin(request);
    if (this.#latencyMs > 0) await sleep(this.#latencyMs, request.signal, this.#who());
    if (call.failure) throw this.#failure(call.failure, 'complete');
    if (request.api === 'embeddings') {
      const answer = mockEmbeddingAnswer(request.body, request.model, this.#seed);
      const promptTokens = answer.usage?.promptTokens ?? 0;
      return { body: answer.body, usage: { promptTokens, completionTokens: 0, totalTokens: promptTokens }, model: request.model };
    }
    const turn = this.#turn(request, call.number);
    // Counting tokens bills nothing: its usage is zero, the count is in the body.
    const usage = request.api === 'count_tokens' ? { promptTokens: 0, completionTokens: 0, totalTokens: 0 } : turn.usage;
    return { body: mockWireBody(request.api, turn, request.body), usage, model: request.model };
  }

  /**
   * Streams a request of `chat`, `responses`, `completions` or `messages` as that API's SSE events, each
   * with what metering reads from it. Fails, waits and breaks off (`truncated`) like `stream`.
   */
  async *forwardStream(request: ForwardRequest): AsyncGenerator<ForwardEvent, void, undefined> {
    const call = this.#begin(request);
    if (this.#latencyMs > 0) await sleep(this.#latencyMs, request.signal, this.#who());
    if (call.failure && call.failure !== 'truncated') throw this.#failure(call.failure, 'stream');
    if (!MOCK_STREAM_APIS.has(request.api)) {
      const who = describeTarget(this.#who());
      throw new ProviderError({ ...this.#who(), code: 'INVALID_REQUEST', status: 400, isRetryable: false, message: `${who} does not stream ${request.api}` });
    }
    const events = mockWireEvents(request.api, this.#turn(request, call.number), request.body);
    const limit = call.failure === 'truncated' ? Math.floor(events.length / 2) : events.length;
    for (let i = 0; i < limit; i++) {
      const event = events[i] as ForwardEvent;
      if (i > 0 && event.text !== undefined && this.#chunkDelayMs > 0) await sleep(this.#chunkDelayMs, request.signal, this.#who());
      if (request.signal?.aborted) throw abortError(request.signal, this.#who());
      yield event;
    }
    if (call.failure === 'truncated') throw this.#failure('truncated', 'stream');
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
    const choice = this.#choice(request, 0, TEXT);
    const options = { model: request.model };
    const promptTokens = estimateTokens(request.messages, options) + estimateToolsTokens(request.tools, options);
    const { completionTokens } = choice;
    return { text: choice.text, finishReason: choice.finish, usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens } };
  }

  /** The mock's answer to one wire request: its choices and usage, before any format is applied. */
  #turn(request: ForwardRequest, number: number): MockTurn {
    const prompt = readPrompt(request.api, request.body, request.model);
    const base: BackendRequest = { model: request.model, messages: prompt.messages, maxTokens: prompt.cap, tools: prompt.tools };
    const choices = Array.from({ length: Math.min(prompt.n, MAX_CHOICES) }, (_, i) => this.#choice(base, i, prompt.output));
    const completionTokens = choices.reduce((sum, c) => sum + c.completionTokens, 0);
    const turn: MockTurn = { number, model: request.model, created: Math.floor(Date.now() / 1000), choices, promptTokens: prompt.promptTokens };
    if (this.#reportUsage) turn.usage = { promptTokens: prompt.promptTokens, completionTokens, totalTokens: prompt.promptTokens + completionTokens };
    return turn;
  }

  /**
   * Choice `variant` of a request (variant 0 is what `complete` answers): text from the `reply` option or the
   * seeded default, JSON of the asked schema, or a tool call's arguments; cut at `request.maxTokens`.
   */
  #choice(request: BackendRequest, variant: number, output: MockOutput): MockChoice {
    const rng = mulberry32(this.#seed ^ hashRequest(request) ^ Math.imul(variant, 0x9e3779b9));
    let text: string;
    if (output.kind === 'text' && this.#reply) text = this.#reply(request);
    else {
      const words = this.#completionTokens ?? 12 + Math.floor(rng() * 36);
      const reply = defaultReply(request.messages, words, rng);
      if (output.kind === 'text') text = reply;
      else {
        const value = output.schema === undefined ? undefined : mockSchemaValue(output.schema, rng);
        const object = typeof value === 'object' && value !== null ? value : output.kind === 'json' ? { answer: reply } : {};
        text = JSON.stringify(object);
      }
    }
    const tool = output.kind === 'tool' ? { name: output.name } : undefined;
    const tokens = this.#completionTokens ?? countText(text, request.model);
    const cap = request.maxTokens;
    if (cap === undefined || tokens <= cap) return { text, finish: tool ? 'tool' : 'stop', completionTokens: tokens, ...(tool && { tool }) };
    // Text is cut at a word, JSON (no spaces to speak of) at a character: in proportion to the cap.
    const pieces = output.kind === 'text' ? (text.match(/\s*\S+/g) ?? []) : [...text];
    const cut = pieces.slice(0, Math.max(0, Math.floor((pieces.length * cap) / tokens))).join('');
    return { text: cut, finish: 'length', completionTokens: cap, ...(tool && { tool }) };
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

/** Sleeps `ms`; an abort rejects with the CallAbortedError a provider call gives. */
async function sleep(ms: number, signal: AbortSignal | undefined, who: CallTarget): Promise<void> {
  try {
    await abortableSleep(ms, signal);
  } catch {
    throw abortError(signal as AbortSignal, who);
  }
}
