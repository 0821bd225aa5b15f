import { z } from 'zod';
import { PROVIDERS, type ProviderName } from './backend-factory.js';
import type { MockBackendOptions } from '../providers/mock.js';
import { DEFAULT_COOLDOWN_POLICY, type CooldownPolicy } from '../router/cooldown.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../router/retry.js';
import { isRoutingStrategy, ROUTING_STRATEGIES, type RoutingStrategy } from '../router/strategy.js';
import { describeValue } from './config-values.js';
import { integer, mapping, mustBe, seconds } from './schema-parts.js';

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

/** A validated router config, as returned by `parseRouterConfig`. */
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

/** Providers that need an API key unless they are pointed at a custom `base_url`. */
const KEYED_PROVIDERS = new Set(['openai', 'xai', 'anthropic']);
const MAX_RETRIES = 19;
const CREDENTIALS = 'must not carry credentials; put the key in the variable named by api_key_env';
const MOCK_KEYS: Readonly<Record<string, keyof MockBackendOptions>> = {
  latency_ms: 'latencyMs',
  chunk_delay_ms: 'chunkDelayMs',
  seed: 'seed',
  failure_rate: 'failureRate',
  fail_with: 'failWith',
  retry_after_ms: 'retryAfterMs',
  completion_tokens: 'completionTokens',
  report_usage: 'reportUsage',
};

const nonBlank = z
  .string({ error: mustBe('must be a non-empty string') })
  .refine((s) => s.trim() !== '', { error: mustBe('must be a non-empty string') });

const provider = z.enum(PROVIDERS, {
  error: (issue) =>
    issue.input === undefined
      ? `is required (one of ${PROVIDERS.join(', ')})`
      : `unknown provider ${describeValue(issue.input)} (expected one of ${PROVIDERS.join(', ')})`,
});

const baseUrl = z.string({ error: mustBe('must be an http(s) URL') }).superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: mustBe('must be an http(s) URL')({ input: value }) });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `must use http or https (got ${describeValue(url.protocol)})` });
  } else if (url.username || url.password) ctx.addIssue({ code: 'custom', message: CREDENTIALS });
});

const modelList = z.preprocess(
  (v) => (typeof v === 'string' ? [v] : v),
  z
    .array(nonBlank, { error: mustBe('must be a model name or a non-empty list of model names') })
    .min(1, { error: mustBe('must be a model name or a non-empty list of model names') }),
);

const headers = z
  .record(z.string(), z.string({ error: mustBe('must be a string') }), {
    error: mustBe('must be an object of header names to strings'),
  })
  .superRefine((value, ctx) => {
    for (const key of Object.keys(value)) {
      if (/^(authorization|x-api-key)$/i.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: CREDENTIALS });
    }
  });

const mock = mapping(Object.fromEntries(Object.keys(MOCK_KEYS).map((k) => [k, z.unknown().optional()])), {
  notMapping: `must be an object { ${Object.keys(MOCK_KEYS).join(', ')} }`,
  style: 'router',
}).transform((m) => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) if (v !== undefined) out[MOCK_KEYS[k]!] = v;
  return out as RouterBackendSpec['mock'];
});

const backendFields = mapping(
  {
    name: nonBlank.optional(),
    provider,
    api_key_env: z
      .string({ error: mustBe('must be the name of an environment variable') })
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: mustBe('must be the name of an environment variable') })
      .optional(),
    base_url: baseUrl.optional(),
    models: modelList.optional(),
    supported_models: modelList.optional(),
    priority: z.number({ error: mustBe('must be a number') }).optional(),
    rate_limit_tpm: integer(1).optional(),
    max_concurrent: integer(1).optional(),
    max_queue: integer(0).optional(),
    timeout: seconds(false).optional(),
    max_response_bytes: integer(1).optional(),
    headers: headers.optional(),
    mock: mock.optional(),
  },
  { notMapping: 'must be an object like { provider, api_key_env, models, ... }', style: 'router' },
);
type BackendFields = z.output<typeof backendFields>;

/** What one backend's keys say together: a base URL or key where the provider needs one, mock options only for the mock. */
function checkBackendFields(b: BackendFields, ctx: z.RefinementCtx): void {
  const at = (key: string, message: string): void => ctx.addIssue({ code: 'custom', path: [key], message });
  if (b.base_url === undefined && (b.provider === 'vllm' || b.provider === 'openai-compatible')) {
    at('base_url', `is required for provider "${b.provider}"`);
  }
  if (b.api_key_env === undefined && b.base_url === undefined && KEYED_PROVIDERS.has(b.provider)) {
    at('api_key_env', `is required for provider "${b.provider}": name the environment variable holding its API key`);
  }
  if (b.models !== undefined && b.supported_models !== undefined) at('supported_models', 'give models or supported_models, not both');
  if (b.mock !== undefined && b.provider !== 'mock') at('mock', `only applies to provider "mock" (this backend is "${b.provider}")`);
}

