import { CallAbortedError, ProviderError, TokenwardenError } from '../core/errors.js';
import { errorMessage } from '../core/error-fields.js';
import type { Backend } from '../core/types.js';

/** Network error codes (Node and undici) after which another attempt may well succeed. */
const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** HTTP statuses worth another attempt (on this or another backend). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 425 || status === 429 || status >= 500;
}

/**
 * Turns whatever a backend threw into a {@link ProviderError} whose message names the backend and
 * what it answered, e.g. `backend "primary" (openai) answered HTTP 401: invalid api key`. Errors that
 * already are ProviderErrors keep their classification; others are classified by HTTP status, network
 * error code or abort/timeout name. Unknown errors are not retryable (a bug would only repeat).
 */
export function attemptError(backend: Backend, err: unknown): ProviderError {
  if (err instanceof ProviderError) return relabelled(backend, err);
  if (err instanceof CallAbortedError) {
    // The backend gave up on its own (e.g. its own timeout): worth trying elsewhere.
    return failure(backend, err, 'TIMEOUT', true, `timed out: ${err.message}`);
  }
  const message = errorMessage(err);
  const status = statusOf(err);
  if (status !== undefined) {
    return new ProviderError({
      provider: backend.provider,
      backend: backend.name,
      status,
      isRetryable: isRetryableStatus(status),
      message: `${backendLabel(backend)} answered HTTP ${status}: ${message}`,
      cause: err,
    });
  }
  if (isTimeoutLike(err)) return failure(backend, err, 'TIMEOUT', true, `timed out: ${message}`);
  const code = connectionCode(err);
  if (code !== undefined) return failure(backend, err, 'CONNECTION_ERROR', true, `connection failed (${code}): ${message}`);
  const unknownCode = err instanceof TokenwardenError ? err.code : 'BACKEND_ERROR';
  return failure(backend, err, unknownCode, false, `failed: ${message}`);
}

/** A backend's own ProviderError, with the backend named in its message (kept as is when it already is). */
function relabelled(backend: Backend, err: ProviderError): ProviderError {
  const status = err.status;
  if (err.message.includes(`"${backend.name}"`) && (status === undefined || err.message.includes(String(status)))) {
    return err;
  }
  return new ProviderError({
    code: err.code,
    provider: backend.provider ?? err.provider,
    backend: backend.name,
    status,
    isRetryable: err.isRetryable,
    retryAfterMs: err.retryAfterMs,
    message: `${backendLabel(backend)} ${describeOutcome(status, err.code)}: ${err.message}`,
    cause: err,
  });
}

/** A failure without an HTTP status: `backend "x" (provider) <what>`. */
function failure(backend: Backend, cause: unknown, code: string, isRetryable: boolean, what: string): ProviderError {
  return new ProviderError({
    code,
    provider: backend.provider,
    backend: backend.name,
    isRetryable,
    message: `${backendLabel(backend)} ${what}`,
    cause,
  });
}

/** The error for an attempt the router's own per-backend timer cut off. */
export function attemptTimeoutError(backend: Backend, timeoutMs: number | undefined, cause?: unknown): ProviderError {
  return new ProviderError({
    code: 'TIMEOUT',
    provider: backend.provider,
    backend: backend.name,
    isRetryable: true,
    message: `${backendLabel(backend)} timed out after ${timeoutMs ?? '?'} ms`,
    cause,
  });
}

/** A stream the router cut: not retryable (text went out), charged at the reservation. */
export function streamCutError(backend: Backend, code: string, problem: string): ProviderError {
  return new ProviderError({
    code,
    provider: backend.provider,
    backend: backend.name,
    isRetryable: false,
    message: `${backendLabel(backend)} ${problem}; the stream was cut and is charged its reservation`,
  });
}

/** A backend available again only after longer than the call may wait: retryable, saying when to retry. */
export function waitTooLong(backend: Backend, waitMs: number, limitMs: number, earlier = ''): ProviderError {
  const wait = Math.ceil(waitMs);
  return new ProviderError({
    code: 'BACKEND_UNAVAILABLE',
    provider: backend.provider,
    backend: backend.name,
    status: 429,
    isRetryable: true,
    retryAfterMs: wait,
    message:
      `${backendLabel(backend)} is available again only in ${wait} ms (Retry-After or its tokens-per-minute window), ` +
      `longer than this call may wait (its attempt timeout of ${limitMs} ms)` + earlier,
  });
}

/** `backend "name" (provider)`. */
export function backendLabel(backend: Backend): string {
  return `backend "${backend.name}" (${backend.provider ?? 'unknown provider'})`;
}

function describeOutcome(status: number | undefined, code: string): string {
  if (status !== undefined) return `answered HTTP ${status}`;
  if (code === 'TIMEOUT') return 'timed out';
  return 'failed';
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const o = err as { status?: unknown; statusCode?: unknown };
  const s = typeof o.status === 'number' ? o.status : typeof o.statusCode === 'number' ? o.statusCode : undefined;
  return s !== undefined && Number.isInteger(s) && s >= 100 && s <= 599 ? s : undefined;
}

function isTimeoutLike(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

function connectionCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    if (typeof e !== 'object') break;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  if (err instanceof TypeError && err.message === 'fetch failed') return 'fetch failed';
  return undefined;
}
