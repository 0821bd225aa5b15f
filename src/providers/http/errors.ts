/**
 * The error taxonomy of an HTTP call to a provider: every failure becomes a {@link ProviderError} with a
 * stable code (or {@link CallAbortedError} when the caller aborted). Secrets of the target are redacted
 * from every message, including error bodies echoed back by a provider.
 */
import { ProviderError, TokenwardenError, type CallAbortedError } from '../../core/errors.js';
import { isPlainObject } from '../../core/objects.js';
import { abortError, describeTarget, redactSecrets } from '../call-errors.js';
import type { HeaderGetter } from './exchange.js';
import { parseRetryAfter } from './retry-after.js';
import type { HttpTarget } from './target.js';

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
  if (!isPlainObject(json)) throw malformed(target, status, `${what} is not a JSON object`);
  return json;
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

/** A body beyond `maxResponseBytes`. Not retryable. */
export function tooLarge(target: HttpTarget, status: number): ProviderError {
  return new ProviderError({
    code: 'RESPONSE_TOO_LARGE',
    provider: target.provider,
    backend: target.backend,
    status,
    isRetryable: false,
    message: `${describeTarget(target)} sent a response larger than the ${target.maxResponseBytes}-byte cap (maxResponseBytes)`,
  });
}

const RETRYABLE_STATUS_CODE: Record<number, string> = { 429: 'RATE_LIMITED', 408: 'PROVIDER_UNAVAILABLE', 409: 'PROVIDER_UNAVAILABLE' };
const FINAL_STATUS_CODE: Record<number, string> = {
  401: 'AUTHENTICATION_FAILED',
  403: 'AUTHENTICATION_FAILED',
  400: 'INVALID_REQUEST',
  422: 'INVALID_REQUEST',
  404: 'NOT_FOUND',
};

/** Maps a non-2xx answer to a ProviderError. */
export function statusError(target: HttpTarget, status: number, headers: HeaderGetter, bodyText: string): ProviderError {
  const detail = redactSecrets(extractErrorMessage(bodyText), target.secrets);
  const isRetryable = status >= 500 || RETRYABLE_STATUS_CODE[status] !== undefined;
  const retryAfterMs = isRetryable ? parseRetryAfter(headers) : undefined;
  const code = isRetryable
    ? (RETRYABLE_STATUS_CODE[status] ?? 'PROVIDER_UNAVAILABLE')
    : (FINAL_STATUS_CODE[status] ?? 'PROVIDER_ERROR');
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
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return clip(text); // not JSON: use the text
  }
  if (isPlainObject(json)) {
    const err = json.error;
    if (typeof err === 'string') return clip(err);
    if (isPlainObject(err) && typeof err.message === 'string') {
      return clip(typeof err.type === 'string' ? `${err.type}: ${err.message}` : err.message);
    }
    if (typeof json.message === 'string') return clip(json.message);
    if (typeof json.detail === 'string') return clip(json.detail);
  }
  return clip(text);
}

function clip(text: string): string {
  return text.length > 500 ? text.slice(0, 497) + '...' : text;
}

/** A network error's message with its cause's code and message (`fetch failed (ECONNREFUSED: connect ...)`). */
function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${err.message} (${typeof code === 'string' ? `${code}: ` : ''}${cause.message})`;
  }
  return err.message;
}

/** Where in a call a failure happened. */
export type CallPhase = 'connect' | 'body' | 'stream';

/** What a failed call's error depends on: the caller's signal and whether the call's own timer fired. */
export interface CallState {
  target: HttpTarget;
  callerSignal: { readonly aborted: boolean; readonly reason: unknown } | undefined;
  timedOut: boolean;
}

/** Maps whatever was thrown during a call to the error the adapter should throw. */
export function callError(err: unknown, call: CallState, phase: CallPhase): ProviderError | CallAbortedError | Error {
  if (err instanceof TokenwardenError) return err;
  const { target, callerSignal } = call;
  if (callerSignal?.aborted) return abortError(callerSignal, target);
  const base = { provider: target.provider, backend: target.backend, isRetryable: true };
  if (call.timedOut) {
    const silence = phase === 'stream' ? ' (silence between stream chunks)' : '';
    return new ProviderError({ ...base, code: 'TIMEOUT', message: `${describeTarget(target)} did not answer within ${target.timeoutMs} ms${silence}` });
  }
  const why = redactSecrets(describeNetworkError(err), target.secrets);
  if (phase === 'stream') {
    return new ProviderError({
      ...base,
      code: 'STREAM_TRUNCATED',
      message: `${describeTarget(target)} stream ended before its final event: ${why}`,
      cause: err,
    });
  }
  const reading = phase === 'body' ? ' while reading the response' : '';
  return new ProviderError({ ...base, code: 'CONNECTION_ERROR', message: `${describeTarget(target)} connection failed${reading}: ${why}`, cause: err });
}
