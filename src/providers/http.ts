/**
 * HTTP plumbing shared by the provider adapters: a transport (undici's `request()` on its keep-alive
 * global dispatcher by default; an injected fetch when the caller passes one), a per-call timeout
 * combined with the caller's AbortSignal, a response size cap, and the mapping of every failure to a
 * {@link ProviderError} (or {@link CallAbortedError} when the caller aborted).
 *
 * Secrets (API keys) handed to {@link HttpTarget} are redacted from every message built here,
 * including error bodies echoed back by a provider.
 */
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { getGlobalDispatcher } from 'undici';
import { ProviderError, TokenwardenError } from '../core/errors.js';
import { AbortScope } from '../core/abort.js';
import { abortError, describeTarget, redact } from './call-errors.js';

/** Default response size cap: 10 MiB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/** Default per-call timeout: 2 minutes (for streams: the longest silence allowed between chunks). */
export const DEFAULT_TIMEOUT_MS = 120_000;
const ERROR_BODY_LIMIT = 64 * 1024;

/** The subset of a fetch Response the adapters use. undici's and Node's global fetch satisfy it. */
export interface FetchResponseLike {
  status: number;
  headers: { get(name: string): string | null };
  body: {
    getReader(): {
      read(): Promise<{ done: boolean; value?: Uint8Array }>;
      cancel(reason?: unknown): Promise<void>;
    };
  } | null;
}

/** Request options the adapters pass to fetch. */
export interface FetchInitLike {
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
  redirect: 'manual';
}

/**
 * A fetch implementation. Inject one to add a proxy, logging or a test double.
 *
 * @example
 * ```ts
 * const backend = new OpenAICompatibleBackend({ name: 'a', baseUrl, models: ['*'], fetch: (url, init) => fetch(url, init) });
 * ```
 */
export type FetchLike = (url: string, init: FetchInitLike) => Promise<FetchResponseLike>;

/**
 * The default transport, in fetch's shape: undici's `request()` on the global dispatcher (a keep-alive
 * connection pool per origin, no pipelining, redirects never followed). {@link postJson} and
 * {@link postStream} recognise it and skip the fetch-shaped wrapper (no WHATWG streams on the hot path).
 */
export const defaultFetch: FetchLike = async (url, init) => exchangeAsFetchResponse(await undiciExchange(url, init, init.signal));

type HeaderGetter = { get(name: string): string | null };

/** One HTTP exchange, whatever the transport: status, headers and a pull-based body. */
interface Exchange {
  status: number;
  headers: HeaderGetter;
  /** Next body chunk; `undefined` at the end. */
  read(): Promise<Uint8Array | undefined>;
  /** Reads the rest of the body, at most `limit` bytes: beyond it, `onOverflow` decides (throw, or truncate). */
  readAll(limit: number, onOverflow: (() => Error) | undefined): Promise<Uint8Array>;
  /** Drops the body and frees (or closes) the connection. Idempotent. */
  cancel(): void;
}

const NO_BYTES = new Uint8Array(0);
const decoder = new TextDecoder();

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  return parts.length === 0 ? NO_BYTES : Buffer.concat(parts, total);
}

function headerGetter(headers: Record<string, string | string[] | undefined>): HeaderGetter {
  return {
    get(name: string): string | null {
      const v = headers[name.toLowerCase()];
      if (v === undefined) return null;
      return typeof v === 'string' ? v : v.join(', ');
    },
  };
}

/** A parsed request URL, as undici's dispatcher takes it. */
interface UrlParts {
  origin: string;
  path: string;
}

// Adapters call a handful of fixed URLs; parse each once. Bounded: cleared when it grows past 256.
const urlCache = new Map<string, UrlParts>();

function urlParts(url: string): UrlParts {
  let parts = urlCache.get(url);
  if (!parts) {
    const u = new URL(url);
    parts = { origin: u.origin, path: `${u.pathname}${u.search}` };
    if (urlCache.size >= 256) urlCache.clear();
    urlCache.set(url, parts);
  }
  return parts;
}

/**
 * An abort signal in the EventEmitter shape undici's dispatcher also accepts: far cheaper to create and
 * listen to than an AbortController's EventTarget on a path taken once per provider call.
 */
