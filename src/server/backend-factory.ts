import { ConfigError } from '../core/errors.js';
import type { Backend } from '../core/types.js';
import { AnthropicBackend, ANTHROPIC_BASE_URL } from '../providers/anthropic.js';
import type { FetchLike } from '../providers/http/fetch-exchange.js';
import { MockBackend, type MockBackendOptions } from '../providers/mock.js';
import { OpenAICompatibleBackend } from '../providers/openai-compatible.js';

/** Provider words understood by {@link createBackend}. */
export const PROVIDERS = ['openai', 'xai', 'ollama', 'vllm', 'openai-compatible', 'anthropic', 'mock'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** Default base URLs; `vllm` and `openai-compatible` have none and need `baseUrl`. */
export const DEFAULT_BASE_URLS: Readonly<Record<string, string>> = {
  openai: 'https://api.openai.com/v1',
  xai: 'https://api.x.ai/v1',
  ollama: 'http://127.0.0.1:11434/v1',
  anthropic: ANTHROPIC_BASE_URL,
};

/** One backend as a config file describes it (already resolved: the API key itself, not its env name). */
export interface BackendConfig {
  name: string;
  provider: string;
  baseUrl?: string;
  apiKey?: string;
  /** Default `'*'`. */
  models?: string | string[];
  priority?: number;
  timeoutMs?: number;
  maxResponseBytes?: number;
  headers?: Record<string, string>;
  fetch?: FetchLike;
  /** Extra options for `provider: 'mock'` (latency, seed, failures...). */
  mock?: Omit<MockBackendOptions, 'name' | 'models' | 'priority'>;
}

/**
 * Builds a backend from a provider word: the one place that maps config words to adapter classes.
 * Unknown providers and a missing base URL throw {@link ConfigError}; option problems throw the
 * adapters' ValidationError (naming `options.<field>`).
 *
 * @example
 * ```ts
 * const grok = createBackend({ name: 'grok', provider: 'xai', apiKey: process.env.XAI_API_KEY, models: ['grok-*'] });
 * const local = createBackend({ name: 'local', provider: 'vllm', baseUrl: 'http://gpu:8000/v1', models: '*' });
 * ```
 */
export function createBackend(config: BackendConfig): Backend {
  if (config === null || typeof config !== 'object') throw new ConfigError('', 'a backend config must be an object');
  const provider = config.provider;
  if (typeof provider !== 'string' || !(PROVIDERS as readonly string[]).includes(provider)) {
    throw new ConfigError('provider', `unknown provider ${JSON.stringify(provider)} (expected one of ${PROVIDERS.join(', ')})`);
  }
  const models = config.models ?? '*';
  const common = {
    name: config.name,
    apiKey: config.apiKey,
    models,
    priority: config.priority,
    timeoutMs: config.timeoutMs,
    maxResponseBytes: config.maxResponseBytes,
    headers: config.headers,
    fetch: config.fetch,
  };
  if (provider === 'mock') {
    return new MockBackend({ ...config.mock, name: config.name, models, priority: config.priority });
  }
  const baseUrl = config.baseUrl ?? DEFAULT_BASE_URLS[provider];
  if (provider === 'anthropic') return new AnthropicBackend({ ...common, baseUrl });
  if (baseUrl === undefined) throw new ConfigError('baseUrl', `is required for provider "${provider}"`);
  return new OpenAICompatibleBackend({ ...common, baseUrl, provider });
}
