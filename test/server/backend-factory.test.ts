import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ValidationError } from '../../src/core/errors.js';
import { AnthropicBackend } from '../../src/providers/anthropic.js';
import { createBackend, DEFAULT_BASE_URLS, PROVIDERS } from '../../src/server/backend-factory.js';
import { MockBackend } from '../../src/providers/mock.js';
import { OpenAICompatibleBackend } from '../../src/providers/openai-compatible.js';
import { startFakeOpenAIServer, type FakeServer, type OpenAIScenario } from '../support/fake-openai-server.js';

describe('createBackend', () => {
  it('maps provider words to adapters with their default base URLs', () => {
    for (const provider of ['openai', 'xai', 'ollama'] as const) {
      const b = createBackend({ name: provider, provider, models: '*' });
      expect(b).toBeInstanceOf(OpenAICompatibleBackend);
      expect(b.provider).toBe(provider);
      expect((b as OpenAICompatibleBackend).baseUrl).toBe(DEFAULT_BASE_URLS[provider]);
    }
    expect(DEFAULT_BASE_URLS).toMatchObject({
      openai: 'https://api.openai.com/v1',
      xai: 'https://api.x.ai/v1',
      ollama: 'http://127.0.0.1:11434/v1',
      anthropic: 'https://api.anthropic.com',
    });
    const claude = createBackend({ name: 'c', provider: 'anthropic', apiKey: 'k', models: ['claude-*'], priority: 2, timeoutMs: 5000 });
    expect(claude).toBeInstanceOf(AnthropicBackend);
    expect(claude).toMatchObject({ provider: 'anthropic', priority: 2, baseUrl: 'https://api.anthropic.com' });
    expect(claude.servesModel('claude-3')).toBe(true);
    const mock = createBackend({ name: 'm', provider: 'mock', mock: { seed: 3 } });
    expect(mock).toBeInstanceOf(MockBackend);
    expect(mock.servesModel('x')).toBe(true);
    expect(PROVIDERS).toEqual(['openai', 'xai', 'ollama', 'vllm', 'openai-compatible', 'anthropic', 'mock']);
  });

  it('requires a base URL for vllm and openai-compatible', () => {
    expect(() => createBackend({ name: 'v', provider: 'vllm', models: '*' })).toThrow(ConfigError);
    expect(() => createBackend({ name: 'v', provider: 'vllm', models: '*' })).toThrow(/baseUrl: is required for provider "vllm"/);
    const v = createBackend({ name: 'v', provider: 'vllm', baseUrl: 'http://gpu:8000/v1/', models: '*' });
    expect(v).toMatchObject({ provider: 'vllm', baseUrl: 'http://gpu:8000/v1' });
    expect(createBackend({ name: 'o', provider: 'openai-compatible', baseUrl: 'http://x/v1', models: '*' }).provider).toBe('openai-compatible');
  });

  it('rejects unknown providers with a ConfigError naming the word', () => {
    let err: unknown;
    try {
      createBackend({ name: 'x', provider: 'opena1', models: '*' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ path: 'provider', code: 'INVALID_CONFIG' });
    expect((err as Error).message).toContain('unknown provider "opena1"');
  });

  it('lets adapter validation errors through, naming the option', () => {
    expect(() => createBackend({ name: 'x', provider: 'openai', models: [], apiKey: 'k' })).toThrow(ValidationError);
    expect(() => createBackend({ name: 'x', provider: 'openai', timeoutMs: -5 })).toThrow(/options\.timeoutMs/);
  });

  describe('against a real server', () => {
    let srv: FakeServer<OpenAIScenario>;
    beforeAll(async () => {
      srv = await startFakeOpenAIServer();
    });
    afterAll(() => srv.close());

    it('builds a working backend from config values', async () => {
      const b = createBackend({ name: 'local', provider: 'vllm', baseUrl: srv.url, apiKey: 'tok-123456', models: ['llama-*'] });
      const res = await b.complete({ model: 'llama-3', messages: [{ role: 'user', content: 'hi' }] });
      expect(res.content).toBe('Hello from the fake OpenAI server.');
      expect(srv.requests[0]?.headers.authorization).toBe('Bearer tok-123456');
    });
  });
});
