import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { configureRouter, parseRouterConfig } from '../../src/server/router-config.js';
import { MemoryBudgetLedger } from '../../src/budget/memory-ledger.js';
import { UsageTracker } from '../../src/usage/tracker.js';
import { startFakeOpenAIServer } from '../support/fake-openai-server.js';
import type { FakeServer } from '../support/fake-server-core.js';
import type { OpenAIScenario } from '../support/fake-openai-server.js';

const SECRET = 'sk-test-verysecret-0123456789';
const env = { OPENAI_API_KEY: SECRET, ANTHROPIC_API_KEY: 'ak-other-secret-987' };

const seedStyle = {
  strategy: 'failover',
  retries: 3,
  retry_base_delay: 0.5,
  retry_max_delay: 20,
  backends: [
    { provider: 'openai', api_key_env: 'OPENAI_API_KEY', models: ['gpt-4o', 'gpt-4o-mini'], priority: 1, rate_limit_tpm: 100_000, max_concurrent: 20, timeout: 60 },
    { provider: 'anthropic', api_key_env: 'ANTHROPIC_API_KEY', models: ['claude-*'], priority: 2 },
    { provider: 'ollama', base_url: 'http://127.0.0.1:11434/v1', supported_models: ['llama3'], priority: 3 },
  ],
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseRouterConfig', () => {
  it('normalises a seed-style config (camelCase, milliseconds, retries → attempts)', () => {
    const cfg = parseRouterConfig(seedStyle, { env });
    expect(cfg.strategy).toBe('failover');
    expect(cfg.retries).toEqual({ maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 20_000, maxRetryAfterMs: 30_000 });
    expect(cfg.backends.map((b) => b.name)).toEqual(['openai', 'anthropic', 'ollama']);
    expect(cfg.backends[0]).toMatchObject({ apiKeyEnv: 'OPENAI_API_KEY', tokensPerMinute: 100_000, maxConcurrent: 20, timeoutMs: 60_000 });
    expect(cfg.backends[2]!.models).toEqual(['llama3']);
    expect(JSON.stringify(cfg)).not.toContain(SECRET);
  });

  it('accepts the object form of retries and a cooldown', () => {
    const cfg = parseRouterConfig({
      retries: { max_attempts: 5, base_delay: 0.1, max_delay: 2, max_retry_after: 10 },
      cooldown: { failure_threshold: 2, seconds: 15 },
      default_completion_reserve: 512,
      backends: [{ provider: 'mock' }],
    });
    expect(cfg.retries).toEqual({ maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 2_000, maxRetryAfterMs: 10_000 });
    expect(cfg.cooldown).toEqual({ failureThreshold: 2, cooldownMs: 15_000 });
    expect(cfg.defaultCompletionReserve).toBe(512);
  });

  it('reads the stream and output caps, and hands them to the router', () => {
    const config = { completion_ceiling: 8_192, max_stream_duration: 90, backends: [{ provider: 'mock' }] };
    expect(parseRouterConfig(config)).toMatchObject({ completionCeiling: 8_192, maxStreamDurationMs: 90_000 });
    expect(configureRouter(config)).toMatchObject({ completionCeiling: 8_192, maxStreamDurationMs: 90_000 });
    expect(() => parseRouterConfig({ completion_ceiling: 0, backends: [{ provider: 'mock' }] })).toThrow(/^completion_ceiling: /);
    expect(() => parseRouterConfig({ max_stream_duration: -1, backends: [{ provider: 'mock' }] })).toThrow(/^max_stream_duration: /);
  });

  it('names unnamed backends after their provider, uniquely', () => {
    const cfg = parseRouterConfig({ backends: [{ provider: 'mock' }, { provider: 'mock' }, { provider: 'mock', name: 'mock-2' }] });
    expect(cfg.backends.map((b) => b.name)).toEqual(['mock', 'mock-3', 'mock-2']);
  });

  it.each([
    [{ backends: [{ provider: 'mock' }, { provider: 'opena1' }] }, /^backends\[1\]\.provider: unknown provider "opena1" \(expected one of openai, xai, ollama, vllm, openai-compatible, anthropic, mock\)$/],
    [{ backends: [{ provider: 'openai', api_key_env: 'OPENAI_API_KEY' }] }, /^backends\[0\]\.api_key_env: environment variable OPENAI_API_KEY is not set$/],
    [{ backends: [{ provider: 'openai' }] }, /^backends\[0\]\.api_key_env: is required for provider "openai"/],
    [{ backends: [{ provider: 'mock', rate_limit: 5 }] }, /^backends\[0\]\.rate_limit: unknown key \(expected one of name, provider/],
    [{ strategy: 'fastest', backends: [{ provider: 'mock' }] }, /^strategy: unknown strategy "fastest" \(expected one of failover, round-robin, least-loaded\)$/],
    [{ strategies: 'failover', backends: [] }, /^strategies: unknown key/],
    [{ retries: -1, backends: [{ provider: 'mock' }] }, /^retries: must be an integer from 0 to 19 \(got -1\)$/],
    [{ retries: 'three', backends: [{ provider: 'mock' }] }, /^retries: must be a number of retries/],
    [{ retries: { attempts: 2 }, backends: [{ provider: 'mock' }] }, /^retries\.attempts: unknown key/],
    [{ backends: [{ provider: 'mock', timeout: '30s' }] }, /^backends\[0\]\.timeout: must be a number of seconds > 0 \(got "30s"\)$/],
    [{ backends: [{ provider: 'mock', timeout: 0 }] }, /^backends\[0\]\.timeout: must be a number of seconds > 0/],
    [{ backends: [{ provider: 'mock', max_concurrent: 2.5 }] }, /^backends\[0\]\.max_concurrent: must be an integer >= 1 \(got 2.5\)$/],
    [{ backends: [{ provider: 'mock', rate_limit_tpm: 0 }] }, /^backends\[0\]\.rate_limit_tpm: must be an integer >= 1/],
    [{ backends: [{ provider: 'mock', models: [] }] }, /^backends\[0\]\.models: must be a model name or a non-empty list/],
    [{ backends: [{ provider: 'mock', models: ['ok', 3] }] }, /^backends\[0\]\.models\[1\]: must be a non-empty string \(got 3\)$/],
    [{ backends: [{ provider: 'mock', priority: 'high' }] }, /^backends\[0\]\.priority: must be a number \(got "high"\)$/],
    [{ backends: [{ provider: 'vllm' }] }, /^backends\[0\]\.base_url: is required for provider "vllm"$/],
    [{ backends: [{ provider: 'ollama', base_url: 'ftp://x' }] }, /^backends\[0\]\.base_url: must use http or https/],
    [{ backends: [{ provider: 'mock', name: 'a' }, { provider: 'mock', name: 'a' }] }, /^backends\[1\]\.name: duplicate backend name "a"/],
    [{ backends: [] }, /^backends: must list at least one backend$/],
    [{}, /^backends: is required/],
    [{ backends: [{ provider: 'mock', mock: { latency: 5 } }] }, /^backends\[0\]\.mock\.latency: unknown key/],
    [{ backends: [{ provider: 'openai', mock: {} , base_url: 'http://x' }] }, /^backends\[0\]\.mock: only applies to provider "mock"/],
    [{ backends: [{ provider: 'mock', headers: { Authorization: 'Bearer x' } }] }, /^backends\[0\]\.headers\.Authorization: must not carry credentials/],
    [[], /^the router config must be an object/],
  ])('rejects %j with a message naming the path', (config, message) => {
    expect(configError(() => parseRouterConfig(config, { env: {} })).message).toMatch(message);
  });

  it('rejects API keys written into the config without echoing them', () => {
    const err = configError(() => parseRouterConfig({ backends: [{ provider: 'openai', api_key: SECRET }] }, { env }));
    expect(err.message).toMatch(/^backends\[0\]\.api_key: API keys are not accepted in the config; name the environment variable/);
    expect(err.message).not.toContain(SECRET);
  });

  it('reports an empty key variable', () => {
    const err = configError(() => parseRouterConfig({ backends: [{ provider: 'openai', api_key_env: 'K' }] }, { env: { K: '' } }));
    expect(err.message).toBe('backends[0].api_key_env: environment variable K is empty');
  });
});

