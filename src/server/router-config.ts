import type { ThreadBudgetRegistry } from '../budget/registry.js';
import type { BudgetLedger } from '../budget/types.js';
import { ConfigError, TokenwardenError, ValidationError } from '../core/errors.js';
import { createBackend, PROVIDERS } from './backend-factory.js';
import type { FetchLike } from '../providers/http/fetch-exchange.js';
import type { MockBackendOptions } from '../providers/mock.js';
import type { UsageTracker } from '../usage/tracker.js';
import { DEFAULT_COOLDOWN_POLICY, type CooldownPolicy } from '../router/cooldown.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../router/retry.js';
import { LLMRouter } from '../router/router.js';
import { isRoutingStrategy, ROUTING_STRATEGIES, type RoutingStrategy } from '../router/strategy.js';

/** One backend of a validated router config (camelCase, times in ms). Holds the key's env name, never the key. */
export interface RouterBackendSpec {
  name: string;
  provider: string;
  apiKeyEnv: string | undefined;
  baseUrl: string | undefined;
  models: string[];
  priority: number;
  tokensPerMinute: number | undefined;
  maxConcurrent: number | undefined;
  maxQueue: number | undefined;
  timeoutMs: number | undefined;
  maxResponseBytes: number | undefined;
  headers: Record<string, string> | undefined;
  mock: Omit<MockBackendOptions, 'name' | 'models' | 'priority'> | undefined;
}

/** A validated router config, as returned by {@link parseRouterConfig}. */
export interface RouterConfig {
  strategy: RoutingStrategy;
  retries: RetryPolicy;
  cooldown: CooldownPolicy;
  defaultCompletionReserve: number | undefined;
  /** Output limit of calls without `maxTokens` (see LLMRouterOptions.completionCeiling). */
  completionCeiling: number | undefined;
  /** Longest a stream may run, ms (see LLMRouterOptions.maxStreamDurationMs). */
  maxStreamDurationMs: number | undefined;
  /** Default per-attempt timeout, ms. */
  timeoutMs: number | undefined;
  backends: RouterBackendSpec[];
}

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
}

/** Providers that need an API key unless they are pointed at a custom `base_url`. */
const KEYED_PROVIDERS = new Set(['openai', 'xai', 'anthropic']);
const TOP_KEYS = [
  'strategy',
  'retries',
  'retry_base_delay',
  'retry_max_delay',
  'max_retry_after',
  'cooldown',
  'default_completion_reserve',
  'completion_ceiling',
  'max_stream_duration',
  'timeout',
  'backends',
];
const RETRY_KEYS = ['max_attempts', 'base_delay', 'max_delay', 'max_retry_after'];
const COOLDOWN_KEYS = ['failure_threshold', 'seconds'];
const BACKEND_KEYS = [
  'name',
  'provider',
  'api_key_env',
  'base_url',
  'models',
  'supported_models',
  'priority',
  'rate_limit_tpm',
  'max_concurrent',
  'max_queue',
  'timeout',
  'max_response_bytes',
  'headers',
  'mock',
];
const MOCK_KEYS: Record<string, keyof MockBackendOptions> = {
  latency_ms: 'latencyMs',
  chunk_delay_ms: 'chunkDelayMs',
  seed: 'seed',
  failure_rate: 'failureRate',
  fail_with: 'failWith',
  retry_after_ms: 'retryAfterMs',
  completion_tokens: 'completionTokens',
  report_usage: 'reportUsage',
};
const MAX_RETRIES = 19;
const MAX_SECONDS = 2_147_483;

