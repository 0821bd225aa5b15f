/**
 * Errors in Anthropic's shape, for the `/v1/messages` endpoints: `{ type: 'error', error: { type, message } }`
 * (https://docs.claude.com/en/api/errors), as JSON or as the SSE `error` event of a stream already started.
 */

/** Anthropic's error `type` values. */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

/** Anthropic's error body. */
export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
  /** Present when a request id is given (Anthropic sends its own `req_...`). */
  request_id?: string;
}

const BY_STATUS: Readonly<Record<number, AnthropicErrorType>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/**
 * The error type Anthropic uses for an HTTP status: 400 `invalid_request_error`, 401
 * `authentication_error`, 402 `billing_error`, 403 `permission_error`, 404 `not_found_error`, 413
 * `request_too_large`, 429 `rate_limit_error`, 500/502 `api_error`, 503/529 `overloaded_error`, 504
 * `timeout_error`; any other 4xx `invalid_request_error` (as Anthropic documents), anything else `api_error`.
 */
export function anthropicErrorType(status: number): AnthropicErrorType {
  const known = BY_STATUS[status];
  if (known) return known;
  return status >= 400 && status < 500 ? 'invalid_request_error' : 'api_error';
}

/**
 * An error body in Anthropic's shape.
 *
 * @example
 * ```ts
 * anthropicErrorBody(429, 'Thread "t1" budget exhausted');
 * // { type: 'error', error: { type: 'rate_limit_error', message: 'Thread "t1" budget exhausted' } }
 * ```
 */
export function anthropicErrorBody(status: number, message: string, requestId?: string): AnthropicErrorBody {
  const body: AnthropicErrorBody = { type: 'error', error: { type: anthropicErrorType(status), message } };
  if (requestId !== undefined) body.request_id = requestId;
  return body;
}

/** The same error as the SSE `error` event that ends a Messages stream after its 200 was sent. */
export function anthropicErrorEvent(status: number, message: string): string {
  return `event: error\ndata: ${JSON.stringify(anthropicErrorBody(status, message))}\n\n`;
}
