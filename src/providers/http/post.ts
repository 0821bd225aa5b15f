/**
 * The two calls the provider adapters make: POST JSON and read a JSON answer ({@link postJson}), or POST
 * JSON and read an SSE stream ({@link postStream}). Each call runs in one {@link AbortScope}: the caller's
 * signal (or the router's attempt scope) plus the call's timeout, which cancels the transport when it
 * fires. Non-2xx answers, caps, timeouts and network failures become errors from errors.ts.
 */
import { AbortScope } from '../../core/abort.js';
import { callError, statusError, tooLarge, malformed, type CallPhase, type CallState } from './errors.js';
import type { Exchange } from './exchange.js';
import { fetchExchange } from './fetch-exchange.js';
import type { HttpTarget } from './target.js';
import { dispatchExchange } from './undici-exchange.js';

const ERROR_BODY_LIMIT = 64 * 1024;
const decoder = new TextDecoder();

/** A parsed JSON answer. */
export interface JsonAnswer {
  status: number;
  json: unknown;
  /** The answer's JSON text as received. */
  text: string;
}

/** A request body that is JSON text already (a client's, passed through): sent as it is, not re-serialised. */
export class JsonText {
  constructor(readonly text: string) {}
}

/** An open streaming answer: its body as capped, error-mapped byte chunks. */
export interface StreamAnswer {
  status: number;
  /** Throws ProviderError STREAM_TRUNCATED / TIMEOUT / RESPONSE_TOO_LARGE, or CallAbortedError. */
  body: AsyncIterable<Uint8Array>;
  /** Cancels the body and frees the connection (idempotent; also done when `body` ends). */
  close(): void;
}

type CallerAbort = AbortSignal | AbortScope | undefined;

/** One call: its target, the caller's abort, and the scope that adds the call's timeout to it. */
class HttpCall implements CallState {
  readonly scope: AbortScope;

  constructor(
    readonly target: HttpTarget,
    readonly callerSignal: CallerAbort,
    streamed: boolean,
  ) {
    // Streams: the timeout is the longest silence allowed (restarted by touch()); JSON: the whole call.
    this.scope = new AbortScope(callerSignal, target.timeoutMs, { idle: streamed });
  }

  get timedOut(): boolean {
    return this.scope.cause === 'timeout';
  }

  error(err: unknown, phase: CallPhase): Error {
    return callError(err, this, phase);
  }

  /** POSTs; resolves with a 2xx exchange, throws the mapped error of anything else. */
  async send(url: string, headers: Record<string, string>, body: unknown, streamed: boolean): Promise<Exchange> {
    const { scope, target } = this;
    if (scope.aborted) throw this.error(undefined, 'connect');
    const allHeaders = { 'content-type': 'application/json', ...headers };
    const text = body instanceof JsonText ? body.text : JSON.stringify(body);
    let response: Exchange;
    if (target.fetch) {
      response = await fetchExchange(target.fetch, url, allHeaders, text, scope.signal);
    } else {
      const hardCap = streamed ? Infinity : Math.max(target.maxResponseBytes, ERROR_BODY_LIMIT);
      const { exchange, handle } = dispatchExchange(url, allHeaders, text, { hardCap, streamed });
      scope.onAbort(() => handle.cancel());
      response = await exchange;
    }
    if (response.status >= 200 && response.status < 300) return response;
    const bytes = await this.readAll(response, ERROR_BODY_LIMIT, false);
    throw statusError(target, response.status, response.headers, decoder.decode(bytes));
  }

  async readAll(response: Exchange, limit: number, failOnOverflow: boolean): Promise<Uint8Array> {
    const { target } = this;
    const declared = Number(response.headers.get('content-length'));
    if (failOnOverflow && Number.isFinite(declared) && declared > limit) {
      response.cancel();
      throw tooLarge(target, response.status);
    }
    try {
      return await response.readAll(limit, failOnOverflow ? () => tooLarge(target, response.status) : undefined);
    } catch (err) {
      throw this.error(err, 'body');
    }
  }
}

/**
 * POSTs JSON and returns the parsed JSON answer of a 2xx response; anything else throws.
 * Timeout covers the whole call (headers and body).
 */
export async function postJson(target: HttpTarget, url: string, headers: Record<string, string>, body: unknown, signal: CallerAbort): Promise<JsonAnswer> {
  const call = new HttpCall(target, signal, false);
  try {
    let response: Exchange;
    try {
      response = await call.send(url, headers, body, false);
    } catch (err) {
      throw call.error(err, 'connect');
    }
    const text = decoder.decode(await call.readAll(response, target.maxResponseBytes, true));
    try {
      return { status: response.status, json: JSON.parse(text) as unknown, text };
    } catch (err) {
      throw malformed(target, response.status, 'the body is not valid JSON', err);
    }
  } catch (err) {
    throw call.error(err, 'body');
  } finally {
    call.scope.dispose();
  }
}

/**
 * POSTs JSON and opens a streaming (SSE) answer of a 2xx response; anything else throws.
 * The timeout covers the wait for the response headers, then each silence between body chunks.
 */
export async function postStream(target: HttpTarget, url: string, headers: Record<string, string>, body: unknown, signal: CallerAbort): Promise<StreamAnswer> {
  const call = new HttpCall(target, signal, true);
  const { scope } = call;
  let response: Exchange;
  try {
    response = await call.send(url, { accept: 'text/event-stream', ...headers }, body, true);
  } catch (err) {
    scope.dispose();
    throw call.error(err, 'connect');
  }
  scope.touch();
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    scope.abort();
    response.cancel();
    scope.dispose();
  };
  return { status: response.status, body: streamChunks(call, response, close), close };
}

async function* streamChunks(call: HttpCall, response: Exchange, close: () => void): AsyncGenerator<Uint8Array, void, undefined> {
  const { target, scope } = call;
  let total = 0;
  try {
    while (true) {
      let value: Uint8Array | undefined;
      try {
        value = await response.read();
      } catch (err) {
        throw call.error(err, 'stream');
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
