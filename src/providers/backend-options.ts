import { ValidationError } from '../core/errors.js';
import { assertPositiveInteger } from '../core/validate.js';
import { DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT_MS, defaultFetch, type FetchLike, type HttpTarget } from './http.js';
import { createModelMatcher } from './model-match.js';

/** Options every HTTP backend accepts. */
export interface HttpBackendOptions {
  /** Backend name, unique within a router; appears in errors and usage events. */
  name: string;
  /** API key. Kept private: never logged, never in an error or a serialized backend. */
  apiKey?: string;
  /** Models served: exact names, prefixes ending in `*`, or `'*'` for all. */
  models: string | string[];
  /** Failover order; lower is preferred. Default 1. */
  priority?: number;
  /** Per-call timeout in ms (for streams: the longest silence between chunks). Default 120 000. */
  timeoutMs?: number;
  /** Response size cap in bytes. Default 10 MiB. */
  maxResponseBytes?: number;
  /** Extra request headers (e.g. `OpenAI-Organization`). */
  headers?: Record<string, string>;
  /** Fetch implementation (proxy, logging, test double). Default: undici's `request()` on its keep-alive global dispatcher. */
  fetch?: FetchLike;
}

/** Validated common options. */
export interface ResolvedHttpOptions {
  name: string;
  apiKey: string | undefined;
  priority: number;
  headers: Record<string, string>;
  servesModel: (model: string) => boolean;
  target: HttpTarget;
}

/** Validates the common options; `provider` names the callee in errors. */
export function resolveHttpOptions(provider: string, options: HttpBackendOptions): ResolvedHttpOptions {
  if (options === null || typeof options !== 'object') throw new ValidationError('options', options, 'must be an object');
  const { name, apiKey, priority = 1, timeoutMs = DEFAULT_TIMEOUT_MS, maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES } = options;
  if (typeof name !== 'string' || name.trim() === '') throw new ValidationError('options.name', name, 'must be a non-empty string');
  if (apiKey !== undefined && typeof apiKey !== 'string') {
    // Never echo the value: it may be a secret of the wrong type.
    throw new ValidationError('options.apiKey', '[REDACTED]', 'must be a string');
  }
  if (typeof priority !== 'number' || !Number.isFinite(priority)) {
    throw new ValidationError('options.priority', priority, 'must be a finite number');
  }
  assertPositiveInteger('options.timeoutMs', timeoutMs);
  assertPositiveInteger('options.maxResponseBytes', maxResponseBytes);
  const headers = options.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new ValidationError('options.headers', headers, 'must be an object of header names to strings');
  }
  for (const [key, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw new ValidationError(`options.headers.${key}`, value, 'must be a string');
  }
  const fetch = options.fetch ?? defaultFetch;
  if (typeof fetch !== 'function') throw new ValidationError('options.fetch', fetch, 'must be a function');
  return {
    name,
    apiKey: apiKey === '' ? undefined : apiKey,
    priority,
    headers: { ...headers },
    servesModel: createModelMatcher('options.models', options.models),
    target: {
      provider,
      backend: name,
      fetch,
      timeoutMs,
      maxResponseBytes,
      secrets: apiKey ? [apiKey] : [],
    },
  };
}

/** Validates a base URL and drops trailing slashes. */
export function resolveBaseUrl(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError('options.baseUrl', value, 'must be an http(s) URL');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ValidationError('options.baseUrl', value, 'must be an http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ValidationError('options.baseUrl', value, 'must use http or https');
  }
  if (url.username || url.password) {
    throw new ValidationError('options.baseUrl', '[REDACTED]', 'must not carry credentials; use apiKey');
  }
  return value.replace(/\/+$/, '');
}