/**
 * Validates a router config shaped like the seed project's YAML and returns it normalised (camelCase,
 * milliseconds). Every problem throws a {@link ConfigError} whose message starts with the path, e.g.
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
  const root = object('', config, 'the router config must be an object like { strategy, retries, backends: [...] }');
  unknownKeys('', root, TOP_KEYS);

  const strategy = root.strategy ?? 'failover';
  if (!isRoutingStrategy(strategy)) {
    throw new ConfigError('strategy', `unknown strategy ${show(strategy)} (expected one of ${ROUTING_STRATEGIES.join(', ')})`);
  }

  const retries: RetryPolicy = { ...DEFAULT_RETRY_POLICY };
  if (root.retries !== undefined) {
    if (typeof root.retries === 'number') {
      retries.maxAttempts = integer('retries', root.retries, 0, MAX_RETRIES) + 1;
    } else {
      const r = object('retries', root.retries, `must be a number of retries (0-${MAX_RETRIES}) or an object { ${RETRY_KEYS.join(', ')} }`);
      unknownKeys('retries', r, RETRY_KEYS);
      if (r.max_attempts !== undefined) retries.maxAttempts = integer('retries.max_attempts', r.max_attempts, 1, MAX_RETRIES + 1);
      if (r.base_delay !== undefined) retries.baseDelayMs = seconds('retries.base_delay', r.base_delay, true);
      if (r.max_delay !== undefined) retries.maxDelayMs = seconds('retries.max_delay', r.max_delay, true);
      if (r.max_retry_after !== undefined) retries.maxRetryAfterMs = seconds('retries.max_retry_after', r.max_retry_after, true);
    }
  }
  if (root.retry_base_delay !== undefined) retries.baseDelayMs = seconds('retry_base_delay', root.retry_base_delay, true);
  if (root.retry_max_delay !== undefined) retries.maxDelayMs = seconds('retry_max_delay', root.retry_max_delay, true);
  if (root.max_retry_after !== undefined) retries.maxRetryAfterMs = seconds('max_retry_after', root.max_retry_after, true);
  if (retries.maxDelayMs < retries.baseDelayMs) {
    throw new ConfigError('retry_max_delay', `must be at least the base delay (${retries.baseDelayMs / 1000} s)`);
  }

  const cooldown: CooldownPolicy = { ...DEFAULT_COOLDOWN_POLICY };
  if (root.cooldown !== undefined) {
    const c = object('cooldown', root.cooldown, 'must be an object { failure_threshold, seconds }');
    unknownKeys('cooldown', c, COOLDOWN_KEYS);
    if (c.failure_threshold !== undefined) cooldown.failureThreshold = integer('cooldown.failure_threshold', c.failure_threshold, 1);
    if (c.seconds !== undefined) cooldown.cooldownMs = seconds('cooldown.seconds', c.seconds, true);
  }

  const defaultCompletionReserve =
    root.default_completion_reserve === undefined ? undefined : integer('default_completion_reserve', root.default_completion_reserve, 0);
  const completionCeiling = root.completion_ceiling === undefined ? undefined : integer('completion_ceiling', root.completion_ceiling, 1);
  const maxStreamDurationMs =
    root.max_stream_duration === undefined ? undefined : seconds('max_stream_duration', root.max_stream_duration, false);
  const timeoutMs = root.timeout === undefined ? undefined : seconds('timeout', root.timeout, false);

  if (!Array.isArray(root.backends)) {
    throw new ConfigError('backends', root.backends === undefined ? 'is required: list at least one backend' : `must be a list of backends (got ${show(root.backends)})`);
  }
  if (root.backends.length === 0) throw new ConfigError('backends', 'must list at least one backend');
  const taken = new Set<string>();
  const explicitNames = new Set(
    root.backends
      .map((b: unknown) => (b && typeof b === 'object' ? (b as Record<string, unknown>).name : undefined))
      .filter((n): n is string => typeof n === 'string'),
  );
  const backends = root.backends.map((entry: unknown, i: number) => {
    const spec = parseBackend(`backends[${i}]`, entry, options.env);
    if (spec.name === '') {
      let name = spec.provider;
      for (let n = 2; taken.has(name) || explicitNames.has(name); n++) name = `${spec.provider}-${n}`;
      spec.name = name;
    } else if (taken.has(spec.name)) {
      throw new ConfigError(`backends[${i}].name`, `duplicate backend name ${show(spec.name)} (names must be unique)`);
    }
    taken.add(spec.name);
    return spec;
  });

  return { strategy, retries, cooldown, defaultCompletionReserve, completionCeiling, maxStreamDurationMs, timeoutMs, backends };
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

function parseBackend(path: string, entry: unknown, env: Record<string, string | undefined> | undefined): RouterBackendSpec {
  const b = object(path, entry, 'must be an object like { provider, api_key_env, models, ... }');
  unknownKeys(path, b, BACKEND_KEYS);
  const provider = b.provider;
  if (provider === undefined) throw new ConfigError(`${path}.provider`, `is required (one of ${PROVIDERS.join(', ')})`);
  if (typeof provider !== 'string' || !(PROVIDERS as readonly string[]).includes(provider)) {
    throw new ConfigError(`${path}.provider`, `unknown provider ${show(provider)} (expected one of ${PROVIDERS.join(', ')})`);
  }
  let name = '';
  if (b.name !== undefined) {
    if (typeof b.name !== 'string' || b.name.trim() === '') throw new ConfigError(`${path}.name`, `must be a non-empty string (got ${show(b.name)})`);
    name = b.name;
  }
  let baseUrl: string | undefined;
  if (b.base_url !== undefined) {
    if (typeof b.base_url !== 'string') throw new ConfigError(`${path}.base_url`, `must be an http(s) URL (got ${show(b.base_url)})`);
    let url: URL;
    try {
      url = new URL(b.base_url);
    } catch {
      throw new ConfigError(`${path}.base_url`, `must be an http(s) URL (got ${show(b.base_url)})`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${path}.base_url`, `must use http or https (got ${show(url.protocol)})`);
    if (url.username || url.password) throw new ConfigError(`${path}.base_url`, 'must not carry credentials; put the key in the variable named by api_key_env');
    baseUrl = b.base_url;
  } else if (provider === 'vllm' || provider === 'openai-compatible') {
    throw new ConfigError(`${path}.base_url`, `is required for provider "${provider}"`);
  }
  let apiKeyEnv: string | undefined;
  if (b.api_key_env !== undefined) {
    if (typeof b.api_key_env !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(b.api_key_env)) {
      throw new ConfigError(`${path}.api_key_env`, `must be the name of an environment variable (got ${show(b.api_key_env)})`);
    }
    apiKeyEnv = b.api_key_env;
    if (env) {
      const value = env[apiKeyEnv];
      if (value === undefined) throw new ConfigError(`${path}.api_key_env`, `environment variable ${apiKeyEnv} is not set`);
      if (value.trim() === '') throw new ConfigError(`${path}.api_key_env`, `environment variable ${apiKeyEnv} is empty`);
    }
  } else if (KEYED_PROVIDERS.has(provider) && baseUrl === undefined) {
    throw new ConfigError(`${path}.api_key_env`, `is required for provider "${provider}": name the environment variable holding its API key`);
  }
  if (b.models !== undefined && b.supported_models !== undefined) {
    throw new ConfigError(`${path}.supported_models`, 'give models or supported_models, not both');
  }
  const modelsKey = b.models !== undefined ? 'models' : 'supported_models';
  const rawModels = b.models ?? b.supported_models ?? ['*'];
  const models = typeof rawModels === 'string' ? [rawModels] : rawModels;
  if (!Array.isArray(models) || models.length === 0) {
    throw new ConfigError(`${path}.${modelsKey}`, `must be a model name or a non-empty list of model names (got ${show(rawModels)})`);
  }
  models.forEach((m: unknown, j: number) => {
    if (typeof m !== 'string' || m.trim() === '') throw new ConfigError(`${path}.${modelsKey}[${j}]`, `must be a non-empty string (got ${show(m)})`);
  });
  let priority = 1;
  if (b.priority !== undefined) {
    if (typeof b.priority !== 'number' || !Number.isFinite(b.priority)) throw new ConfigError(`${path}.priority`, `must be a number (got ${show(b.priority)})`);
    priority = b.priority;
  }
  const tokensPerMinute = b.rate_limit_tpm === undefined ? undefined : integer(`${path}.rate_limit_tpm`, b.rate_limit_tpm, 1);
  const maxConcurrent = b.max_concurrent === undefined ? undefined : integer(`${path}.max_concurrent`, b.max_concurrent, 1);
  const maxQueue = b.max_queue === undefined ? undefined : integer(`${path}.max_queue`, b.max_queue, 0);
  const timeoutMs = b.timeout === undefined ? undefined : seconds(`${path}.timeout`, b.timeout, false);
  const maxResponseBytes = b.max_response_bytes === undefined ? undefined : integer(`${path}.max_response_bytes`, b.max_response_bytes, 1);
  let headers: Record<string, string> | undefined;
  if (b.headers !== undefined) {
    const h = object(`${path}.headers`, b.headers, 'must be an object of header names to strings');
    headers = {};
    for (const [k, v] of Object.entries(h)) {
      if (typeof v !== 'string') throw new ConfigError(`${path}.headers.${k}`, `must be a string (got ${show(v)})`);
      if (/^(authorization|x-api-key)$/i.test(k)) {
        throw new ConfigError(`${path}.headers.${k}`, 'must not carry credentials; put the key in the variable named by api_key_env');
      }
      headers[k] = v;
    }
  }
  let mock: RouterBackendSpec['mock'];
  if (b.mock !== undefined) {
    if (provider !== 'mock') throw new ConfigError(`${path}.mock`, `only applies to provider "mock" (this backend is "${provider}")`);
    const m = object(`${path}.mock`, b.mock, `must be an object { ${Object.keys(MOCK_KEYS).join(', ')} }`);
    unknownKeys(`${path}.mock`, m, Object.keys(MOCK_KEYS));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(m)) out[MOCK_KEYS[k]!] = v;
    mock = out as RouterBackendSpec['mock'];
  }
  return { name, provider, apiKeyEnv, baseUrl, models, priority, tokensPerMinute, maxConcurrent, maxQueue, timeoutMs, maxResponseBytes, headers, mock };
}

function object(path: string, value: unknown, problem: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(path, `${problem} (got ${show(value)})`);
  return value as Record<string, unknown>;
}

function unknownKeys(path: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const at = path ? `${path}.${key}` : key;
    if (key === 'api_key') {
      throw new ConfigError(at, 'API keys are not accepted in the config; name the environment variable holding it with api_key_env');
    }
    throw new ConfigError(at, `unknown key (expected one of ${known.join(', ')})`);
  }
}

function integer(path: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(path, `must be an integer ${range} (got ${show(value)})`);
  }
  return value;
}

/** Seconds (as YAML writes them) → whole milliseconds. */
function seconds(path: string, value: unknown, allowZero: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0) || value > MAX_SECONDS) {
    throw new ConfigError(path, `must be a number of seconds ${allowZero ? '>= 0' : '> 0'} (got ${show(value)})`);
  }
  const ms = Math.round(value * 1000);
  if (!allowZero && ms === 0) throw new ConfigError(path, `must be at least 0.001 seconds (got ${show(value)})`);
  return ms;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'a list' : `a ${typeof value}`;
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
  return new ConfigError(path, scrub(err instanceof Error ? err.message : String(err)));
}

function problemOf(message: string, field: string): string {
  return message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}

function snake(field: string): string {
  const map: Record<string, string> = { baseUrl: 'base_url', apiKey: 'api_key_env', timeoutMs: 'timeout', maxResponseBytes: 'max_response_bytes' };
  return map[field] ?? field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