class AbortEmitter extends EventEmitter {
  aborted = false;
}

async function undiciExchange(url: string, init: Omit<FetchInitLike, 'signal'>, signal: AbortSignal | AbortEmitter): Promise<Exchange> {
  const { origin, path } = urlParts(url);
  const { statusCode, headers, body } = await getGlobalDispatcher().request({
    origin,
    path,
    method: init.method,
    headers: init.headers,
    body: init.body,
    signal,
    // The call's own timer (CallScope) bounds every phase; undici's 300 s timers would only cut it short.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  return nodeStreamExchange(statusCode, headerGetter(headers), body);
}

/** Response header lookup over undici's raw `[name, value, ...]` buffers, parsed on first use. */
function rawHeaderGetter(raw: Buffer[]): HeaderGetter {
  let parsed: Map<string, string> | undefined;
  return {
    get(name: string): string | null {
      if (!parsed) {
        parsed = new Map();
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const key = raw[i]!.toString('latin1').toLowerCase();
          const value = raw[i + 1]!.toString('latin1');
          const prev = parsed.get(key);
          parsed.set(key, prev === undefined ? value : `${prev}, ${value}`);
        }
      }
      return parsed.get(name.toLowerCase()) ?? null;
    },
  };
}

/**
 * A whole-body exchange on undici's dispatcher, for answers read in one piece (JSON): a plain dispatch
 * handler collects the chunks, skipping the Readable stream, header object and async-resource
 * bookkeeping `request()` does per call. Bytes beyond `hardCap` are never kept (the connection is
 * dropped). `cancel()` aborts the request at any point before it completes.
 */
class BufferedExchange implements Exchange {
  status = 0;
  headers: HeaderGetter = rawHeaderGetter([]);
  private parts: Buffer[] = [];
  private total = 0;
  private overflowed = false;
  private ended = false;
  private drained = false;
  private failure: unknown;
  private cancelTransport: ((err: Error) => void) | undefined;
  private cancelled = false;
  private waitLimit = Infinity;
  private onBody: (() => void) | undefined;

  constructor(
    private readonly hardCap: number,
    private onHead: { resolve: (ex: Exchange) => void; reject: (err: unknown) => void } | undefined,
  ) {}

  // undici dispatch handler (the legacy shape its own request() handler implements)
  onConnect(abort: (err: Error) => void): void {
    if (this.cancelled) abort(new Error('request aborted'));
    else this.cancelTransport = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.headers = rawHeaderGetter(rawHeaders);
    const head = this.onHead;
    this.onHead = undefined;
    head?.resolve(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.overflowed || this.cancelled) return true;
    if (this.total + chunk.byteLength > this.hardCap) {
      this.overflowed = true;
      this.parts.push(chunk.subarray(0, this.hardCap - this.total));
      this.total = this.hardCap;
      this.cancel();
      this.finish();
      return true;
    }
    this.parts.push(chunk);
    this.total += chunk.byteLength;
    if (this.total > this.waitLimit) this.wake();
    return true;
  }

  onComplete(): void {
    this.finish();
  }

  onError(err: unknown): void {
    const head = this.onHead;
    if (head) {
      this.onHead = undefined;
      this.ended = true;
      head.reject(err);
      return;
    }
    if (this.ended) return;
    this.failure = err;
    this.finish();
  }

  private wake(): void {
    const wake = this.onBody;
    this.onBody = undefined;
    wake?.();
  }

  private finish(): void {
    this.ended = true;
    this.wake();
  }

  async read(): Promise<Uint8Array | undefined> {
    if (this.drained) return undefined;
    this.drained = true;
    const bytes = await this.readAll(this.hardCap, undefined);
    return bytes.byteLength > 0 ? bytes : undefined;
  }

  async readAll(limit: number, onOverflow: (() => Error) | undefined): Promise<Uint8Array> {
    if (!this.ended && this.total <= limit) {
      this.waitLimit = limit;
      await new Promise<void>((resolve) => {
        this.onBody = resolve;
      });
    }
    if (this.total > limit || this.overflowed) {
      this.cancel();
      if (onOverflow) throw onOverflow();
      const bytes = concat(this.parts, this.total);
      return bytes.byteLength > limit ? bytes.subarray(0, limit) : bytes;
    }
    if (this.failure !== undefined) throw this.failure;
    return concat(this.parts, this.total);
  }

  /** Cancels the request (before or after its headers) unless it has completed; the connection is then closed. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (!this.ended) this.cancelTransport?.(new Error('request aborted'));
  }
}

function bufferedExchange(url: string, headers: Record<string, string>, body: string, hardCap: number): { exchange: Promise<Exchange>; handler: BufferedExchange } {
  const { origin, path } = urlParts(url);
  let handler!: BufferedExchange;
  const exchange = new Promise<Exchange>((resolve, reject) => {
    handler = new BufferedExchange(hardCap, { resolve, reject });
  });
  // The call's own timer (CallScope) bounds every phase; undici's 300 s timers would only cut it short.
  getGlobalDispatcher().dispatch({ origin, path, method: 'POST', headers, body, headersTimeout: 0, bodyTimeout: 0 }, handler);
  return { exchange, handler };
}

function nodeStreamExchange(status: number, headers: HeaderGetter, body: Readable): Exchange {
  let iterator: AsyncIterator<Buffer> | undefined;
  return {
    status,
    headers,
    async read() {
      iterator ??= body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const step = await iterator.next();
      return step.done ? undefined : (step.value as Uint8Array);
    },
    readAll(limit, onOverflow) {
      return new Promise<Uint8Array>((resolve, reject) => {
        const parts: Uint8Array[] = [];
        let total = 0;
        const finish = (err: unknown): void => {
          body.off('data', onData);
          body.off('end', onEnd);
          body.off('error', onError);
          if (err !== undefined) reject(err);
          else resolve(concat(parts, total));
        };
        const onData = (chunk: Buffer): void => {
          if (total + chunk.byteLength > limit) {
            discard(body);
            if (onOverflow) return finish(onOverflow());
            parts.push(chunk.subarray(0, limit - total));
            total = limit;
            return finish(undefined);
          }
          parts.push(chunk);
          total += chunk.byteLength;
        };
        const onEnd = (): void => finish(undefined);
        const onError = (err: unknown): void => finish(err);
        body.on('data', onData);
        body.on('end', onEnd);
        body.on('error', onError);
      });
    },
    cancel() {
      discard(body);
    },
  };
}

const ignore = (): void => undefined;

/** Destroys an undici body (which then emits an abort error: swallowed here) and so its connection. */
function discard(body: Readable): void {
  if (body.destroyed) return;
  body.on('error', ignore);
  body.destroy();
}

function exchangeAsFetchResponse(ex: Exchange): FetchResponseLike {
  return {
    status: ex.status,
    headers: ex.headers,
    body: {
      getReader: () => ({
        read: async () => {
          const value = await ex.read();
          return value === undefined ? { done: true } : { done: false, value };
        },
        cancel: async () => ex.cancel(),
      }),
    },
  };
}

function fetchExchange(response: FetchResponseLike): Exchange {
  let reader: ReturnType<NonNullable<FetchResponseLike['body']>['getReader']> | undefined;
  let cancelled = false;
  const getReader = () => (reader ??= response.body?.getReader());
  const ex: Exchange = {
    status: response.status,
    headers: response.headers,
    async read() {
      const r = getReader();
      if (!r) return undefined;
      while (true) {
        const step = await r.read();
        if (step.done) return undefined;
        if (step.value) return step.value;
      }
    },
    async readAll(limit, onOverflow) {
      const parts: Uint8Array[] = [];
      let total = 0;
      while (true) {
        const value = await ex.read();
        if (value === undefined) break;
        if (total + value.byteLength > limit) {
          ex.cancel();
          if (onOverflow) throw onOverflow();
          parts.push(value.subarray(0, limit - total));
          total = limit;
          break;
        }
        parts.push(value);
        total += value.byteLength;
      }
      return concat(parts, total);
    },
    cancel() {
      if (cancelled) return;
      cancelled = true;
      const r = reader ?? response.body?.getReader();
      r?.cancel().catch(() => undefined);
    },
  };
  return ex;
}

/** Who is being called, and how. */
export interface HttpTarget {
  provider: string;
  backend: string;
  fetch: FetchLike;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Strings (API keys) that must never appear in a message. */
  secrets: readonly string[];
}

/** A parsed JSON answer. */
export interface JsonAnswer {
  status: number;
  json: unknown;
}

/** An open streaming answer: its body as capped, error-mapped byte chunks. */
export interface StreamAnswer {
  status: number;
  /** Throws ProviderError STREAM_TRUNCATED / TIMEOUT / RESPONSE_TOO_LARGE, or CallAbortedError. */
  body: AsyncIterable<Uint8Array>;
  /** Cancels the body and frees the connection (idempotent; also done when `body` ends). */
  close(): void;
}

/**
 * POSTs JSON and returns the parsed JSON answer of a 2xx response; anything else throws.
 * Timeout covers the whole call (headers and body).
 */
export async function postJson(
  target: HttpTarget,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  signal: AbortSignal | AbortScope | undefined,
): Promise<JsonAnswer> {
  const scope = new CallScope(target, signal);
  try {
    let response: Exchange;
    try {
      response = await scope.send(url, headers, body, true);
    } catch (err) {
      throw scope.mapError(err, 'connect');
    }
    const bytes = await readAll(response, target, scope, target.maxResponseBytes, true);
    const text = decoder.decode(bytes);
    try {
      return { status: response.status, json: JSON.parse(text) as unknown };
    } catch (err) {
      throw malformed(target, response.status, 'the body is not valid JSON', err);
    }
  } catch (err) {
    throw scope.mapError(err, 'body');
  } finally {
    scope.dispose();
  }
}

/**
 * POSTs JSON and opens a streaming (SSE) answer of a 2xx response; anything else throws.
 * The timeout covers the wait for the response headers, then each silence between body chunks.
 */
export async function postStream(
  target: HttpTarget,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  signal: AbortSignal | AbortScope | undefined,
): Promise<StreamAnswer> {
  const scope = new CallScope(target, signal);
  let response: Exchange;
  try {
    response = await scope.send(url, { accept: 'text/event-stream', ...headers }, body);
  } catch (err) {
    scope.dispose();
    throw scope.mapError(err, 'connect');
  }
  scope.touch();
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    scope.abortQuietly();
    response.cancel();
    scope.dispose();
  };
  async function* chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    let total = 0;
    try {
      while (true) {
        let value: Uint8Array | undefined;
        try {
          value = await response.read();
        } catch (err) {
          throw scope.mapError(err, 'stream');
        }
        if (value === undefined) return;
        total += value.byteLength;
        if (total > target.maxResponseBytes) throw tooLarge(target, response.status);
        scope.touch();
        yield value;
      }
    } finally {
      close();
    }
  }
  return { status: response.status, body: chunks(), close };
}