describe('configureRouter', () => {
  let srv: FakeServer<OpenAIScenario>;
  beforeAll(async () => {
    srv = await startFakeOpenAIServer();
  });
  afterAll(async () => {
    await srv.close();
  });

  it('builds a router whose backends use the key from the environment and the configured limits', async () => {
    const ledger = new MemoryBudgetLedger();
    const tracker = new UsageTracker();
    const router = configureRouter(
      {
        strategy: 'round-robin',
        retries: 1,
        backends: [
          { name: 'fake', provider: 'openai', api_key_env: 'OPENAI_API_KEY', base_url: srv.url, models: ['gpt-*'], max_concurrent: 2, timeout: 5 },
          { provider: 'anthropic', api_key_env: 'ANTHROPIC_API_KEY', models: ['claude-*'] },
        ],
      },
      { env, ledger, tracker },
    );
    expect(router.strategy).toBe('round-robin');
    expect(router.retryPolicy.maxAttempts).toBe(2);
    expect(router.backends.map((b) => [b.name, b.provider])).toEqual([
      ['fake', 'openai'],
      ['anthropic', 'anthropic'],
    ]);
    const res = await router.complete({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], threadId: 't' });
    expect(res.backend).toBe('fake');
    expect(srv.requests.at(-1)!.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(await ledger.usage('t')).toMatchObject({ totalTokens: res.usage.totalTokens, reservedTokens: 0 });
    expect(JSON.stringify(router.backends)).not.toContain(SECRET);
  });

  it('reads process.env by default and fails naming the variable, not its value', () => {
    const name = 'TOKENWARDEN_ROUTER_TEST_UNSET_KEY';
    delete process.env[name];
    const err = configError(() => configureRouter({ backends: [{ provider: 'xai', api_key_env: name }] }));
    expect(err.message).toBe(`backends[0].api_key_env: environment variable ${name} is not set`);
  });

  it('builds mock backends with their options', async () => {
    const router = configureRouter(
      { backends: [{ provider: 'mock', name: 'demo', mock: { seed: 7, completion_tokens: 9 } }] },
      { tracker: new UsageTracker(), ledger: new MemoryBudgetLedger() },
    );
    const res = await router.complete({ model: 'anything', messages: [{ role: 'user', content: 'Hello' }] });
    expect(res.backend).toBe('demo');
    expect(res.usage.completionTokens).toBe(9);
  });
});
