import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { functionOption, positiveIntegerOption } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import type { FetchLike } from './http/fetch-exchange.js';
import { DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT_MS, type HttpTarget } from './http/target.js';
import { createModelMatcher, modelList } from './model-match.js';

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
  /** Fetch implementation (proxy, logging, test double). Default: undici's keep-alive global dispatcher, with no fetch layer. */
  fetch?: FetchLike;
}

/** Validated common options. */
export interface ResolvedHttpOptions {
  name: string;
  apiKey: string | undefined;
  priority: number;
  headers: Record<string, string>;
  /** The model patterns as configured (a single string becomes a one-entry list). */
  models: readonly string[];
  servesModel: (model: string) => boolean;
  target: HttpTarget;
}

const NON_EMPTY_NAME = 'must be a non-empty string';

const HttpOptionsSchema = z.object(
  {
    name: z.string({ error: NON_EMPTY_NAME }).refine((name) => name.trim() !== '', { error: NON_EMPTY_NAME }),
    // The value is never echoed (`got`): an API key of the wrong type is still a secret.
    apiKey: z.custom<string>((key) => typeof key === 'string', { error: 'must be a string', params: { got: '[REDACTED]' } }).optional(),
    priority: z.number({ error: 'must be a finite number' }).default(1),
    timeoutMs: positiveIntegerOption.default(DEFAULT_TIMEOUT_MS),
    maxResponseBytes: positiveIntegerOption.default(DEFAULT_MAX_RESPONSE_BYTES),
    headers: z
      .record(z.string(), z.string({ error: 'must be a string' }), { error: 'must be an object of header names to strings' })
      .default({}),
    fetch: functionOption<FetchLike>().optional(),
  },
  { error: 'must be an object' },
);

/** Validates the common options; `provider` names the callee in errors. */
export function resolveHttpOptions(provider: string, options: HttpBackendOptions): ResolvedHttpOptions {
  const { name, apiKey, priority, timeoutMs, maxResponseBytes, headers, fetch } = parseOptions(HttpOptionsSchema, options, 'options');
  const servesModel = createModelMatcher('options.models', options.models);
  return {
    name,
    apiKey: apiKey === '' ? undefined : apiKey,
    priority,
    headers,
    models: modelList(options.models),
    servesModel,
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

/**
 * Validates a base URL and drops trailing slashes. Hand-written rather than a schema: a URL carrying
 * credentials must be reported without echoing it.
 */
export function resolveBaseUrl(value: unknown): string {
  const mustBeUrl = (): ValidationError => new ValidationError('options.baseUrl', value, 'must be an http(s) URL');
  if (typeof value !== 'string' || value.trim() === '') throw mustBeUrl();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw mustBeUrl();
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ValidationError('options.baseUrl', value, 'must use http or https');
  }
  if (url.username || url.password) {
    throw new ValidationError('options.baseUrl', '[REDACTED]', 'must not carry credentials; use apiKey');
  }
  return value.replace(/\/+$/, '');
}