function toBackendSpec(b: BackendFields): RouterBackendSpec {
  return {
    name: b.name ?? '',
    provider: b.provider as ProviderName,
    apiKeyEnv: b.api_key_env,
    baseUrl: b.base_url,
    models: b.models ?? b.supported_models ?? ['*'],
    priority: b.priority ?? 1,
    tokensPerMinute: b.rate_limit_tpm,
    maxConcurrent: b.max_concurrent,
    maxQueue: b.max_queue,
    timeoutMs: b.timeout,
    maxResponseBytes: b.max_response_bytes,
    headers: b.headers,
    mock: b.mock,
  };
}

const backend = backendFields.superRefine(checkBackendFields).transform(toBackendSpec);

/** Unnamed backends are named after their provider (`mock`, `mock-2`, ...); explicit names must be unique. */
function nameBackends(specs: RouterBackendSpec[], ctx: z.RefinementCtx): RouterBackendSpec[] {
  const taken = new Set<string>();
  const explicit = new Set(specs.map((s) => s.name).filter((n) => n !== ''));
  specs.forEach((spec, i) => {
    if (spec.name === '') {
      let name = spec.provider;
      for (let n = 2; taken.has(name) || explicit.has(name); n++) name = `${spec.provider}-${n}`;
      spec.name = name;
    } else if (taken.has(spec.name)) {
      ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate backend name ${describeValue(spec.name)} (names must be unique)` });
    }
    taken.add(spec.name);
  });
  return specs;
}

const backends = z
  .array(backend, {
    error: (issue) => (issue.input === undefined ? 'is required: list at least one backend' : mustBe('must be a list of backends')(issue)),
  })
  .min(1, { error: 'must list at least one backend' })
  .transform(nameBackends);

const retryFields = {
  max_attempts: integer(1, MAX_RETRIES + 1).optional(),
  base_delay: seconds(true).optional(),
  max_delay: seconds(true).optional(),
  max_retry_after: seconds(true).optional(),
};
const retryMapping = mapping(retryFields, { style: 'router' });
type RetryFields = z.output<typeof retryMapping>;
const retries = z.union(
  [integer(0, MAX_RETRIES).transform((n): RetryFields => ({ max_attempts: n + 1 })), retryMapping],
  { error: mustBe(`must be a number of retries (0-${MAX_RETRIES}) or an object { ${Object.keys(retryFields).join(', ')} }`) },
);

const routerFields = mapping(
  {
    strategy: z
      .custom<RoutingStrategy>(isRoutingStrategy, {
        error: (issue) => `unknown strategy ${describeValue(issue.input)} (expected one of ${ROUTING_STRATEGIES.join(', ')})`,
      })
      .optional(),
    retries: retries.optional(),
    retry_base_delay: seconds(true).optional(),
    retry_max_delay: seconds(true).optional(),
    max_retry_after: seconds(true).optional(),
    cooldown: mapping(
      { failure_threshold: integer(1).optional(), seconds: seconds(true).optional() },
      { notMapping: 'must be an object { failure_threshold, seconds }', style: 'router' },
    ).optional(),
    default_completion_reserve: integer(0).optional(),
    completion_ceiling: integer(1).optional(),
    max_stream_duration: seconds(false).optional(),
    timeout: seconds(false).optional(),
    backends,
  },
  { notMapping: 'the router config must be an object like { strategy, retries, backends: [...] }', style: 'router' },
);
type RouterFields = z.output<typeof routerFields>;

function toRouterConfig(r: RouterFields, ctx: z.RefinementCtx): RouterConfig {
  const given: RetryFields = r.retries ?? {};
  const retryPolicy: RetryPolicy = {
    maxAttempts: given.max_attempts ?? DEFAULT_RETRY_POLICY.maxAttempts,
    baseDelayMs: r.retry_base_delay ?? given.base_delay ?? DEFAULT_RETRY_POLICY.baseDelayMs,
    maxDelayMs: r.retry_max_delay ?? given.max_delay ?? DEFAULT_RETRY_POLICY.maxDelayMs,
    maxRetryAfterMs: r.max_retry_after ?? given.max_retry_after ?? DEFAULT_RETRY_POLICY.maxRetryAfterMs,
  };
  if (retryPolicy.maxDelayMs < retryPolicy.baseDelayMs) {
    ctx.addIssue({ code: 'custom', path: ['retry_max_delay'], message: `must be at least the base delay (${retryPolicy.baseDelayMs / 1000} s)` });
  }
  return {
    strategy: r.strategy ?? 'failover',
    retries: retryPolicy,
    cooldown: {
      failureThreshold: r.cooldown?.failure_threshold ?? DEFAULT_COOLDOWN_POLICY.failureThreshold,
      cooldownMs: r.cooldown?.seconds ?? DEFAULT_COOLDOWN_POLICY.cooldownMs,
    },
    defaultCompletionReserve: r.default_completion_reserve,
    completionCeiling: r.completion_ceiling,
    maxStreamDurationMs: r.max_stream_duration,
    timeoutMs: r.timeout,
    backends: r.backends,
  };
}

/**
 * The router config (the YAML file's `providers` section, or `configureRouter`'s argument) shaped like
 * the seed project's YAML, parsed into a {@link RouterConfig}: camelCase, milliseconds, retries as
 * attempts, every backend named. Whether each `api_key_env` is set is checked apart, against an environment.
 */
export const RouterConfigSchema = routerFields.transform(toRouterConfig);
