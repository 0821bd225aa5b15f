import type { ThreadBudgetRegistry } from '../budget/registry.js';
import type { BudgetLedger } from '../budget/types.js';
import { ConfigError, TokenwardenError, ValidationError } from '../core/errors.js';
import { createBackend } from './backend-factory.js';
import type { FetchLike } from '../providers/http/fetch-exchange.js';
import type { UsageTracker } from '../usage/tracker.js';
import { LLMRouter } from '../router/router.js';
import { problemsFromIssues } from './config-problems.js';
import { RouterConfigSchema, type RouterBackendSpec, type RouterConfig } from './router-schema.js';
import { errorMessage } from '../core/error-fields.js';
import type { PolicyGuard } from '../budget/policy-types.js';

export type { RouterBackendSpec, RouterConfig } from './router-schema.js';

/** Options of {@link configureRouter}. */
export interface ConfigureRouterOptions {
  /** Where `api_key_env` names are looked up. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Fetch handed to every HTTP backend (proxies, tests). */
  fetch?: FetchLike;
  /** Passed to the router (see LLMRouterOptions). */
  ledger?: BudgetLedger;
  registry?: ThreadBudgetRegistry;
  tracker?: UsageTracker;
  /** Budget policies every charged call reserves against (a `BudgetPolicies`). */
  policies?: PolicyGuard;
}

/**
 * Validates a router config shaped like the seed project's YAML and returns it normalised (camelCase,
 * milliseconds). The first problem found by the schema
 * (`router-schema.ts`; unknown keys first) throws a {@link ConfigError} whose message starts with the path, e.g.
 * `backends[1].provider: unknown provider "opena1" (expected one of openai, xai, ...)`. Unknown keys are
 * rejected. With `env`, also checks that each `api_key_env` is set (values are never kept or shown).
 *
 * ```yaml
 * strategy: failover            # failover | round-robin | least-loaded
 * retries: 3                    # retries after the first attempt, or
 *                               # { max_attempts, base_delay, max_delay, max_retry_after } (seconds)
 * retry_base_delay: 0.5         # seconds (seed style)
 * retry_max_delay: 30
 * max_retry_after: 30          # longest Retry-After honoured (seconds)
 * cooldown: { failure_threshold: 5, seconds: 30 }
 * default_completion_reserve: 1024   # completion tokens reserved when a request has no max_tokens
 * completion_ceiling: 131072   # most completion tokens a call without max_tokens may produce
 * max_stream_duration: 600     # seconds a stream may run in all before it is cut
 * timeout: 120                 # default per-attempt timeout (seconds)
 * backends:
 *   - provider: openai
 *     api_key_env: OPENAI_API_KEY
 *     models: [gpt-4o, gpt-4o-mini]
 *     priority: 1
 *     rate_limit_tpm: 100000
 *     max_concurrent: 20
 *     timeout: 60               # seconds
 * ```
 *
 * @example
 * ```ts
 * const cfg = parseRouterConfig(YAML.parse(text).llm);
 * cfg.backends[0].timeoutMs; // 60000
 * ```
 */
export function parseRouterConfig(config: unknown, options: { env?: Record<string, string | undefined> } = {}): RouterConfig {
  const result = RouterConfigSchema.safeParse(config);
  if (!result.success) {
    const first = problemsFromIssues(result.error.issues)[0]!;
    throw new ConfigError(first.path, first.problem);
  }
  if (options.env) checkKeyVariables(result.data.backends, options.env);
  return result.data;
}

/** Each `api_key_env` must name a variable that is set and not blank (its value is never kept or shown). */
function checkKeyVariables(backends: readonly RouterBackendSpec[], env: Record<string, string | undefined>): void {
  backends.forEach((spec, i) => {
    if (spec.apiKeyEnv === undefined) return;
    const value = env[spec.apiKeyEnv];
    if (value === undefined) throw new ConfigError(`backends[${i}].api_key_env`, `environment variable ${spec.apiKeyEnv} is not set`);
    if (value.trim() === '') throw new ConfigError(`backends[${i}].api_key_env`, `environment variable ${spec.apiKeyEnv} is empty`);
  });
}