/**
 * Parses Retry-After (`retry-after-ms`, then `retry-after` in seconds or as an HTTP date) into ms.
 *
 * @example
 * ```ts
 * parseRetryAfter(response.headers);                 // 'retry-after: 2' → 2000
 * parseRetryAfter(new Headers({ 'retry-after-ms': '150' })); // 150
 * ```
 */
export function parseRetryAfter(headers: { get(name: string): string | null }, now: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  }
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  // Only date-shaped values: Date.parse alone would read "-3" as a year.
  if (!/[a-z]/i.test(trimmed) || !/\d{1,2}:\d{2}/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** A 200 answer whose body is unusable. Not retryable. */
export function malformed(target: HttpTarget, status: number | undefined, problem: string, cause?: unknown): ProviderError {
  return new ProviderError({
    code: 'MALFORMED_RESPONSE',
    provider: target.provider,
    backend: target.backend,
    status,
    isRetryable: false,
    message: `${describeTarget(target)} sent a malformed response` + (status ? ` (HTTP ${status})` : '') + `: ${problem}`,
    cause,
  });
}

/** Parses one SSE event's data as a JSON object, or throws MALFORMED_RESPONSE naming `what`. */
export function parseEventObject(target: HttpTarget, status: number, data: string, what: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch (err) {
    throw malformed(target, status, `${what} is not valid JSON`, err);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw malformed(target, status, `${what} is not a JSON object`);
  }
  return json as Record<string, unknown>;
}

/** A stream that ended before its terminal event: retryable, thrown after the chunks it delivered. */
export function streamTruncated(target: HttpTarget, status: number, missing: string): ProviderError {
  return new ProviderError({
    code: 'STREAM_TRUNCATED',
    provider: target.provider,
    backend: target.backend,
    status,
    isRetryable: true,
    message: `${describeTarget(target)} stream ended before its final event (${missing})`,
  });
}

function tooLarge(target: HttpTarget, status: number): ProviderError {
  return new ProviderError({
    code: 'RESPONSE_TOO_LARGE',
    provider: target.provider,
    backend: target.backend,
    status,
    isRetryable: false,
    message: `${describeTarget(target)} sent a response larger than the ${target.maxResponseBytes}-byte cap (maxResponseBytes)`,
  });
}

/** Maps a non-2xx answer to a ProviderError. */
export function statusError(target: HttpTarget, status: number, headers: { get(name: string): string | null }, bodyText: string): ProviderError {
  const detail = redact(extractErrorMessage(bodyText), target.secrets);
  const retryAfterMs = status === 429 || status >= 500 || status === 408 || status === 409 ? parseRetryAfter(headers) : undefined;
  let code = 'PROVIDER_ERROR';
  let isRetryable = false;
  if (status === 429) {
    code = 'RATE_LIMITED';
    isRetryable = true;
  } else if (status >= 500 || status === 408 || status === 409) {
    code = 'PROVIDER_UNAVAILABLE';
    isRetryable = true;
  } else if (status === 401 || status === 403) {
    code = 'AUTHENTICATION_FAILED';
  } else if (status === 400 || status === 422) {
    code = 'INVALID_REQUEST';
  } else if (status === 404) {
    code = 'NOT_FOUND';
  }
  return new ProviderError({
    code,
    provider: target.provider,
    backend: target.backend,
    status,
    isRetryable,
    retryAfterMs,
    message:
      `${describeTarget(target)} answered HTTP ${status}` +
      (detail ? `: ${detail}` : '') +
      (retryAfterMs !== undefined ? ` (retry after ${retryAfterMs} ms)` : ''),
  });
}

/** Pulls the human-readable message out of an OpenAI / Anthropic / Ollama / vLLM error body. */
function extractErrorMessage(bodyText: string): string {
  const text = bodyText.trim();
  if (!text) return '';
  try {
    const json = JSON.parse(text) as unknown;
    if (json && typeof json === 'object') {
      const obj = json as Record<string, unknown>;
      const err = obj.error;
      if (typeof err === 'string') return clip(err);
      if (err && typeof err === 'object') {
        const inner = err as Record<string, unknown>;
        if (typeof inner.message === 'string') {
          return clip(typeof inner.type === 'string' ? `${inner.type}: ${inner.message}` : inner.message);
        }
      }
      if (typeof obj.message === 'string') return clip(obj.message);
      if (typeof obj.detail === 'string') return clip(obj.detail);
    }
  } catch {
    // not JSON: use the text
  }
  return clip(text);
}

function clip(text: string): string {
  return text.length > 500 ? text.slice(0, 497) + '...' : text;
}

async function readAll(response: Exchange, target: HttpTarget, scope: CallScope, limit: number, failOnOverflow: boolean): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length'));
  if (failOnOverflow && Number.isFinite(declared) && declared > limit) {
    response.cancel();
    throw tooLarge(target, response.status);
  }
  try {
    return await response.readAll(limit, failOnOverflow ? () => tooLarge(target, response.status) : undefined);
  } catch (err) {
    throw scope.mapError(err, 'body');
  }
}

