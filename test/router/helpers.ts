/**
 * In-test Backend doubles and a fake clock for the router tests.
 */
import { ProviderError } from '../../src/core/errors.js';
import type { Backend, BackendRequest, LLMResponse, StreamChunk, TokenUsage } from '../../src/core/types.js';

export type Responder = (req: BackendRequest, call: number) => Promise<LLMResponse> | LLMResponse;
export type StreamResponder = (req: BackendRequest, call: number) => AsyncIterable<StreamChunk>;

export interface TestBackendOptions {
  name: string;
  provider?: string;
  priority?: number;
  models?: string[];
  respond?: Responder;
  stream?: StreamResponder;
}

/** A Backend double: records requests and answers through `respond` (default: a fixed "ok" answer). */
export class TestBackend implements Backend {
  readonly name: string;
  readonly provider: string;
  priority: number;
  load = 0;
  readonly requests: BackendRequest[] = [];
  respond: Responder;
  readonly models: string[];
  private readonly streamer: StreamResponder | undefined;

  constructor(options: TestBackendOptions) {
    this.name = options.name;
    this.provider = options.provider ?? 'test';
    this.priority = options.priority ?? 1;
    this.models = options.models ?? ['*'];
    this.respond = options.respond ?? (() => okResponse('ok'));
    this.streamer = options.stream;
    if (this.streamer) {
      const streamer = this.streamer;
      this.stream = (req: BackendRequest) => {
        this.requests.push(req);
        return streamer(req, this.requests.length);
      };
    }
  }

  stream?: (req: BackendRequest) => AsyncIterable<StreamChunk>;

  get calls(): number {
    return this.requests.length;
  }

  servesModel(model: string): boolean {
    return this.models.includes('*') || this.models.includes(model);
  }

  async complete(req: BackendRequest): Promise<LLMResponse> {
    this.requests.push(req);
    return this.respond(req, this.requests.length);
  }
}

export function usage(promptTokens: number, completionTokens: number): TokenUsage {
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

/** An answer; `u: null` means the provider reported no usage. */
export function okResponse(content: string, u: TokenUsage | null = usage(10, 5), model = 'test-model'): LLMResponse {
  const res: LLMResponse = { content, model, finishReason: 'stop' };
  if (u !== null) res.usage = u;
  return res;
}

/** What a provider adapter throws for an HTTP error status. */
export function httpError(backend: string, status: number, retryAfterMs?: number): ProviderError {
  return new ProviderError({
    provider: 'test',
    backend,
    status,
    isRetryable: status === 429 || status >= 500,
    retryAfterMs,
    message: `test backend "${backend}" answered HTTP ${status}`,
  });
}

/** What a provider adapter throws for a connection reset. */
export function resetError(backend: string): ProviderError {
  return new ProviderError({
    code: 'CONNECTION_ERROR',
    provider: 'test',
    backend,
    isRetryable: true,
    message: `test backend "${backend}" connection reset`,
  });
}

/** A promise that settles only when the signal aborts (a backend that hangs but honours abort). */
export function hangUntilAborted<T>(signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((_, reject) => {
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** A clock whose sleep advances time instantly and records each wait. */
export function fakeClock(start = 1_700_000_000_000) {
  const clock = {
    t: start,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) throw signal.reason;
      clock.sleeps.push(ms);
      clock.t += ms;
    },
    advance(ms: number) {
      clock.t += ms;
    },
  };
  return clock;
}

/** A deferred promise. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Builds a stream of deltas, an optional finish and an optional usage chunk. */
export async function* chunks(parts: string[], opts: { usage?: TokenUsage; finish?: string | null } = {}): AsyncGenerator<StreamChunk> {
  for (const p of parts) yield { type: 'delta', content: p };
  if (opts.finish !== undefined) yield { type: 'finish', finishReason: opts.finish };
  if (opts.usage) yield { type: 'usage', usage: opts.usage };
}

export const hi = [{ role: 'user' as const, content: 'Hi' }];