/**
 * Builds an {@link LLMRouter} from a config shaped like the seed project's YAML (see
 * {@link parseRouterConfig}). API keys are read from the environment variables named by `api_key_env`
 * now, handed to the backends, and never appear in errors or logs.
 *
 * @example
 * ```ts
 * const router = configureRouter({
 *   strategy: 'failover',
 *   retries: 3,
 *   backends: [
 *     { provider: 'openai', api_key_env: 'OPENAI_API_KEY', models: ['gpt-4o'], priority: 1, rate_limit_tpm: 100000 },
 *     { provider: 'anthropic', api_key_env: 'ANTHROPIC_API_KEY', models: ['claude-*'], priority: 2, timeout: 60 },
 *   ],
 * });
 * ```
 */
export function configureRouter(config: unknown, options: ConfigureRouterOptions = {}): LLMRouter {
  const env = options.env ?? process.env;
  const parsed = parseRouterConfig(config, { env });
  const router = new LLMRouter({
    strategy: parsed.strategy,
    retries: parsed.retries,
    cooldown: parsed.cooldown,
    ...(parsed.defaultCompletionReserve !== undefined ? { defaultCompletionReserve: parsed.defaultCompletionReserve } : {}),
    ...(parsed.completionCeiling !== undefined ? { completionCeiling: parsed.completionCeiling } : {}),
    ...(parsed.maxStreamDurationMs !== undefined ? { maxStreamDurationMs: parsed.maxStreamDurationMs } : {}),
    ...(parsed.timeoutMs !== undefined ? { timeoutMs: parsed.timeoutMs } : {}),
    ...(options.ledger ? { ledger: options.ledger } : {}),
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.tracker ? { tracker: options.tracker } : {}),
    ...(options.policies ? { policies: options.policies } : {}),
  });
  parsed.backends.forEach((spec, i) => {
    const path = `backends[${i}]`;
    const apiKey = spec.apiKeyEnv === undefined ? undefined : env[spec.apiKeyEnv];
    let backend;
    try {
      backend = createBackend({
        name: spec.name,
        provider: spec.provider,
        baseUrl: spec.baseUrl,
        apiKey,
        models: spec.models,
        priority: spec.priority,
        timeoutMs: spec.timeoutMs,
        maxResponseBytes: spec.maxResponseBytes,
        headers: spec.headers,
        fetch: options.fetch,
        mock: spec.mock,
      });
    } catch (err) {
      throw rethrowAt(path, err, apiKey);
    }
    router.addBackend(backend, {
      ...(spec.maxConcurrent !== undefined ? { maxConcurrent: spec.maxConcurrent } : {}),
      ...(spec.maxQueue !== undefined ? { maxQueue: spec.maxQueue } : {}),
      ...(spec.tokensPerMinute !== undefined ? { tokensPerMinute: spec.tokensPerMinute } : {}),
      ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
    });
  });
  return router;
}

/** Re-roots an adapter's error at the backend's config path, scrubbing the key just in case. */
function rethrowAt(path: string, err: unknown, apiKey: string | undefined): Error {
  const scrub = (s: string) => (apiKey && apiKey.length >= 4 ? s.split(apiKey).join('[REDACTED]') : s);
  if (err instanceof ConfigError) return new ConfigError(err.path ? `${path}.${snake(err.path)}` : path, scrub(problemOf(err.message, err.path)));
  if (err instanceof ValidationError) {
    const field = err.field.replace(/^options\./, '');
    return new ConfigError(`${path}.${snake(field)}`, scrub(problemOf(err.message, err.field)));
  }
  if (err instanceof TokenwardenError) return new ConfigError(path, scrub(err.message));
  return new ConfigError(path, scrub(errorMessage(err)));
}

function problemOf(message: string, field: string): string {
  return message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}

function snake(field: string): string {
  const map: Record<string, string> = { baseUrl: 'base_url', apiKey: 'api_key_env', timeoutMs: 'timeout', maxResponseBytes: 'max_response_bytes' };
  return map[field] ?? field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