/**
 * One call's abort plumbing. The caller's signal (or the router's attempt scope, listened to by a plain
 * callback) and the timeout feed one abort by hand (rather than AbortSignal.any) so the listener and the
 * timer are removed as soon as the call ends.
 */
class CallScope {
  private aborted = false;
  /** Aborts undici's request() (streams); made on first use, as is the AbortController for an injected fetch. */
  private emitter: AbortEmitter | undefined;
  private controller: AbortController | undefined;
  /** The whole-body exchange in progress (JSON calls on the default transport). */
  private buffered: BufferedExchange | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timedOut = false;
  private unlink: (() => void) | undefined;

  constructor(
    private readonly target: HttpTarget,
    private readonly callerSignal: AbortSignal | AbortScope | undefined,
  ) {
    if (callerSignal) {
      const parent = callerSignal;
      if (parent.aborted) this.abort(parent.reason);
      else if (parent instanceof AbortScope) this.unlink = parent.onAbort(() => this.abort(parent.reason));
      else {
        const onAbort = (): void => this.abort(parent.reason);
        parent.addEventListener('abort', onAbort, { once: true });
        this.unlink = () => parent.removeEventListener('abort', onAbort);
      }
    }
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.abort(undefined);
    }, target.timeoutMs);
    this.timer.unref();
  }

  private abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    if (this.emitter) {
      this.emitter.aborted = true;
      this.emitter.emit('abort');
    }
    this.buffered?.cancel();
    this.controller?.abort(reason);
  }

  private transportSignal(): AbortEmitter {
    this.emitter ??= new AbortEmitter();
    this.emitter.aborted = this.aborted;
    return this.emitter;
  }

  private fetchSignal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  /** `whole`: the answer will be read in one piece (a JSON call), so the default transport need not stream it. */
  async send(url: string, headers: Record<string, string>, body: unknown, whole = false): Promise<Exchange> {
    if (this.aborted) throw this.mapError(undefined, 'connect');
    const { fetch } = this.target;
    const method = 'POST';
    const allHeaders = { 'content-type': 'application/json', ...headers };
    const text = JSON.stringify(body);
    let response: Exchange;
    if (fetch !== defaultFetch) {
      response = fetchExchange(await fetch(url, { method, headers: allHeaders, body: text, signal: this.fetchSignal(), redirect: 'manual' }));
    } else if (whole) {
      const { exchange, handler } = bufferedExchange(url, allHeaders, text, Math.max(this.target.maxResponseBytes, ERROR_BODY_LIMIT));
      this.buffered = handler;
      response = await exchange;
    } else {
      response = await undiciExchange(url, { method, headers: allHeaders, body: text, redirect: 'manual' }, this.transportSignal());
    }
    if (response.status >= 200 && response.status < 300) return response;
    const bytes = await readAll(response, this.target, this, ERROR_BODY_LIMIT, false);
    throw statusError(this.target, response.status, response.headers, decoder.decode(bytes));
  }

  /** Restarts the timeout (streams: the timeout is the longest silence allowed). */
  touch(): void {
    this.timer?.refresh();
  }

  abortQuietly(): void {
    this.abort(undefined);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.unlink?.();
    this.unlink = undefined;
  }

  /** Maps whatever was thrown during the call to the error the adapter should throw. */
  mapError(err: unknown, phase: 'connect' | 'body' | 'stream'): Error {
    if (err instanceof TokenwardenError) return err;
    const { target } = this;
    if (this.callerSignal?.aborted) return abortError(this.callerSignal, target);
    if (this.timedOut) {
      return new ProviderError({
        code: 'TIMEOUT',
        provider: target.provider,
        backend: target.backend,
        isRetryable: true,
        message:
          `${describeTarget(target)} did not answer within ${target.timeoutMs} ms` +
          (phase === 'stream' ? ' (silence between stream chunks)' : ''),
      });
    }
    const why = redact(describeNetworkError(err), target.secrets);
    if (phase === 'stream') {
      return new ProviderError({
        code: 'STREAM_TRUNCATED',
        provider: target.provider,
        backend: target.backend,
        isRetryable: true,
        message: `${describeTarget(target)} stream ended before its final event: ${why}`,
        cause: err,
      });
    }
    return new ProviderError({
      code: 'CONNECTION_ERROR',
      provider: target.provider,
      backend: target.backend,
      isRetryable: true,
      message: `${describeTarget(target)} connection failed${phase === 'body' ? ' while reading the response' : ''}: ${why}`,
      cause: err,
    });
  }
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${err.message} (${typeof code === 'string' ? `${code}: ` : ''}${cause.message})`;
  }
  return err.message;
}
